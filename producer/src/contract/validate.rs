//! Rules every job must meet before it is sent, and again before it is run.
//!
//! The producer refuses a job that breaks one of them, so nothing half-valid
//! reaches the queue; the handler checks again, because other languages enqueue
//! too, and dead-letters what fails.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use crate::contract::envelope::{Envelope, Job, MailJob, MailTemplate, UploadJob, UploadSource};

/// SES v2 accepts at most 50 destinations (to + cc + bcc) per message.
pub const MAX_RECIPIENTS: usize = 50;
/// S3 object keys are at most 1024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// S3 user metadata: names and values together at most 2 KB.
pub const MAX_METADATA_BYTES: usize = 2048;
/// The largest S3 object, and so the largest upload by `source`: 5 TiB.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// SQS `DelaySeconds` range.
pub const MAX_DELAY_SECONDS: u32 = 900;
pub const MAX_ID_CHARS: usize = 128;
pub const MAX_SUBJECT_CHARS: usize = 998;
pub const MAX_TEMPLATE_NAME_CHARS: usize = 64;
/// SES `TemplateData` limit.
pub const MAX_TEMPLATE_DATA_BYTES: usize = 262_144;

/// One broken rule: the field's path in the envelope and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.problem)
    }
}

/// Every rule a job breaks, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl ValidationErrors {
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|e| e.field.as_str())
    }
}

#[derive(Default)]
struct Collector(Vec<FieldError>);

impl Collector {
    fn push(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError::new(field, problem));
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

impl Envelope {
    /// Checks every field. Field names in errors are paths such as `job.to[3]`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.check(UploadBody::Check)
    }

    /// Every check of [`Envelope::validate`] but the decoding and hashing of an
    /// upload's body, for a job about to run: [`upload_body`] does that once,
    /// and returns the bytes for the write, so they are not decoded twice.
    pub fn validate_before_write(&self) -> Result<(), ValidationErrors> {
        self.check(UploadBody::Later)
    }

    fn check(&self, upload_body: UploadBody) -> Result<(), ValidationErrors> {
        let mut errors = Collector::default();
        check_id(&mut errors, &self.id);
        if !is_rfc3339(&self.created_at) {
            errors.push(
                "created_at",
                "is not an RFC 3339 time such as `2026-11-28T04:21:00Z`",
            );
        }
        if let Some(not_before) = &self.not_before
            && !is_rfc3339(not_before)
        {
            errors.push(
                "not_before",
                "is not an RFC 3339 time such as `2026-11-28T04:21:00Z`",
            );
        }
        if let Some(expires_at) = &self.expires_at {
            match parse_rfc3339(expires_at) {
                None => errors.push(
                    "expires_at",
                    "is not an RFC 3339 time such as `2026-11-28T04:21:00Z`",
                ),
                Some(expiry) => {
                    if parse_rfc3339(&self.created_at).is_some_and(|created| expiry <= created) {
                        errors.push(
                            "expires_at",
                            format!("`{expires_at}` is not after `created_at` `{}`: the job could never start", self.created_at),
                        );
                    } else if let Some(due) = self.due_at().filter(|due| expiry <= *due) {
                        errors.push(
                            "expires_at",
                            format!(
                                "`{expires_at}` is not after `not_before` `{}`: the job would expire before it may start",
                                humantime::format_rfc3339_seconds(due)
                            ),
                        );
                    }
                }
            }
        }
        check_job(&mut errors, &self.job, upload_body);
        errors.finish()
    }
}

/// Whether an upload's body is decoded and hashed with the other checks, or
/// later by [`upload_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadBody {
    Check,
    Later,
}

/// Checks a job alone, without its envelope: the built-ins' rules, or a custom
/// kind's name (its payload is its handler's to read).
pub fn validate_job(job: &Job) -> Result<(), ValidationErrors> {
    let mut errors = Collector::default();
    check_job(&mut errors, job, UploadBody::Check);
    errors.finish()
}

/// Checks a mail job alone (field names as in an envelope: `job.to[0]`).
pub fn validate_mail(mail: &MailJob) -> Result<(), ValidationErrors> {
    let mut errors = Collector::default();
    check_mail(&mut errors, mail);
    errors.finish()
}

