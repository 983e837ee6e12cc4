//! The AWS calls that carry out each kind of job.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, Template};
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use futures::StreamExt as _;
use producer::{FieldError, MailJob, UploadJob, UploadSource, ValidationErrors};

use crate::error::JobError;

/// Bytes to write to S3 from a job's `perform` ([`Context::put_object`](crate::Context::put_object)): the
/// same checks and the same `PutObject` request as an `upload` job, without
/// the base64 an upload job needs to travel in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub bytes: Vec<u8>,
}

impl Upload {
    pub fn new(
        bucket: impl Into<String>,
        key: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> Self {
        Upload {
            bucket: bucket.into(),
            key: key.into(),
            content_type: None,
            metadata: BTreeMap::new(),
            bytes: bytes.into(),
        }
    }

    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a metadata entry (`x-amz-meta-NAME`).
    pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(name.into(), value.into());
        self
    }

    pub(crate) fn check(&self) -> Result<(), producer::ValidationErrors> {
        producer::contract::validate::validate_object(
            &self.bucket,
            &self.key,
            self.content_type.as_deref(),
            &self.metadata,
        )
    }
}

/// Sends a mail job through SES v2 `SendEmail`; returns SES's message id.
pub async fn send_mail(ses: &aws_sdk_sesv2::Client, mail: &MailJob) -> Result<String, JobError> {
    let content = match &mail.template {
        Some(template) => EmailContent::builder()
            .template(
                Template::builder()
                    .template_name(&template.name)
                    .template_data(serde_json::Value::Object(template.data.clone()).to_string())
                    .build(),
            )
            .build(),
        None => EmailContent::builder()
            .simple(simple_message(mail)?)
            .build(),
    };
    let destination = Destination::builder()
        .set_to_addresses(Some(mail.to.clone()))
        .set_cc_addresses(non_empty(&mail.cc))
        .set_bcc_addresses(non_empty(&mail.bcc))
        .build();
    let output = ses
        .send_email()
        .from_email_address(&mail.from)
        .destination(destination)
        .set_reply_to_addresses(non_empty(&mail.reply_to))
        .content(content)
        .send()
        .await
        .map_err(|e| JobError::aws("ses_send_email", &e))?;
    Ok(output.message_id.unwrap_or_default())
}

fn simple_message(mail: &MailJob) -> Result<Message, JobError> {
    let utf8 = |data: &str| Content::builder().data(data).charset("UTF-8").build();
    let mut body = Body::builder();
    if let Some(text) = &mail.text {
        body = body.text(utf8(text).map_err(invalid("job.text"))?);
    }
    if let Some(html) = &mail.html {
        body = body.html(utf8(html).map_err(invalid("job.html"))?);
    }
    Ok(Message::builder()
        .subject(utf8(&mail.subject).map_err(invalid("job.subject"))?)
        .body(body.build())
        .build())
}

/// Writes an upload's bytes with S3 `PutObject`. Their SHA-256 goes with the
/// request as `x-amz-checksum-sha256`, so S3 itself refuses bytes that do not
/// match; the payload is not signed a second time (`UNSIGNED-PAYLOAD`, over TLS).
pub async fn put_object(
    s3: &aws_sdk_s3::Client,
    upload: Upload,
    sha256_base64: String,
) -> Result<(), JobError> {
    s3.put_object()
        .bucket(upload.bucket)
        .key(upload.key)
        .body(ByteStream::from(upload.bytes))
        .set_content_type(upload.content_type)
        .set_metadata((!upload.metadata.is_empty()).then(|| upload.metadata.into_iter().collect()))
        .checksum_sha256(sha256_base64)
        // S3 checks the bytes against the checksum above; signing their SHA-256
        // as well would hash the whole body a second time (28 % of the CPU of a
        // 256 KiB upload, measured in `make bench`) for no added check.
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| JobError::aws("s3_put_object", &e))?;
    Ok(())
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

