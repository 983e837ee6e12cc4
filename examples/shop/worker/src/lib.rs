//! The shop's worker: the work of the shop's job types (`shop-jobs`), with the
//! state they share.
//!
//! - [`reminder`]: `impl Perform<Shop> for PurchaseReminder`: the seed's
//!   `perform` and its mailer.
//! - [`partner`]: `impl Perform<Shop> for PartnerNotice`: a signed webhook to
//!   the shop's partner after each reminder, through `cx.http`.
//! - [`report`]: `impl Perform<Shop> for ProductsReport`: the nightly products
//!   report, a periodic job that the jobs stack's schedule enqueues.
//! - [`products`]: the application's products, in DynamoDB (in memory for tests).
//! - [`Shop`]: what the jobs share, built once at start from the handler's
//!   clients and the application's settings.
//! - `src/bin/`: the Lambda binary and the worker, a few lines each.

pub mod partner;
pub mod products;
pub mod reminder;
pub mod report;

use handler::{AwsClients, Runner};
use products::Products;
pub use shop_jobs::{PartnerNotice, ProductsReport, PurchaseReminder};

/// The sender when the settings name none.
pub const MAIL_FROM_ENV: &str = "JOBS_MAIL_FROM";

/// The shop's settings: `JOBS_APP_SETTINGS`, the stack's `AppSettings`
/// parameter, as JSON (`{"products_table": "shop-products"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopSettings {
    /// The DynamoDB table of products.
    pub products_table: String,
    /// A verified SES identity; `JOBS_MAIL_FROM` (the stack's `SenderAddress`) when left out.
    #[serde(default)]
    pub sender: Option<String>,
    /// Where each reminder is announced, if anywhere.
    #[serde(default)]
    pub partner_webhook: Option<PartnerWebhook>,
}

/// The partner's webhook: its URL, and the signing secret's reference
/// (`ssm:/jobs/webhooks/partner`), never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerWebhook {
    pub url: String,
    #[serde(default)]
    pub sign_with: Option<String>,
}

/// What the shop's jobs share: the products and the address reminders come from.
#[derive(Debug, Clone)]
pub struct Shop {
    pub products: Products,
    /// A verified SES identity.
    pub sender: String,
    pub partner_webhook: Option<PartnerWebhook>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Settings(#[from] handler::SettingsError),
    #[error(
        "no sender: set `sender` in `{}` or set `{MAIL_FROM_ENV}`",
        handler::batch::APP_SETTINGS_ENV
    )]
    NoSender,
}

impl Shop {
    /// The shop from its settings, with the DynamoDB client built from the
    /// handler's configuration (its endpoint from `AWS_ENDPOINT_URL_DYNAMODB`,
    /// if set; its call timeout, `JOBS_CALL_TIMEOUT_SECONDS`).
    pub fn new(aws: &AwsClients, settings: ShopSettings) -> Result<Self, SetupError> {
        let sender = settings
            .sender
            .or_else(|| std::env::var(MAIL_FROM_ENV).ok().filter(|s| !s.is_empty()))
            .ok_or(SetupError::NoSender)?;
        Ok(Shop {
            products: Products::dynamodb(
                aws_sdk_dynamodb::Client::new(&aws.config),
                settings.products_table,
            ),
            sender,
            partner_webhook: settings.partner_webhook,
        })
    }

    /// [`Shop::new`] with the settings from the environment.
    pub fn from_env(aws: &AwsClients) -> Result<Self, SetupError> {
        Shop::new(aws, handler::app_settings()?)
    }
}

/// The shop's job types with its state, built when the runner starts: what
/// both binaries run.
pub fn runner() -> Runner<Shop> {
    Runner::new()
        .http()
        .with_state_from(Shop::from_env)
        .job::<PurchaseReminder>()
        .job::<PartnerNotice>()
        .job::<ProductsReport>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_typed_and_a_missing_field_is_named() {
        let settings: ShopSettings =
            handler::batch::parse_app_settings(r#"{"products_table": "shop-products"}"#)
                .expect("read");
        assert_eq!(settings.products_table, "shop-products");
        assert_eq!(settings.sender, None);
        let missing = handler::batch::parse_app_settings::<ShopSettings>(r#"{"sender": "a@b.co"}"#)
            .expect_err("no table");
        let message = missing.to_string();
        assert!(
            message.contains("JOBS_APP_SETTINGS")
                && message.contains("missing field `products_table`"),
            "{message}"
        );
        let typo = handler::batch::parse_app_settings::<ShopSettings>(r#"{"products_tabel": "x"}"#)
            .expect_err("unknown field");
        assert!(typo.to_string().contains("products_tabel"), "{typo}");
    }
}
