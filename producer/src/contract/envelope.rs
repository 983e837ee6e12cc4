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

pub use crate::contract::http::{HTTP_KIND, HttpJob};

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// One job as it travels through the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: u32,
    /// Chosen by the producer; stays the same across retries and dead-lettering.
    pub id: String,
    /// RFC 3339 time at which the job was created.
    pub created_at: String,
    /// RFC 3339 time before which the job must not run. SQS delays stop at 15
    /// minutes; the handler carries a job with a later time forward until it is due.
    pub not_before: Option<String>,
    /// RFC 3339 time after which the job must not start: a job not started by
    /// then is dropped as `expired` (a code by mail an hour late is worse than none).
    pub expires_at: Option<String>,
    pub job: Job,
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut envelope = serializer.serialize_struct("Envelope", 7)?;
        envelope.serialize_field("version", &self.version)?;
        envelope.serialize_field("id", &self.id)?;
        envelope.serialize_field("created_at", &self.created_at)?;
        if let Some(not_before) = &self.not_before {
            envelope.serialize_field("not_before", not_before)?;
        }
        if let Some(expires_at) = &self.expires_at {
            envelope.serialize_field("expires_at", expires_at)?;
        }
        envelope.serialize_field("kind", self.job.kind())?;
        envelope.serialize_field("job", &JobPayload(&self.job))?;
        envelope.end()
    }
}

/// The work itself: `kind` in the envelope names its type, `job` holds its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// The built-in `mail` kind.
    Mail(MailJob),
    /// The built-in `upload` kind.
    Upload(UploadJob),
    /// The built-in `http` kind.
    Http(HttpJob),
    /// A kind of the application's own (see [`JobType`](crate::JobType)); its
    /// payload is read by the handler that registered the kind.
    Custom(CustomJob),
}

/// A job of a kind this crate does not define: its name and its JSON payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomJob {
    pub kind: String,
    pub payload: serde_json::Value,
}

/// Kinds this crate defines and checks strictly.
pub const BUILT_IN_KINDS: [&str; 3] = [MAIL_KIND, UPLOAD_KIND, HTTP_KIND];
pub const MAIL_KIND: &str = "mail";
pub const UPLOAD_KIND: &str = "upload";

impl Job {
    pub fn kind(&self) -> &str {
        match self {
            Job::Mail(_) => MAIL_KIND,
            Job::Upload(_) => UPLOAD_KIND,
            Job::Http(_) => HTTP_KIND,
            Job::Custom(custom) => &custom.kind,
        }
    }

    /// Reads a payload as the job of `kind`: a built-in kind strictly (unknown
    /// fields refused), any other kind as it is, for its handler to read.
    pub fn from_parts(kind: &str, payload: serde_json::Value) -> Result<Job, DecodeError> {
        let invalid = |source| DecodeError::InvalidJob {
            kind: kind.to_owned(),
            source,
        };
        Ok(match kind {
            MAIL_KIND => Job::Mail(serde_json::from_value(payload).map_err(invalid)?),
            UPLOAD_KIND => Job::Upload(serde_json::from_value(payload).map_err(invalid)?),
            HTTP_KIND => Job::Http(serde_json::from_value(payload).map_err(invalid)?),
            _ => Job::Custom(CustomJob {
                kind: kind.to_owned(),
                payload,
            }),
        })
    }

    /// The payload as JSON, as it travels in the envelope's `job`.
    pub fn payload(&self) -> serde_json::Value {
        // Built-in jobs hold only strings, lists and maps of strings: they always serialize.
        serde_json::to_value(JobPayload(self)).unwrap_or_default()
    }
}

/// The kind and payload together, as `{"kind": …, "job": …}`: what "the same
/// job" means to the idempotency ledger.
impl Serialize for Job {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut job = serializer.serialize_struct("Job", 2)?;
        job.serialize_field("kind", self.kind())?;
        job.serialize_field("job", &JobPayload(self))?;
        job.end()
    }
}

struct JobPayload<'a>(&'a Job);

impl Serialize for JobPayload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Job::Mail(mail) => mail.serialize(serializer),
            Job::Upload(upload) => upload.serialize(serializer),
            Job::Http(http) => http.serialize(serializer),
            Job::Custom(custom) => custom.payload.serialize(serializer),
        }
    }
}

/// An e-mail sent through SES v2 `SendEmail`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailTemplate {
    pub name: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl MailTemplate {
    pub fn new(name: impl Into<String>) -> Self {
        MailTemplate {
            name: name.into(),
            data: serde_json::Map::new(),
        }
    }

    /// Adds a value for the template's `{{key}}`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

/// An object written to S3: with `PutObject` when its bytes travel inline,
/// or copied server-side from the object `source` names (bytes of any size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadJob {
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The object's bytes, standard base64 with padding; none with `source`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_base64: String,
    /// SHA-256 of the decoded bytes, 64 lowercase hex digits. S3 checks it on
    /// write. None with `source`, whose own checksum S3 checks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// Bytes already in S3, copied from there instead of carried in the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<UploadSource>,
}

