//! The message contract shared by the producer and the handler.
//!
//! Every SQS message body is one JSON envelope:
//!
//! ```json
//! {"version": 1, "id": "…", "kind": "mail", "created_at": "2026-11-28T04:21:00Z", "job": {…}}
//! ```
//!
//! `kind` says how to read `job`. The JSON Schema in `schema/envelope.schema.json`
//! describes the same format for producers written in other languages.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// One job as it travels through the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    pub version: u32,
    /// Chosen by the producer; stays the same across retries and dead-lettering.
    pub id: String,
    /// RFC 3339 time at which the job was created.
    pub created_at: String,
    /// RFC 3339 time before which the job must not run. SQS delays stop at 15
    /// minutes; the handler carries a job with a later time forward until it is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(flatten)]
    pub job: Job,
}

/// The work itself, tagged by `kind` in the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "job", rename_all = "lowercase")]
pub enum Job {
    Mail(MailJob),
    Upload(UploadJob),
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Mail(_) => "mail",
            Job::Upload(_) => "upload",
        }
    }
}

/// An e-mail sent through SES v2 `SendEmail`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailJob {
    /// `addr@example.com` or `Name <addr@example.com>`; must be a verified SES identity.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<String>,
    /// Required unless `template` is given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// An SES stored template, rendered by SES with `data`, in place of
    /// `subject`, `text` and `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<MailTemplate>,
}

/// A reference to an SES email template and the values for its `{{placeholders}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailTemplate {
    pub name: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// An object written to S3 with `PutObject`; the bytes travel inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadJob {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The object's bytes, standard base64 with padding.
    pub body_base64: String,
    /// SHA-256 of the decoded bytes, 64 lowercase hex digits. S3 checks it on write.
    pub sha256: String,
}

impl UploadJob {
    /// An upload of `bytes`, with the body encoded and its digest computed here.
    pub fn from_bytes(bucket: impl Into<String>, key: impl Into<String>, bytes: &[u8]) -> Self {
        UploadJob {
            bucket: bucket.into(),
            key: key.into(),
            content_type: None,
            metadata: BTreeMap::new(),
            body_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            sha256: sha256_hex(bytes),
        }
    }

    /// The decoded bytes.
    pub fn body(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.body_base64)
    }

    /// The digest as S3 wants it in `x-amz-checksum-sha256`: base64 of the raw 32 bytes.
    pub fn sha256_base64(&self) -> Option<String> {
        let raw = hex::decode(&self.sha256).ok()?;
        (raw.len() == 32).then(|| base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Envelope {
    /// A new envelope with a fresh random id and the current time.
    pub fn new(job: Job) -> Self {
        Envelope {
            version: ENVELOPE_VERSION,
            id: uuid::Uuid::new_v4().to_string(),
            created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            not_before: None,
            job,
        }
    }

    /// The same envelope with a caller-chosen id (for example a database key).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    pub fn kind(&self) -> &'static str {
        self.job.kind()
    }

    /// The job's `not_before` as a point in time, if it has a valid one.
    pub fn due_at(&self) -> Option<SystemTime> {
        self.not_before
            .as_deref()
            .and_then(crate::validate::parse_rfc3339)
    }

    pub fn to_json(&self) -> String {
        // An envelope holds only strings, numbers and maps of strings: it always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an envelope from a message body. Says which part is wrong: the JSON,
    /// the version, the kind, or the job's fields. Does not check field values:
    /// see [`Envelope::validate`](crate::validate).
    pub fn decode(body: &str) -> Result<Envelope, DecodeError> {
        let raw: RawEnvelope = serde_json::from_str(body).map_err(DecodeError::Malformed)?;
        if raw.version != ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion(raw.version));
        }
        let job = match raw.kind.as_str() {
            "mail" => serde_json::from_value(raw.job).map(Job::Mail),
            "upload" => serde_json::from_value(raw.job).map(Job::Upload),
            _ => return Err(DecodeError::UnknownKind(raw.kind)),
        }
        .map_err(|source| DecodeError::InvalidJob {
            kind: raw.kind.clone(),
            source,
        })?;
        Ok(Envelope {
            version: raw.version,
            id: raw.id,
            created_at: raw.created_at,
            not_before: raw.not_before,
            job,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    version: u32,
    id: String,
    kind: String,
    created_at: String,
    #[serde(default)]
    not_before: Option<String>,
    job: serde_json::Value,
}

/// Why a message body is not a job. Never helped by a retry.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a job envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("unsupported envelope `version` `{0}` (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
    #[error("unknown job `kind` `{0}` (expected `mail` or `upload`)")]
    UnknownKind(String),
    #[error("`job` is not a valid `{kind}` job: {source}")]
    InvalidJob {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

impl DecodeError {
    /// A short stable name for logs and dead-letter attributes.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "malformed_json",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::UnknownKind(_) => "unknown_kind",
            DecodeError::InvalidJob { .. } => "invalid_job",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Envelope {
        Envelope::new(Job::Mail(MailJob {
            from: "shop@example.com".into(),
            to: vec!["ann@example.com".into()],
            subject: "Your product is about to expire!".into(),
            text: Some("Renew it today.".into()),
            ..MailJob::default()
        }))
    }

    #[test]
    fn envelope_round_trips_through_json() {
        let envelope = mail();
        let json = envelope.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["kind"], "mail");
        assert_eq!(value["version"], 1);
        assert_eq!(value["job"]["to"][0], "ann@example.com");
        assert!(value["job"].get("cc").is_none(), "empty lists are left out");
        assert_eq!(Envelope::decode(&json).expect("decodes"), envelope);
    }

    #[test]
    fn decode_names_what_is_wrong() {
        let good = mail().to_json();
        assert!(matches!(
            Envelope::decode("{not json"),
            Err(DecodeError::Malformed(_))
        ));
        let fax = good.replace("\"kind\":\"mail\"", "\"kind\":\"fax\"");
        let err = Envelope::decode(&fax).expect_err("unknown kind");
        assert_eq!(
            err.to_string(),
            "unknown job `kind` `fax` (expected `mail` or `upload`)"
        );
        let v2 = good.replace("\"version\":1", "\"version\":2");
        assert!(matches!(
            Envelope::decode(&v2),
            Err(DecodeError::UnsupportedVersion(2))
        ));
        let typo = good.replace("\"subject\"", "\"subjct\"");
        let err = Envelope::decode(&typo).expect_err("unknown field");
        assert!(err.to_string().contains("subjct"), "{err}");
        assert_eq!(err.code(), "invalid_job");
    }

    #[test]
    fn upload_digest_is_hex_in_the_envelope_and_base64_for_s3() {
        let upload = UploadJob::from_bytes("b", "k", b"hello");
        assert_eq!(
            upload.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            upload.sha256_base64().as_deref(),
            Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
        );
        assert_eq!(upload.body().expect("base64"), b"hello");
    }
}