/// Checks an upload job alone (field names as in an envelope: `job.key`).
pub fn validate_upload(upload: &UploadJob) -> Result<(), ValidationErrors> {
    let mut errors = Collector::default();
    check_upload(&mut errors, upload, UploadBody::Check);
    errors.finish()
}

/// Checks where an object is written, and how, as an upload job's fields are
/// checked (field names as in an envelope: `job.key`), for bytes that travel
/// no other way.
pub fn validate_object(
    bucket: &str,
    key: &str,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
) -> Result<(), ValidationErrors> {
    let mut errors = Collector::default();
    check_object(&mut errors, bucket, key, content_type, metadata);
    errors.finish()
}

/// An upload's bytes, decoded from `job.body_base64` once and checked against
/// `job.sha256`, with that digest as S3 wants it: what is written to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBody {
    pub bytes: Vec<u8>,
    /// `x-amz-checksum-sha256`: base64 of the raw 32 bytes.
    pub sha256_base64: String,
}

/// The upload's [`CheckedBody`], or every way its body and digest are wrong.
pub fn upload_body(upload: &UploadJob) -> Result<CheckedBody, ValidationErrors> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut errors = Collector::default();
    let digest_ok = digest_is_hex(&upload.sha256);
    if !digest_ok {
        errors.push("job.sha256", DIGEST_FORMAT);
    }
    match upload.body() {
        Ok(bytes) => {
            let digest = sha2::Sha256::digest(&bytes);
            if digest_ok && hex::encode(digest) != upload.sha256 {
                errors.push(
                    "job.sha256",
                    "does not match the SHA-256 of `job.body_base64`",
                );
            }
            errors.finish().map(|()| CheckedBody {
                sha256_base64: base64::engine::general_purpose::STANDARD.encode(digest),
                bytes,
            })
        }
        Err(e) => {
            errors.push("job.body_base64", format!("is not standard base64: {e}"));
            Err(ValidationErrors(errors.0))
        }
    }
}

fn check_job(errors: &mut Collector, job: &Job, upload_body: UploadBody) {
    match job {
        Job::Mail(mail) => check_mail(errors, mail),
        Job::Upload(upload) => check_upload(errors, upload, upload_body),
        Job::Http(http) => {
            if let Err(e) = crate::contract::http::validate_http(http) {
                errors.0.extend(e.0);
            }
        }
        Job::Custom(custom) => {
            if let Err(e) = crate::contract::job_type::check_kind_name(&custom.kind) {
                errors.0.push(e);
            }
        }
    }
}

/// An RFC 3339 date-time: `2026-11-28T04:21:00Z`, with optional fractional
/// seconds and a `Z` or `±hh:mm` offset (Python's `isoformat()`, JavaScript's
/// `toISOString()`, Ruby's `iso8601` all qualify), on a date that exists.
pub fn is_rfc3339(value: &str) -> bool {
    parse_rfc3339(value).is_some()
}

/// Reads an RFC 3339 date-time (see [`is_rfc3339`]) as a point in time.
///
/// The shape is checked here, strictly (a date, `T`, a time with seconds, an
/// offset); the calendar and the arithmetic are `jiff`'s, which refuses a date
/// that does not exist, such as `2026-02-30`.
pub fn parse_rfc3339(value: &str) -> Option<SystemTime> {
    if !has_rfc3339_shape(value) {
        return None;
    }
    let timestamp: jiff::Timestamp = value.parse().ok()?;
    SystemTime::try_from(timestamp).ok()
}