/// An S3 object an upload job copies, with the checksum its copy must have.
///
/// The checksum is CRC64NVME over the whole object: unlike SHA-256, S3 keeps
/// it whole for a multipart upload or copy, so one value checks an object of
/// any size however it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadSource {
    pub bucket: String,
    pub key: String,
    /// The object's size in bytes.
    pub size: u64,
    /// CRC64NVME of the whole object, as S3 writes it in
    /// `x-amz-checksum-crc64nvme`: base64 of its 8 bytes, big-endian.
    pub crc64nvme: String,
    /// Written by the producer for this job alone (`payloads/staged/…` in the
    /// payload bucket): deleted once the job settles, as stored envelopes are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub staged: bool,
}

impl Envelope {
    /// The staged object of an upload job (a `source` with `staged`), if the
    /// job has one: what is removed once the job settles, or when its message
    /// is refused.
    pub fn staged_source(&self) -> Option<crate::contract::pointer::PayloadPointer> {
        match &self.job {
            Job::Upload(upload) => {
                upload
                    .source
                    .as_ref()
                    .filter(|source| source.staged)
                    .map(|source| {
                        crate::contract::pointer::PayloadPointer::new(&source.bucket, &source.key)
                    })
            }
            _ => None,
        }
    }
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
            source: None,
        }
    }

    /// An upload that copies the object `source` names.
    pub fn from_source(
        bucket: impl Into<String>,
        key: impl Into<String>,
        source: UploadSource,
    ) -> Self {
        UploadJob {
            bucket: bucket.into(),
            key: key.into(),
            content_type: None,
            metadata: BTreeMap::new(),
            body_base64: String::new(),
            sha256: String::new(),
            source: Some(source),
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

/// The SHA-256 of `bytes` as S3 wants it in `x-amz-checksum-sha256`: base64
/// of the raw 32 bytes.
pub fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

impl Envelope {
    /// A new envelope with a fresh random id and the current time.
    pub fn new(job: Job) -> Self {
        Envelope {
            version: ENVELOPE_VERSION,
            id: uuid::Uuid::new_v4().to_string(),
            created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            not_before: None,
            expires_at: None,
            job,
        }
    }

    /// The same envelope with a caller-chosen id (for example a database key).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    pub fn kind(&self) -> &str {
        self.job.kind()
    }

    /// The job's `not_before` as a point in time, if it has a valid one.
    pub fn due_at(&self) -> Option<SystemTime> {
        self.not_before
            .as_deref()
            .and_then(crate::contract::validate::parse_rfc3339)
    }

    /// The job's `expires_at` as a point in time, if it has a valid one.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
            .as_deref()
            .and_then(crate::contract::validate::parse_rfc3339)
    }

    /// Whether the job may no longer start at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expiry().is_some_and(|expiry| expiry <= now)
    }

    pub fn to_json(&self) -> String {
        // An envelope holds only strings, numbers and maps of strings: it always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an envelope from a message body. Says which part is wrong: the JSON,
    /// the version, the kind, or the job's fields. Does not check field values:
    /// see [`Envelope::validate`](crate::contract::validate).
    pub fn decode(body: &str) -> Result<Envelope, DecodeError> {
        let raw: RawEnvelope = serde_json::from_str(body).map_err(DecodeError::Malformed)?;
        if raw.version != ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion(raw.version));
        }
        let job = Job::from_parts(&raw.kind, raw.job)?;
        Ok(Envelope {
            version: raw.version,
            id: raw.id,
            created_at: raw.created_at,
            not_before: raw.not_before,
            expires_at: raw.expires_at,
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
    #[serde(default)]
    expires_at: Option<String>,
    job: serde_json::Value,
}

/// Why a message body is not a job. Never helped by a retry.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a job envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("unsupported envelope `version` `{0}` (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
    /// Raised by the handler: no job type of this name is registered there.
    #[error("unknown job `kind` `{kind}` (this handler runs {})", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))]
    UnknownKind { kind: String, known: Vec<String> },
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
            DecodeError::UnknownKind { .. } => "unknown_kind",
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
        let custom = Envelope::decode(&fax).expect("a kind of the application's own");
        assert_eq!(custom.kind(), "fax");
        assert!(matches!(&custom.job, Job::Custom(c) if c.payload["to"][0] == "ann@example.com"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&custom.to_json()).expect("json"),
            serde_json::from_str::<serde_json::Value>(&fax).expect("json"),
            "a custom job travels unchanged"
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
