//! The seed's purchase reminder, as a job of the application's own.
//!
//! - [`reminder`]: the job type, the one file a new job touches: its payload,
//!   defaults and `perform`.
//! - [`products`]: the application's products, in DynamoDB (in memory for tests).
//! - [`Shop`]: what the jobs share, set up once at start.
//! - `src/bin/`: the Lambda binary and the worker, a few lines each.

pub mod products;
pub mod reminder;

use handler::Runner;
use products::Products;
pub use reminder::PurchaseReminder;

/// The variable holding the application's settings as `key=value` pairs,
/// separated by commas (the stack's `AppSettings` parameter).
pub const APP_SETTINGS_ENV: &str = "JOBS_APP_SETTINGS";
/// The sender when `AppSettings` names none.
pub const MAIL_FROM_ENV: &str = "JOBS_MAIL_FROM";

/// What the shop's jobs share: the products and the address reminders come from.
#[derive(Debug, Clone)]
pub struct Shop {
    pub products: Products,
    /// A verified SES identity.
    pub sender: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("no products table: set `{APP_SETTINGS_ENV}` to `products_table=NAME`")]
    NoProductsTable,
    #[error("no sender: set `{APP_SETTINGS_ENV}` to `sender=ADDRESS` or set `{MAIL_FROM_ENV}`")]
    NoSender,
}

impl Shop {
    /// The products table and the sender from the environment; the DynamoDB
    /// client from `config` (its endpoint from `AWS_ENDPOINT_URL_DYNAMODB`, if set).
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, SetupError> {
        let settings = std::env::var(APP_SETTINGS_ENV).unwrap_or_default();
        let table = setting(&settings, "products_table").ok_or(SetupError::NoProductsTable)?;
        let sender = setting(&settings, "sender")
            .or_else(|| std::env::var(MAIL_FROM_ENV).ok().filter(|s| !s.is_empty()))
            .ok_or(SetupError::NoSender)?;
        Ok(Shop {
            products: Products::dynamodb(aws_sdk_dynamodb::Client::new(config), table),
            sender,
        })
    }
}

/// The value of `key` in `settings`, `key=value` pairs separated by commas.
pub fn setting(settings: &str, key: &str) -> Option<String> {
    settings
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The shop's job types with its state: what both binaries run.
pub fn runner(shop: Shop) -> Runner<Shop> {
    Runner::new().with_state(shop).job::<PurchaseReminder>()
}