/// `YYYY-MM-DDTHH:MM:SS`, optional `.fraction`, then `Z` or `±HH:MM` (`t` and
/// `z` in either case, as RFC 3339 allows).
fn has_rfc3339_shape(value: &str) -> bool {
    let bytes = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let fixed = bytes.len() >= 20
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && matches!(bytes[10], b'T' | b't')
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut rest = &bytes[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let count = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return false;
        }
        rest = &fraction[count..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// `DelaySeconds` must be 0–900.
pub fn check_delay(delay_seconds: u32) -> Result<(), FieldError> {
    if delay_seconds > MAX_DELAY_SECONDS {
        return Err(FieldError::new(
            "delay_seconds",
            format!("is {delay_seconds}; SQS allows 0 to {MAX_DELAY_SECONDS} seconds"),
        ));
    }
    Ok(())
}

fn check_id(errors: &mut Collector, id: &str) {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        errors.push("id", format!("must be 1 to {MAX_ID_CHARS} characters"));
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        errors.push(
            "id",
            "may hold only ASCII letters, digits, `-`, `_`, `.` and `:`",
        );
    }
}

fn check_mail(errors: &mut Collector, mail: &MailJob) {
    check_address(errors, "job.from", &mail.from);
    if mail.to.is_empty() {
        errors.push("job.to", "needs at least one recipient");
    }
    let recipients = mail.to.len() + mail.cc.len() + mail.bcc.len();
    if recipients > MAX_RECIPIENTS {
        errors.push(
            "job.to",
            format!("with `cc` and `bcc` has {recipients} recipients; SES allows at most {MAX_RECIPIENTS}"),
        );
    }
    for (name, list) in [
        ("job.to", &mail.to),
        ("job.cc", &mail.cc),
        ("job.bcc", &mail.bcc),
        ("job.reply_to", &mail.reply_to),
    ] {
        for (i, address) in list.iter().enumerate() {
            check_address(errors, &format!("{name}[{i}]"), address);
        }
    }
    if let Some(template) = &mail.template {
        check_template(errors, mail, template);
        return;
    }
    if mail.subject.trim().is_empty() {
        errors.push("job.subject", "is empty");
    } else if mail.subject.chars().count() > MAX_SUBJECT_CHARS {
        errors.push(
            "job.subject",
            format!("is longer than {MAX_SUBJECT_CHARS} characters"),
        );
    }
    check_header_safe(errors, "job.subject", &mail.subject);
    let has_text = mail.text.as_deref().is_some_and(|t| !t.is_empty());
    let has_html = mail.html.as_deref().is_some_and(|t| !t.is_empty());
    if !has_text && !has_html {
        errors.push("job.text", "or `job.html` is needed: the mail has no body");
    }
}

/// SES template names: 1–64 letters, digits, `-` and `_`; data at most 256 KiB of JSON.
fn check_template(errors: &mut Collector, mail: &MailJob, template: &MailTemplate) {
    if !mail.subject.is_empty() || mail.text.is_some() || mail.html.is_some() {
        errors.push(
            "job.template",
            "replaces `job.subject`, `job.text` and `job.html`: give the template or those, not both",
        );
    }
    let name_ok = (1..=MAX_TEMPLATE_NAME_CHARS).contains(&template.name.len())
        && template
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        errors.push(
            "job.template.name",
            format!("must be 1 to {MAX_TEMPLATE_NAME_CHARS} ASCII letters, digits, `-` or `_`"),
        );
    }
    let data_bytes = serde_json::Value::Object(template.data.clone())
        .to_string()
        .len();
    if data_bytes > MAX_TEMPLATE_DATA_BYTES {
        errors.push(
            "job.template.data",
            format!("is {data_bytes} bytes of JSON; SES takes at most {MAX_TEMPLATE_DATA_BYTES}"),
        );
    }
}

/// Header values must not carry CR or LF (header injection) nor other control characters.
fn check_header_safe(errors: &mut Collector, field: &str, value: &str) {
    if value.contains(['\r', '\n']) {
        errors.push(
            field,
            "contains a line break (CR or LF), which is not allowed in a header",
        );
    } else if let Some(c) = value.chars().find(|c| c.is_control()) {
        errors.push(
            field,
            format!(
                "contains the control character U+{:04X}, which is not allowed in a header",
                c as u32
            ),
        );
    }
}

fn check_address(errors: &mut Collector, field: &str, value: &str) {
    let before = errors.0.len();
    check_header_safe(errors, field, value);
    if errors.0.len() > before {
        return;
    }
    let address = match (value.find('<'), value.strip_suffix('>')) {
        (Some(open), Some(inner)) => {
            if value[..open].contains(['<', '>', '"']) {
                errors.push(
                    field,
                    format!("has a display name SES cannot read: `{value}`"),
                );
                return;
            }
            &inner[open + 1..]
        }
        (None, None) => value.trim(),
        _ => {
            errors.push(field, format!("is not an e-mail address: `{value}`"));
            return;
        }
    };
    if let Err(problem) = address_problem(address) {
        errors.push(
            field,
            format!("is not an e-mail address: `{value}` ({problem})"),
        );
    }
}

