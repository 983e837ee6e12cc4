//! Payload schemas a worker exports (`producer::schema_of`, `shop-worker schema
//! KIND`), read back to check payloads: what `jobs enqueue --json --schema FILE` uses.

use producer::ValidationErrors;
use producer::contract::job_type::SCHEMA_KIND_KEY;
use producer::contract::validate::FieldError;

/// An exported payload schema (see [`producer::schema_of`]), ready to check payloads of
/// its kind: what `jobs enqueue --json --schema FILE` uses.
#[derive(Debug)]
pub struct PayloadSchema {
    kind: String,
    validator: jsonschema::Validator,
}

impl PayloadSchema {
    /// Reads a schema that names its kind under `x-job-kind`.
    pub fn from_json(schema: &serde_json::Value) -> Result<Self, String> {
        let kind = schema
            .get(SCHEMA_KIND_KEY)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                format!("has no `{SCHEMA_KIND_KEY}`: export it from the job's type (`schema_of`)")
            })?
            .to_owned();
        let validator =
            jsonschema::validator_for(schema).map_err(|e| format!("is not a JSON Schema: {e}"))?;
        Ok(PayloadSchema { kind, validator })
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Every way `payload` breaks the schema, each named by its path (`job.product_id`).
    pub fn check(&self, payload: &serde_json::Value) -> Result<(), ValidationErrors> {
        let errors: Vec<FieldError> = self
            .validator
            .iter_errors(payload)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                let path = pointer.split('/').filter(|part| !part.is_empty()).fold(
                    "job".to_owned(),
                    |path, part| match part.parse::<usize>() {
                        Ok(index) => format!("{path}[{index}]"),
                        Err(_) => format!("{path}.{part}"),
                    },
                );
                FieldError::new(path, format!("breaks the `{}` schema: {e}", self.kind))
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use producer::{JobType, schema_of};

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Reminder {
        product_id: u64,
    }

    impl JobType for Reminder {
        const KIND: &'static str = "purchase_reminder";
    }

    #[test]
    fn the_exported_schema_accepts_what_serde_accepts_and_refuses_what_it_refuses() {
        let schema = PayloadSchema::from_json(&schema_of::<Reminder>()).expect("a schema");
        assert_eq!(schema.kind(), "purchase_reminder");
        let good = serde_json::json!({"product_id": 42});
        assert!(serde_json::from_value::<Reminder>(good.clone()).is_ok());
        assert!(schema.check(&good).is_ok());
        for bad in [
            serde_json::json!({"product_id": "42"}),
            serde_json::json!({"product_id": -1}),
            serde_json::json!({}),
            serde_json::json!({"product_id": 1, "extra": true}),
        ] {
            assert!(
                serde_json::from_value::<Reminder>(bad.clone()).is_err(),
                "{bad}"
            );
            let errors = schema.check(&bad).expect_err("refused");
            assert!(errors.to_string().contains("`job"), "{errors}");
        }
        let errors = schema
            .check(&serde_json::json!({"product_id": "x"}))
            .expect_err("refused");
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["job.product_id"]);
    }

    #[test]
    fn a_schema_without_its_kind_is_refused() {
        let err =
            PayloadSchema::from_json(&serde_json::json!({"type": "object"})).expect_err("no kind");
        assert!(err.contains("x-job-kind"), "{err}");
    }
}