fn invalid<E: std::fmt::Display>(field: &'static str) -> impl Fn(E) -> JobError {
    move |e| {
        JobError::Invalid(ValidationErrors(vec![FieldError::new(
            field,
            e.to_string(),
        )]))
    }
}

/// The smallest part S3 takes in a multipart upload or copy (the last excepted).
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// The largest part, and the largest object one `CopyObject` copies.
const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Parts of a multipart copy in flight at once.
const COPY_PARTS_IN_FLIGHT: usize = 4;

/// Copies an upload's `source` to its bucket and key, server-side, with a
/// multipart copy: one part up to `multipart_above` bytes, else parts of that
/// size. The job's CRC64NVME goes with the completion as the whole object's
/// (`FULL_OBJECT`), so S3 itself checks it before the object appears: a copy
/// that is not the job's bytes never replaces what the key held. (A
/// `CopyObject` cannot be given the checksum to expect; its copy could only be
/// checked once written.) The job's type and metadata replace the source's.
pub async fn copy_object(
    s3: &aws_sdk_s3::Client,
    upload: &UploadJob,
    source: &UploadSource,
    multipart_above: u64,
) -> Result<(), JobError> {
    let copy_source = copy_source(source);
    let metadata =
        (!upload.metadata.is_empty()).then(|| upload.metadata.clone().into_iter().collect());
    let part_bytes = if source.size <= multipart_above.min(MAX_PART_BYTES) {
        source.size.max(1)
    } else {
        multipart_above
            .clamp(MIN_PART_BYTES, MAX_PART_BYTES)
            .max(source.size.div_ceil(MAX_PARTS))
    };
    let upload_id = s3
        .create_multipart_upload()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .set_content_type(upload.content_type.clone())
        .set_metadata(metadata)
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .map_err(|e| JobError::aws("s3_create_multipart_upload", &e))?
        .upload_id
        .unwrap_or_default();
    let copied = copy_parts(s3, upload, source, &copy_source, &upload_id, part_bytes).await;
    let completed = match copied {
        Ok(parts) => s3
            .complete_multipart_upload()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .upload_id(&upload_id)
            .checksum_crc64_nvme(&source.crc64nvme)
            .checksum_type(ChecksumType::FullObject)
            .mpu_object_size(source.size as i64)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                if e.code() == Some("BadDigest") {
                    mismatch(source)
                } else {
                    JobError::aws("s3_complete_multipart_upload", &e)
                }
            }),
        Err(e) => Err(e),
    };
    if completed.is_err() {
        // What is not aborted, the bucket's lifecycle rule removes.
        let _ = s3
            .abort_multipart_upload()
            .bucket(&upload.bucket)
            .key(&upload.key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    completed
}

async fn copy_parts(
    s3: &aws_sdk_s3::Client,
    upload: &UploadJob,
    source: &UploadSource,
    copy_source: &str,
    upload_id: &str,
    part_bytes: u64,
) -> Result<Vec<CompletedPart>, JobError> {
    // An empty object is one part without a range (a range cannot be empty).
    let ranges = (0..source.size.div_ceil(part_bytes).max(1)).map(|n| {
        let first = n * part_bytes;
        let range = (source.size > 0).then(|| {
            format!(
                "bytes={first}-{}",
                (first + part_bytes).min(source.size) - 1
            )
        });
        (n as i32 + 1, range)
    });
    futures::stream::iter(ranges)
        .map(|(part_number, range)| async move {
            let copied = s3
                .upload_part_copy()
                .bucket(&upload.bucket)
                .key(&upload.key)
                .upload_id(upload_id)
                .part_number(part_number)
                .copy_source(copy_source)
                .set_copy_source_range(range)
                .send()
                .await
                .map_err(|e| copy_error("s3_upload_part_copy", source, &e))?
                .copy_part_result;
            Ok(CompletedPart::builder()
                .part_number(part_number)
                .set_e_tag(copied.as_ref().and_then(|c| c.e_tag.clone()))
                .set_checksum_crc64_nvme(copied.and_then(|c| c.checksum_crc64_nvme))
                .build())
        })
        .buffered(COPY_PARTS_IN_FLIGHT)
        .collect::<Vec<Result<CompletedPart, JobError>>>()
        .await
        .into_iter()
        .collect()
}

/// `bucket/key` as `x-amz-copy-source` wants it: the key URL-encoded, its
/// slashes kept.
fn copy_source(source: &UploadSource) -> String {
    let mut encoded = String::with_capacity(source.bucket.len() + source.key.len() + 1);
    encoded.push_str(&source.bucket);
    encoded.push('/');
    for byte in source.key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A copy's failure; a source that is not there is the job's own fault.
fn copy_error<E>(
    operation: &'static str,
    source: &UploadSource,
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> JobError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    if matches!(e.code(), Some("NoSuchKey" | "NoSuchBucket")) {
        return JobError::Payload {
            code: "source_missing",
            class: producer::aws::ErrorClass::Permanent,
            message: format!(
                "the upload's source `s3://{}/{}` is not there: {}",
                source.bucket,
                source.key,
                producer::aws::describe(e)
            ),
        };
    }
    JobError::aws(operation, e)
}

fn mismatch(source: &UploadSource) -> JobError {
    JobError::Payload {
        code: "source_checksum_mismatch",
        class: producer::aws::ErrorClass::Permanent,
        message: format!(
            "s3 refused the copy of `s3://{}/{}`: its CRC64NVME is not the job's `{}`",
            source.bucket, source.key, source.crc64nvme
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
    use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
    use aws_sdk_s3::operation::upload_part_copy::UploadPartCopyOutput;
    use aws_sdk_s3::types::CopyPartResult;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::retry::RetryConfig;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn job(size: u64) -> (UploadJob, UploadSource) {
        let source = UploadSource {
            bucket: "payloads".into(),
            key: "payloads/staged/a b+c".into(),
            size,
            crc64nvme: "8D6X85qSMno=".into(),
            staged: true,
        };
        let mut upload = UploadJob::from_source("uploads", "reports/big.bin", source.clone());
        upload.content_type = Some("application/pdf".into());
        (upload, source)
    }

    /// Above the threshold: parts of the threshold's size, ranges that cover
    /// the object exactly, the source's key encoded, and the job's CRC64NVME
    /// given to S3 as the whole object's when the copy completes.
    #[tokio::test]
    async fn a_source_above_the_threshold_is_copied_in_parts_and_checked_whole() {
        let ranges_seen = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ranges_seen);
        let create = mock!(aws_sdk_s3::Client::create_multipart_upload)
            .match_requests(|r| {
                r.checksum_type() == Some(&ChecksumType::FullObject)
                    && r.checksum_algorithm() == Some(&ChecksumAlgorithm::Crc64Nvme)
                    && r.content_type() == Some("application/pdf")
            })
            .then_output(|| {
                CreateMultipartUploadOutput::builder()
                    .upload_id("u-1")
                    .build()
            });
        let part = mock!(aws_sdk_s3::Client::upload_part_copy)
            .match_requests(move |r| {
                seen.lock().expect("ranges").push((
                    r.part_number().unwrap_or_default(),
                    r.copy_source_range().unwrap_or_default().to_owned(),
                    r.copy_source().unwrap_or_default().to_owned(),
                ));
                true
            })
            .then_output(|| {
                UploadPartCopyOutput::builder()
                    .copy_part_result(CopyPartResult::builder().e_tag("\"e\"").build())
                    .build()
            });
        let completed_with = Arc::new(Mutex::new(Vec::new()));
        let sizes = Arc::clone(&completed_with);
        let complete = mock!(aws_sdk_s3::Client::complete_multipart_upload)
            .match_requests(move |r| {
                sizes.lock().expect("sizes").push((
                    r.mpu_object_size().unwrap_or_default() as u64,
                    r.multipart_upload().map_or(0, |m| m.parts().len()),
                ));
                r.checksum_crc64_nvme() == Some("8D6X85qSMno=")
                    && r.checksum_type() == Some(&ChecksumType::FullObject)
                    && r.mpu_object_size().is_some()
                    && r.multipart_upload().is_some_and(|m| !m.parts().is_empty())
            })
            .then_output(|| CompleteMultipartUploadOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&create, &part, &complete]);
        let (upload, source) = job(20 * MIB + 1);
        copy_object(&s3, &upload, &source, 8 * MIB)
            .await
            .expect("copied");
        assert_eq!(
            (create.num_calls(), part.num_calls(), complete.num_calls()),
            (1, 3, 1)
        );
        assert_eq!(
            completed_with.lock().expect("sizes").clone(),
            [(20 * MIB + 1, 3)]
        );
        let mut ranges = ranges_seen.lock().expect("ranges").clone();
        ranges.sort();
        let source_header = "payloads/payloads/staged/a%20b%2Bc".to_owned();
        assert_eq!(
            ranges,
            [
                (1, format!("bytes=0-{}", 8 * MIB - 1), source_header.clone()),
                (
                    2,
                    format!("bytes={}-{}", 8 * MIB, 16 * MIB - 1),
                    source_header.clone()
                ),
                (
                    3,
                    format!("bytes={}-{}", 16 * MIB, 20 * MIB),
                    source_header.clone()
                ),
            ]
        );

        // At or under the threshold: one part, the whole object.
        ranges_seen.lock().expect("ranges").clear();
        let (upload, source) = job(3 * MIB);
        copy_object(&s3, &upload, &source, 8 * MIB)
            .await
            .expect("copied");
        assert_eq!(
            *ranges_seen.lock().expect("ranges"),
            [(1, format!("bytes=0-{}", 3 * MIB - 1), source_header)]
        );
    }

    /// S3 refusing the whole object's checksum is the job's permanent
    /// failure, and the upload is aborted; so is a part that fails.
    #[tokio::test]
    async fn a_copy_in_parts_that_fails_is_aborted() {
        let create = mock!(aws_sdk_s3::Client::create_multipart_upload).then_output(|| {
            CreateMultipartUploadOutput::builder()
                .upload_id("u-1")
                .build()
        });
        let part = mock!(aws_sdk_s3::Client::upload_part_copy).then_output(|| {
            UploadPartCopyOutput::builder()
                .copy_part_result(CopyPartResult::builder().e_tag("\"e\"").build())
                .build()
        });
        let bad_digest = mock!(aws_sdk_s3::Client::complete_multipart_upload).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(400).expect("status"),
                SdkBody::from(
                    "<Error><Code>BadDigest</Code><Message>The crc64nvme you specified did not match the calculated checksum.</Message></Error>",
                ),
            )
        });
        let abort = mock!(aws_sdk_s3::Client::abort_multipart_upload)
            .match_requests(|r| r.upload_id() == Some("u-1"))
            .then_output(|| {
                aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput::builder()
                    .build()
            });
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&create, &part, &bad_digest, &abort],
            |b| b.retry_config(RetryConfig::disabled())
        );
        let (upload, source) = job(12 * MIB);
        let error = copy_object(&s3, &upload, &source, 8 * MIB)
            .await
            .expect_err("s3 refused the checksum");
        assert_eq!(error.code(), "source_checksum_mismatch", "{error}");
        assert_eq!(
            error.class(),
            producer::aws::ErrorClass::Permanent,
            "{error}"
        );
        assert_eq!((part.num_calls(), abort.num_calls()), (2, 1));

        let failing_part = mock!(aws_sdk_s3::Client::upload_part_copy).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(503).expect("status"),
                SdkBody::from("<Error><Code>SlowDown</Code><Message>slow down</Message></Error>"),
            )
        });
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&create, &failing_part, &abort],
            |b| b.retry_config(RetryConfig::disabled())
        );
        let error = copy_object(&s3, &upload, &source, 8 * MIB)
            .await
            .expect_err("a part failed");
        assert_eq!(
            error.class(),
            producer::aws::ErrorClass::Transient,
            "{error}"
        );
        assert_eq!(abort.num_calls(), 2);
    }
}