fn address_problem(address: &str) -> Result<(), &'static str> {
    if address.len() > 254 {
        return Err("longer than 254 characters");
    }
    let (local, domain) = address.rsplit_once('@').ok_or("no `@`")?;
    if local.is_empty() || local.len() > 64 {
        return Err("the part before `@` must be 1 to 64 characters");
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before `@` has characters an address cannot have");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs a dot");
    }
    let labels_ok = labels.iter().all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !labels_ok {
        return Err("the domain is not a valid host name");
    }
    Ok(())
}

fn check_object(
    errors: &mut Collector,
    bucket: &str,
    key: &str,
    content_type: Option<&str>,
    metadata: &BTreeMap<String, String>,
) {
    if let Err(problem) = bucket_problem(bucket) {
        errors.push(
            "job.bucket",
            format!("`{}` is not a valid S3 bucket name: {problem}", bucket),
        );
    }
    check_key(errors, key);
    if let Some(content_type) = content_type {
        let before = errors.0.len();
        check_header_safe(errors, "job.content_type", content_type);
        if errors.0.len() == before && !content_type.contains('/') {
            errors.push(
                "job.content_type",
                format!("`{content_type}` is not a media type such as `text/plain`"),
            );
        }
    }
    let mut metadata_bytes = 0;
    for (name, value) in metadata {
        let field = format!("job.metadata.{name}");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push(
                &field,
                "has a name S3 cannot store: use ASCII letters, digits, `-` and `_`",
            );
        }
        check_header_safe(errors, &field, value);
        if !value.is_ascii() {
            errors.push(&field, "must be ASCII (S3 sends metadata as HTTP headers)");
        }
        metadata_bytes += name.len() + value.len();
    }
    if metadata_bytes > MAX_METADATA_BYTES {
        errors.push(
            "job.metadata",
            format!("is {metadata_bytes} bytes; S3 allows {MAX_METADATA_BYTES}"),
        );
    }
}

fn check_upload(errors: &mut Collector, upload: &UploadJob, body: UploadBody) {
    check_object(
        errors,
        &upload.bucket,
        &upload.key,
        upload.content_type.as_deref(),
        &upload.metadata,
    );
    if let Some(source) = &upload.source {
        check_source(errors, upload, source);
        return;
    }
    match body {
        UploadBody::Check => {
            if let Err(body_errors) = upload_body(upload) {
                errors.0.extend(body_errors.0);
            }
        }
        UploadBody::Later => {
            if !digest_is_hex(&upload.sha256) {
                errors.push("job.sha256", DIGEST_FORMAT);
            }
        }
    }
}

/// An upload's `source`: an object S3 can copy, with a checksum in S3's
/// form, and no inline bytes beside it.
fn check_source(errors: &mut Collector, upload: &UploadJob, source: &UploadSource) {
    if !upload.body_base64.is_empty() || !upload.sha256.is_empty() {
        errors.push(
            "job.source",
            "cannot go with `job.body_base64` or `job.sha256`: an upload's bytes are inline or in S3, not both",
        );
    }
    if let Err(problem) = bucket_problem(&source.bucket) {
        errors.push(
            "job.source.bucket",
            format!(
                "`{}` is not a valid S3 bucket name: {problem}",
                source.bucket
            ),
        );
    }
    check_key_field(errors, "job.source.key", &source.key);
    if source.size > MAX_OBJECT_BYTES {
        errors.push(
            "job.source.size",
            format!(
                "is {} bytes; an S3 object is at most {MAX_OBJECT_BYTES} (5 TiB)",
                source.size
            ),
        );
    }
    let crc_ok = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &source.crc64nvme,
    )
    .is_ok_and(|raw| raw.len() == 8);
    if !crc_ok {
        errors.push(
            "job.source.crc64nvme",
            "must be a CRC64NVME as S3 gives it: base64 of 8 bytes, such as `AAAAAAAAAAA=`",
        );
    }
}

/// What a `job.sha256` that is not a SHA-256 in hex is told.
pub const DIGEST_FORMAT: &str = "must be 64 lowercase hex digits";

