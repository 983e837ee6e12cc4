//! Large messages through S3, in the SQS Extended Client's own format, so the
//! Java and Python Extended Client libraries and this crate read each other's
//! messages.
//!
//! A message whose envelope is stored in S3 carries, as its body,
//!
//! ```json
//! ["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]
//! ```
//!
//! and the `ExtendedPayloadSize` attribute (a `Number`: the stored body's size
//! in bytes). Older Java clients wrote `com.amazon.sqs.javamessaging.MessageS3Pointer`
//! and `SQSLargePayloadSize`; both are read, the current ones written. SQS
//! allows ten attributes on a message and the Extended Clients reserve one for
//! theirs, which is why ours stay within
//! [`MAX_ATTRIBUTES`](super::attributes::MAX_ATTRIBUTES).

use serde::{Deserialize, Serialize};

/// The pointer's class name, as the current Extended Clients write it.
pub const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// The class name older Java clients wrote.
pub const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";
/// The attribute that marks a pointer message and gives the stored body's size.
pub const PAYLOAD_SIZE: &str = "ExtendedPayloadSize";
/// The same attribute, as older clients named it.
pub const LEGACY_PAYLOAD_SIZE: &str = "SQSLargePayloadSize";
/// The largest body the Extended Clients store: 2 GB.
pub const MAX_PAYLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// How far ahead a job whose envelope is stored may be scheduled. The stack's
/// payload bucket expires stored envelopes after this, plus a queue's
/// retention (4 days) and its dead-letter queue's (14), so an envelope is
/// never removed while its job may still run or be redriven.
pub const SCHEDULE_HORIZON: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);
/// The payload bucket: producers store envelopes and stage files there, and
/// the handler and the console follow pointers into it and nowhere else.
/// Unset, a producer stores nothing (an envelope over the queue's limit is
/// refused) and a handler follows no pointer.
pub const PAYLOAD_BUCKET_ENV: &str = "JOBS_PAYLOAD_BUCKET";
/// Where stored envelopes and staged files go in the payload bucket. The
/// stack's grants and lifecycle rule cover this prefix, and a pointer is
/// followed only into it.
pub const PAYLOAD_PREFIX: &str = "payloads/";

/// Where a message's body is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadPointer {
    #[serde(rename = "s3BucketName")]
    pub bucket: String,
    #[serde(rename = "s3Key")]
    pub key: String,
}

impl PayloadPointer {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        PayloadPointer {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// The pointer in a message body, if the body is one (of either class).
    /// Any other body, an envelope included, is `None`.
    pub fn from_body(body: &str) -> Option<Self> {
        // Cheap test first: every envelope is a JSON object.
        if !body.trim_start().starts_with('[') {
            return None;
        }
        let (class, pointer): (String, PayloadPointer) = serde_json::from_str(body).ok()?;
        (class == POINTER_CLASS || class == LEGACY_POINTER_CLASS).then_some(pointer)
    }

    /// The message body that points here.
    pub fn to_body(&self) -> String {
        serde_json::json!([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])
            .to_string()
    }

    /// Whether the pointer is into `bucket` under [`PAYLOAD_PREFIX`]: the one
    /// place a stored envelope or a staged file of this stack may be. A
    /// pointer is a message's say-so; anything else is data, never read nor
    /// deleted.
    pub fn is_within(&self, bucket: &str) -> bool {
        !bucket.is_empty() && self.bucket == bucket && self.key.starts_with(PAYLOAD_PREFIX)
    }

    /// `s3://bucket/key`, for messages and logs.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Whether an attribute name marks a pointer message.
pub fn is_payload_size_attribute(name: &str) -> bool {
    name == PAYLOAD_SIZE || name == LEGACY_PAYLOAD_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_of_both_classes_are_read_and_the_current_one_written() {
        let pointer = PayloadPointer::new("payloads", "jobs/1b2c");
        let body = pointer.to_body();
        assert_eq!(
            body,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"payloads","s3Key":"jobs/1b2c"}]"#
        );
        assert_eq!(PayloadPointer::from_body(&body), Some(pointer.clone()));
        let legacy = r#"[ "com.amazon.sqs.javamessaging.MessageS3Pointer", {"s3BucketName": "payloads", "s3Key": "jobs/1b2c"} ]"#;
        assert_eq!(PayloadPointer::from_body(legacy), Some(pointer));
        for other in [
            r#"{"id":"1","kind":"mail"}"#,
            r#"["some.other.Class",{"s3BucketName":"b","s3Key":"k"}]"#,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b"}]"#,
            "[",
            "",
        ] {
            assert_eq!(PayloadPointer::from_body(other), None, "{other}");
        }
        assert!(is_payload_size_attribute("ExtendedPayloadSize"));
        assert!(is_payload_size_attribute("SQSLargePayloadSize"));
        assert!(!is_payload_size_attribute("jobs.id"));
    }

    #[test]
    fn a_pointer_is_ours_only_into_the_payload_bucket_under_its_prefix() {
        assert!(PayloadPointer::new("payloads-b", "payloads/j/1").is_within("payloads-b"));
        assert!(PayloadPointer::new("payloads-b", "payloads/staged/1").is_within("payloads-b"));
        for (bucket, key) in [
            ("prod-backups", "payloads/j/1"),
            ("payloads-b", "db.dump"),
            ("payloads-b", "payloads"),
            ("payloads-b", "/payloads/j/1"),
            ("payloads-b-2", "payloads/j/1"),
        ] {
            assert!(
                !PayloadPointer::new(bucket, key).is_within("payloads-b"),
                "{bucket}/{key}"
            );
        }
        assert!(!PayloadPointer::new("", "payloads/j").is_within(""));
    }
}
