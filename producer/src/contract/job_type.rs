//! What a job type is: a `kind` name, a payload that is a Rust type of its own,
//! and defaults for where and when its jobs go. The handler side adds the work
//! (`handler::Perform`); this side is all a producer needs.
//!
//! ```
//! use producer::{EnqueueOptions, JobType};
//! use serde::{Deserialize, Serialize};
//!
//! /// Reminds a customer that a product is about to expire.
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! pub struct PurchaseReminder {
//!     pub product_id: u64,
//! }
//!
//! impl JobType for PurchaseReminder {
//!     const KIND: &'static str = "purchase_reminder";
//!     fn defaults() -> EnqueueOptions {
//!         EnqueueOptions::default().queue("mailers")
//!     }
//! }
//!
//! let schema = producer::schema_of::<PurchaseReminder>();
//! assert_eq!(schema["x-job-kind"], "purchase_reminder");
//! ```

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::envelope::{Job, MAIL_KIND, MailJob, UPLOAD_KIND, UploadJob};
use crate::contract::options::EnqueueOptions;
use crate::contract::validate::{FieldError, ValidationErrors};

/// The key of an exported schema that names the kind it describes.
pub const SCHEMA_KIND_KEY: &str = "x-job-kind";
/// Longest `kind` name.
pub const MAX_KIND_CHARS: usize = 64;

/// A kind of job. Its payload is the type itself, sent as JSON in the envelope's
/// `job`; serde's rules for the type are the payload's rules, and
/// [`JobType::validate`] can add more.
pub trait JobType: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The envelope's `kind`: 1 to 64 ASCII letters, digits, `_`, `-`, `.` or
    /// `:`, starting with a letter. `mail` and `upload` are the built-ins'.
    const KIND: &'static str;

    /// This type's queue, delay, time or id; each call may override them.
    fn defaults() -> EnqueueOptions {
        EnqueueOptions::default()
    }

    /// Rules beyond the type's own shape, checked before a job is sent and again
    /// before it runs. Field names are paths in the envelope, such as `job.email`.
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

impl JobType for MailJob {
    const KIND: &'static str = MAIL_KIND;

    fn validate(&self) -> Result<(), ValidationErrors> {
        crate::contract::validate::validate_mail(self)
    }
}

impl JobType for crate::contract::http::HttpJob {
    const KIND: &'static str = crate::contract::http::HTTP_KIND;

    fn validate(&self) -> Result<(), ValidationErrors> {
        crate::contract::http::validate_http(self)
    }
}

impl JobType for UploadJob {
    const KIND: &'static str = UPLOAD_KIND;

    fn validate(&self) -> Result<(), ValidationErrors> {
        crate::contract::validate::validate_upload(self)
    }
}

/// The job as it travels: `T`'s payload under `T::KIND`, after `T`'s own checks.
pub fn job_of<T: JobType>(job: &T) -> Result<Job, ValidationErrors> {
    job.validate()?;
    let payload = serde_json::to_value(job).map_err(|e| {
        ValidationErrors(vec![FieldError::new(
            "job",
            format!("cannot be written as JSON: {e}"),
        )])
    })?;
    Job::from_parts(T::KIND, payload)
        .map_err(|e| ValidationErrors(vec![FieldError::new("job", e.to_string())]))
}

/// The JSON Schema of `T`'s payload (the envelope's `job`), generated from the
/// type, with the kind it belongs to under `x-job-kind`. Producers in other
/// languages check their payloads with it; `jobs enqueue --json --schema FILE` too.
pub fn schema_of<T: JobType>() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.insert(SCHEMA_KIND_KEY.into(), T::KIND.into());
    }
    schema
}

/// The rule for `kind` names (see [`JobType::KIND`]).
pub fn check_kind_name(kind: &str) -> Result<(), FieldError> {
    let starts_with_letter = kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let allowed = kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if starts_with_letter && allowed && kind.len() <= MAX_KIND_CHARS {
        Ok(())
    } else {
        Err(FieldError::new(
            "kind",
            format!(
                "`{kind}` is not a kind name: 1 to {MAX_KIND_CHARS} ASCII letters, digits, `_`, `-`, `.` or `:`, starting with a letter"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Reminder {
        product_id: u64,
    }

    impl JobType for Reminder {
        const KIND: &'static str = "purchase_reminder";
    }

    #[test]
    fn a_job_type_travels_as_its_kind_and_payload() {
        let job = job_of(&Reminder { product_id: 42 }).expect("valid");
        assert_eq!(job.kind(), "purchase_reminder");
        assert_eq!(job.payload(), serde_json::json!({"product_id": 42}));
    }

    #[test]
    fn built_in_types_keep_their_checks() {
        let mail = MailJob {
            from: "shop@example.com".into(),
            to: vec!["not an address".into()],
            subject: "hi".into(),
            text: Some("x".into()),
            ..MailJob::default()
        };
        let errors = job_of(&mail).expect_err("bad address");
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["job.to[0]"]);
    }

    #[test]
    fn the_schema_names_its_kind_and_describes_the_payload() {
        let schema = schema_of::<Reminder>();
        assert_eq!(schema[SCHEMA_KIND_KEY], "purchase_reminder");
        assert_eq!(schema["properties"]["product_id"]["type"], "integer");
    }

    #[test]
    fn kind_names() {
        for good in [
            "mail",
            "purchase_reminder",
            "Shop::Reminder",
            "v2.report-daily",
        ] {
            assert!(check_kind_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1st", "_x", "has space", "é", &"k".repeat(65)] {
            let err = check_kind_name(bad).expect_err(bad);
            assert_eq!(err.field, "kind");
        }
    }
}