fn digest_is_hex(digest: &str) -> bool {
    digest.len() == 64
        && digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn check_key(errors: &mut Collector, key: &str) {
    check_key_field(errors, "job.key", key);
}

fn check_key_field(errors: &mut Collector, field: &str, key: &str) {
    if key.is_empty() {
        errors.push(field, "is empty");
        return;
    }
    if key.len() > MAX_KEY_BYTES {
        errors.push(
            field,
            format!("is {} bytes; S3 allows {MAX_KEY_BYTES}", key.len()),
        );
    }
    if key.starts_with('/') {
        errors.push(field, "starts with `/`");
    }
    if key
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        errors.push(field, "has a `.` or `..` path segment");
    }
    if key.chars().any(char::is_control) {
        errors.push(field, "contains a control character");
    }
}

/// General-purpose bucket naming rules.
fn bucket_problem(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("must be 3 to 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("only lowercase letters, digits, `.` and `-`");
    }
    let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
        return Err("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return Err("must not have two dots in a row");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("must not look like an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::envelope::{Envelope, Job, MailJob, UploadJob};

    fn mail(edit: impl FnOnce(&mut MailJob)) -> Envelope {
        let mut job = MailJob {
            from: "Shop <shop@example.com>".into(),
            to: vec!["ann@example.com".into()],
            subject: "Hello".into(),
            text: Some("hi".into()),
            ..MailJob::default()
        };
        edit(&mut job);
        Envelope::new(Job::Mail(job))
    }

    fn upload(edit: impl FnOnce(&mut UploadJob)) -> Envelope {
        let mut job = UploadJob::from_bytes("my-bucket", "reports/2026/11.csv", b"a,b\n1,2\n");
        edit(&mut job);
        Envelope::new(Job::Upload(job))
    }

    fn fields(envelope: &Envelope) -> Vec<String> {
        match envelope.validate() {
            Ok(()) => vec![],
            Err(errors) => errors.fields().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn good_jobs_pass() {
        assert_eq!(fields(&mail(|_| {})), Vec::<String>::new());
        assert_eq!(fields(&upload(|_| {})), Vec::<String>::new());
    }

    #[test]
    fn header_injection_is_refused_and_named() {
        let envelope = mail(|m| m.subject = "Hi\r\nBcc: victim@example.com".into());
        let errors = envelope.validate().expect_err("refused");
        assert_eq!(errors.0[0].field, "job.subject");
        assert!(errors.to_string().contains("line break"), "{errors}");
        assert_eq!(
            fields(&mail(|m| m.to[0] = "a@example.com\nBcc: x@y.z".into())),
            ["job.to[0]"]
        );
        assert_eq!(
            fields(&mail(|m| m.subject = "tab\u{7}".into())),
            ["job.subject"]
        );
    }

    #[test]
    fn recipients_are_counted_across_to_cc_and_bcc() {
        let envelope = mail(|m| {
            m.to = (0..20).map(|i| format!("to{i}@example.com")).collect();
            m.cc = (0..20).map(|i| format!("cc{i}@example.com")).collect();
            m.bcc = (0..10).map(|i| format!("bcc{i}@example.com")).collect();
        });
        assert_eq!(fields(&envelope), Vec::<String>::new());
        let envelope = mail(|m| m.to = (0..51).map(|i| format!("to{i}@example.com")).collect());
        assert_eq!(fields(&envelope), ["job.to"]);
    }

    #[test]
    fn addresses_are_checked() {
        for bad in [
            "",
            "nobody",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@-b.com",
            "<a@b.com",
            "x <y> <a@b.com>",
        ] {
            assert_eq!(
                fields(&mail(|m| m.from = bad.into())),
                ["job.from"],
                "{bad:?}"
            );
        }
        assert_eq!(
            fields(&mail(|m| m.reply_to = vec!["nope".into()])),
            ["job.reply_to[0]"]
        );
        assert_eq!(
            fields(&mail(|m| m.cc = vec!["ok@example.com".into(), "bad".into()])),
            ["job.cc[1]"]
        );
    }

    #[test]
    fn mail_needs_a_subject_recipient_and_body() {
        assert_eq!(
            fields(&mail(|m| {
                m.to.clear();
                m.subject = " ".into();
                m.text = None;
            })),
            ["job.to", "job.subject", "job.text"]
        );
        assert_eq!(
            fields(&mail(|m| {
                m.text = None;
                m.html = Some("<p>hi</p>".into());
            })),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_template_replaces_subject_and_body() {
        let template = || {
            Some(crate::contract::envelope::MailTemplate {
                name: "purchase-reminder".into(),
                data: serde_json::json!({"product_id": 42})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            })
        };
        let templated = |edit: fn(&mut MailJob)| {
            mail(|m| {
                m.subject.clear();
                m.text = None;
                m.template = template();
                edit(m);
            })
        };
        assert_eq!(fields(&templated(|_| {})), Vec::<String>::new());
        assert_eq!(
            fields(&templated(|m| m.subject = "also".into())),
            ["job.template"]
        );
        assert_eq!(
            fields(&templated(|m| m.html = Some("<p>also</p>".into()))),
            ["job.template"]
        );
        assert_eq!(
            fields(&templated(|m| {
                if let Some(t) = &mut m.template {
                    t.name = "has space".into();
                }
            })),
            ["job.template.name"]
        );
        let envelope = templated(|m| {
            if let Some(t) = &mut m.template {
                t.data.insert("big".into(), "x".repeat(300_000).into());
            }
        });
        assert_eq!(fields(&envelope), ["job.template.data"]);
    }

    #[test]
    fn s3_key_rules() {
        for bad in [
            "",
            "/abs",
            "a/../b",
            "../up",
            "a/./b",
            "tab\there",
            &"k".repeat(1025),
        ] {
            assert_eq!(
                fields(&upload(|u| u.key = bad.into())),
                ["job.key"],
                "{bad:?}"
            );
        }
        assert_eq!(
            fields(&upload(|u| u.key = "a..b/c.d".into())),
            Vec::<String>::new()
        );
        assert_eq!(
            fields(&upload(|u| u.key = "k".repeat(1024))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn upload_fields_are_checked() {
        assert_eq!(
            fields(&upload(|u| u.bucket = "My_Bucket".into())),
            ["job.bucket"]
        );
        assert_eq!(
            fields(&upload(|u| u.bucket = "192.168.1.1".into())),
            ["job.bucket"]
        );
        assert_eq!(
            fields(&upload(|u| u.content_type = Some("text\r\nX: y".into()))),
            ["job.content_type"]
        );
        assert_eq!(
            fields(&upload(|u| {
                u.metadata.insert("bad name".into(), "v".into());
            })),
            ["job.metadata.bad name"]
        );
        assert_eq!(
            fields(&upload(|u| u.sha256 = "0".repeat(64))),
            ["job.sha256"]
        );
        assert_eq!(fields(&upload(|u| u.sha256 = "XYZ".into())), ["job.sha256"]);
        assert_eq!(
            fields(&upload(|u| u.body_base64 = "***".into())),
            ["job.body_base64"]
        );
    }

    #[test]
    fn an_upload_about_to_run_has_its_body_checked_once_as_it_is_decoded() {
        let field_names = |errors: ValidationErrors| -> Vec<String> {
            errors.fields().map(str::to_owned).collect()
        };
        let wrong_digest = upload(|u| u.sha256 = "0".repeat(64));
        let bad_base64 = upload(|u| u.body_base64 = "***".into());
        for envelope in [&wrong_digest, &bad_base64] {
            assert_eq!(envelope.validate_before_write(), Ok(()));
        }
        // Every other rule still holds before the write.
        let unreadable_digest = upload(|u| u.sha256 = "XYZ".into());
        let bad_bucket = upload(|u| u.bucket = "My_Bucket".into());
        for (envelope, field) in [
            (&unreadable_digest, "job.sha256"),
            (&bad_bucket, "job.bucket"),
        ] {
            let errors = envelope.validate_before_write().expect_err(field);
            assert_eq!(field_names(errors), [field]);
        }

        let Job::Upload(good) = upload(|_| {}).job else {
            unreachable!("an upload")
        };
        let body = upload_body(&good).expect("good body");
        assert_eq!(body.bytes, b"a,b\n1,2\n");
        assert_eq!(Some(body.sha256_base64), good.sha256_base64());
        for (envelope, field) in [
            (wrong_digest, "job.sha256"),
            (bad_base64, "job.body_base64"),
        ] {
            let Job::Upload(job) = envelope.job else {
                unreachable!("an upload")
            };
            let errors = upload_body(&job).expect_err(field);
            assert_eq!(field_names(errors), [field]);
        }
    }

    #[test]
    fn envelope_fields_are_checked() {
        assert_eq!(fields(&mail(|_| {}).with_id("has space")), ["id"]);
        assert_eq!(fields(&mail(|_| {}).with_id("")), ["id"]);
        let mut envelope = mail(|_| {});
        envelope.created_at = "yesterday".into();
        assert_eq!(fields(&envelope), ["created_at"]);
    }

    #[test]
    fn an_expiry_is_a_time_after_the_job_may_start() {
        let at = |created_at: &str, not_before: Option<&str>, expires_at: &str| {
            let mut envelope = mail(|_| {});
            envelope.created_at = created_at.into();
            envelope.not_before = not_before.map(str::to_owned);
            envelope.expires_at = Some(expires_at.into());
            envelope
        };
        let created = "2026-12-08T10:00:00Z";
        assert!(fields(&at(created, None, "2026-12-08T11:00:00Z")).is_empty());
        assert!(
            fields(&at(
                created,
                Some("2026-12-08T10:30:00Z"),
                "2026-12-08T11:00:00Z"
            ))
            .is_empty()
        );
        for (not_before, expires_at) in [
            (None, "in an hour"),
            (None, "2026-12-08T10:00:00Z"),
            (None, "2026-12-08T09:00:00Z"),
            (Some("2026-12-08T12:00:00Z"), "2026-12-08T11:00:00Z"),
        ] {
            let envelope = at(created, not_before, expires_at);
            assert_eq!(fields(&envelope), ["expires_at"], "{expires_at}");
        }
        let late = at(created, None, "2026-12-08T11:00:00Z");
        let decoded = Envelope::decode(&late.to_json()).expect("decodes");
        assert_eq!(decoded.expires_at.as_deref(), Some("2026-12-08T11:00:00Z"));
        assert!(!decoded.is_expired_at(parse_rfc3339("2026-12-08T10:59:59Z").expect("a time")));
        assert!(decoded.is_expired_at(parse_rfc3339("2026-12-08T11:00:00Z").expect("a time")));
    }

    #[test]
    fn created_at_takes_what_common_languages_write() {
        for good in [
            "2026-11-28T04:21:00Z",
            "2026-11-28T04:21:00.123Z",
            "2026-11-28T04:21:00+00:00",
            "2026-11-28T05:21:00.123456+01:00",
            "2026-11-28T04:21:00-08:00",
            "2028-02-29T00:00:00Z",
            "2026-11-28t04:21:00z",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-11-28",
            "2026-11-28 04:21:00Z",
            "2026-13-28T04:21:00Z",
            "2026-11-28T24:21:00Z",
            "2026-11-28T04:21:00",
            "2026-11-28T04:21:00.Z",
            "2026-11-28T04:21:00+0100",
            "2026-02-30T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T12:00:00Z",
            "2026-11-28T04:21Z",
            "2026-11-28T04:21:00Z[Europe/Paris]",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn rfc3339_times_read_as_the_right_instant() {
        let at = |s: &str| {
            parse_rfc3339(s)
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| (d.as_secs(), d.subsec_millis()))
        };
        assert_eq!(at("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(at("2000-02-29T12:00:00Z"), Some((951_825_600, 0)));
        assert_eq!(at("2026-11-28T04:21:00.250Z"), Some((1_795_839_660, 250)));
        assert_eq!(at("2026-11-28T05:21:00+01:00"), Some((1_795_839_660, 0)));
        assert_eq!(at("2026-11-27T20:21:00-08:00"), Some((1_795_839_660, 0)));
        assert_eq!(
            at("1969-12-31T23:59:59Z"),
            None,
            "before 1970 is no time for a job"
        );
    }

    #[test]
    fn delay_range() {
        assert!(check_delay(0).is_ok());
        assert!(check_delay(900).is_ok());
        let err = check_delay(901).expect_err("too long");
        assert_eq!(err.field, "delay_seconds");
    }
}
