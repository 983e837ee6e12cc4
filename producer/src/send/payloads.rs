//! Envelopes too large for an SQS message, stored in S3 (feature `large`).
//!
//! The message then carries a pointer in the SQS Extended Client's format
//! ([`crate::contract::pointer`]), which the handler follows, and which the
//! Java and Python Extended Client libraries read too. A body is stored before
//! its message is sent, and removed again when the message could not be sent,
//! so a refused job leaves nothing behind but what S3 itself failed to delete
//! (which the payload bucket's lifecycle rule removes).

use base64::Engine as _;
use sha2::Digest as _;

use crate::aws::{ErrorClass, classify, describe};
use crate::contract::pointer::PayloadPointer;
pub use crate::contract::pointer::SCHEDULE_HORIZON;

/// The bucket for stored envelopes; unset, nothing is stored and an envelope
/// over the queue's limit is refused.
pub const PAYLOAD_BUCKET_ENV: &str = "JOBS_PAYLOAD_BUCKET";
/// `always`: store every envelope, whatever its size.
pub const PAYLOAD_MODE_ENV: &str = "JOBS_PAYLOAD_MODE";
/// Where stored envelopes go in the bucket (the stack's lifecycle rule
/// applies to this prefix).
pub const PAYLOAD_PREFIX: &str = "payloads/";

/// Where large envelopes are stored.
#[derive(Debug, Clone)]
pub struct PayloadStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
    always: bool,
}

impl PayloadStore {
    /// Envelopes over the queue's limit go to `bucket`.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        PayloadStore {
            s3,
            bucket: bucket.into(),
            always: false,
        }
    }

    /// Every envelope goes to the bucket, whatever its size (the Extended
    /// Clients' `alwaysThroughS3`).
    pub fn always(mut self, always: bool) -> Self {
        self.always = always;
        self
    }

    /// The store `JOBS_PAYLOAD_BUCKET` names, `always` when `JOBS_PAYLOAD_MODE`
    /// is `always`; `None` without a bucket.
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        let bucket = std::env::var(PAYLOAD_BUCKET_ENV)
            .ok()
            .filter(|b| !b.is_empty())?;
        let always =
            std::env::var(PAYLOAD_MODE_ENV).is_ok_and(|m| m.eq_ignore_ascii_case("always"));
        Some(PayloadStore::new(crate::aws::s3_client(config), bucket).always(always))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn stores_every_envelope(&self) -> bool {
        self.always
    }

    /// The key of a job's stored envelope: under [`PAYLOAD_PREFIX`], by job id,
    /// with a random part so that two sends of one id never share an object.
    pub(crate) fn key_for(job_id: &str) -> String {
        format!("{PAYLOAD_PREFIX}{job_id}/{}", uuid::Uuid::new_v4())
    }

    /// The pointer body's length for a job id: what the message will weigh.
    pub(crate) fn pointer_len(&self, job_id: &str) -> usize {
        PayloadPointer::new(&self.bucket, Self::key_for(job_id))
            .to_body()
            .len()
    }

    /// Stores a job's envelope; S3 checks it against its SHA-256.
    pub(crate) async fn store(
        &self,
        job_id: &str,
        body: &str,
    ) -> Result<PayloadPointer, (ErrorClass, String)> {
        let pointer = PayloadPointer::new(&self.bucket, Self::key_for(job_id));
        let checksum =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes()));
        self.s3
            .put_object()
            .bucket(&pointer.bucket)
            .key(&pointer.key)
            .content_type("application/json")
            .checksum_sha256(checksum)
            .body(aws_sdk_s3::primitives::ByteStream::from(
                body.as_bytes().to_vec(),
            ))
            .send()
            .await
            .map_err(|e| {
                (
                    classify(&e),
                    format!(
                        "s3 did not store the job's envelope at `{}`: {}",
                        pointer.url(),
                        describe(&e)
                    ),
                )
            })?;
        Ok(pointer)
    }

    /// Removes a stored envelope whose message was not sent. A failure is
    /// left to the bucket's lifecycle rule.
    pub(crate) async fn remove(&self, pointer: &PayloadPointer) {
        let _ = self
            .s3
            .delete_object()
            .bucket(&pointer.bucket)
            .key(&pointer.key)
            .send()
            .await;
    }
}
