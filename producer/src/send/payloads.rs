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

use std::path::{Path, PathBuf};

use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncReadExt as _;

use crate::aws::{ErrorClass, classify, describe};
use crate::contract::envelope::{Envelope, UploadSource};
use crate::contract::pointer::PayloadPointer;
pub use crate::contract::pointer::SCHEDULE_HORIZON;
use crate::contract::validate::MAX_OBJECT_BYTES;

/// `always`: store every envelope, whatever its size.
pub const PAYLOAD_MODE_ENV: &str = "JOBS_PAYLOAD_MODE";
pub use crate::contract::pointer::{PAYLOAD_BUCKET_ENV, PAYLOAD_PREFIX};
/// Where staged files go, under [`PAYLOAD_PREFIX`] so that the same grants
/// and lifecycle rule apply.
pub const STAGED_PREFIX: &str = "payloads/staged/";
/// The part size of a staged file's multipart upload (larger for files over
/// 80 GB, to stay within S3's 10,000 parts). One part is in memory at a time.
pub const STAGE_PART_BYTES: u64 = 8 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;

/// Why a file could not be staged. Nothing is left in S3 but what S3 itself
/// failed to delete (which the lifecycle rule removes).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is {size} bytes; an S3 object is at most {MAX_OBJECT_BYTES} (5 TiB)")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("`{path}` changed while it was read: {read} bytes read of {expected}")]
    Changed {
        path: PathBuf,
        read: u64,
        expected: u64,
    },
    #[error("s3 did not stage the file: {message}")]
    S3 { class: ErrorClass, message: String },
}

impl StageError {
    /// Whether staging again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StageError::S3 {
                class: ErrorClass::Transient,
                ..
            }
        )
    }
}

/// CRC64NVME as S3 writes it: base64 of the 8 bytes, big-endian.
pub fn crc64nvme_base64(crc: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

fn crc64nvme() -> crc_fast::Digest {
    crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)
}

/// CRC64NVME of bytes, in S3's form.
pub fn crc64nvme_of(bytes: &[u8]) -> String {
    let mut digest = crc64nvme();
    digest.update(bytes);
    crc64nvme_base64(digest.finalize())
}

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

    /// Writes a file to `payloads/staged/<uuid>` for an upload job to copy,
    /// streamed: one part of [`STAGE_PART_BYTES`] in memory at a time. Its
    /// CRC64NVME is computed on the way and given to S3, which checks it
    /// over the whole object (a multipart upload of checksum type
    /// `FULL_OBJECT`). A failure aborts the upload.
    pub async fn stage_file(&self, path: &Path) -> Result<UploadSource, StageError> {
        self.stage_file_with_progress(path, |_| {}).await
    }

    /// As [`PayloadStore::stage_file`], calling `progress` with the bytes
    /// sent so far after each part.
    pub async fn stage_file_with_progress(
        &self,
        path: &Path,
        mut progress: impl FnMut(u64),
    ) -> Result<UploadSource, StageError> {
        let read_error = |source| StageError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(read_error)?;
        let size = file.metadata().await.map_err(read_error)?.len();
        if size > MAX_OBJECT_BYTES {
            return Err(StageError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let key = format!("{STAGED_PREFIX}{}", uuid::Uuid::new_v4());
        let part_bytes =
            STAGE_PART_BYTES.max(size.div_ceil(MAX_PARTS).next_multiple_of(1024 * 1024));
        let s3_error = |what: &str, e: &dyn std::fmt::Display, class| StageError::S3 {
            class,
            message: format!("{what} `s3://{}/{key}`: {e}", self.bucket),
        };
        let mut whole = crc64nvme();
        if size <= part_bytes {
            let bytes = read_part(&mut file, size, path, 0, &mut whole).await?;
            let crc = crc64nvme_base64(whole.finalize());
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .checksum_crc64_nvme(&crc)
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| s3_error("PutObject", &describe(&e), classify(&e)))?;
            progress(size);
            return Ok(self.staged(key, size, crc));
        }
        let upload_id = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", &describe(&e), classify(&e)))?
            .upload_id
            .unwrap_or_default();
        let uploaded = self
            .upload_parts(
                &mut file,
                path,
                &key,
                &upload_id,
                size,
                part_bytes,
                &mut whole,
                &mut progress,
            )
            .await;
        let completed = match uploaded {
            Ok(parts) => {
                let crc = crc64nvme_base64(whole.finalize());
                self.s3
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .checksum_crc64_nvme(&crc)
                    .checksum_type(ChecksumType::FullObject)
                    .mpu_object_size(size as i64)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map(|_| crc)
                    .map_err(|e| s3_error("CompleteMultipartUpload", &describe(&e), classify(&e)))
            }
            Err(e) => Err(e),
        };
        match completed {
            Ok(crc) => Ok(self.staged(key, size, crc)),
            Err(e) => {
                // What S3 fails to abort, the lifecycle rule's abort of
                // incomplete uploads removes.
                let _ = self
                    .s3
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_parts(
        &self,
        file: &mut tokio::fs::File,
        path: &Path,
        key: &str,
        upload_id: &str,
        size: u64,
        part_bytes: u64,
        whole: &mut crc_fast::Digest,
        progress: &mut impl FnMut(u64),
    ) -> Result<Vec<CompletedPart>, StageError> {
        let mut parts = Vec::new();
        let mut offset = 0;
        while offset < size {
            let length = part_bytes.min(size - offset);
            let bytes = read_part(file, length, path, offset, whole).await?;
            let part_crc = crc64nvme_of(&bytes);
            let part_number = parts.len() as i32 + 1;
            let output = self
                .s3
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number)
                .checksum_crc64_nvme(&part_crc)
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| StageError::S3 {
                    class: classify(&e),
                    message: format!(
                        "UploadPart {part_number} of `s3://{}/{key}`: {}",
                        self.bucket,
                        describe(&e)
                    ),
                })?;
            parts.push(
                CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(output.e_tag)
                    .checksum_crc64_nvme(part_crc)
                    .build(),
            );
            offset += length;
            progress(offset);
        }
        Ok(parts)
    }

    fn staged(&self, key: String, size: u64, crc64nvme: String) -> UploadSource {
        UploadSource {
            bucket: self.bucket.clone(),
            key,
            size,
            crc64nvme,
            staged: true,
        }
    }

    /// Removes a staged file whose job was refused. A failure is left to the
    /// bucket's lifecycle rule.
    pub async fn remove_staged(&self, envelope: &Envelope) {
        if let Some(staged) = envelope.staged_source() {
            self.remove(&staged).await;
        }
    }

    /// Removes a file staged for a job that was not sent (`staged` or not:
    /// the caller staged it). A failure is left to the lifecycle rule.
    pub async fn remove_source(&self, source: &UploadSource) {
        self.remove(&PayloadPointer::new(&source.bucket, &source.key))
            .await;
    }
}

/// Reads the next `length` bytes of a file being staged, into the whole
/// file's checksum.
async fn read_part(
    file: &mut tokio::fs::File,
    length: u64,
    path: &Path,
    offset: u64,
    whole: &mut crc_fast::Digest,
) -> Result<Vec<u8>, StageError> {
    let mut bytes = Vec::with_capacity(length as usize);
    let read = (&mut *file)
        .take(length)
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| StageError::Read {
            path: path.to_owned(),
            source,
        })? as u64;
    if read != length {
        return Err(StageError::Changed {
            path: path.to_owned(),
            read: offset + read,
            expected: offset + length,
        });
    }
    whole.update(&bytes);
    Ok(bytes)
}
