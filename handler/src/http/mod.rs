//! HTTP calls as jobs: the built-in `http` kind and `Context::http`.
//!
//! One client makes every call, with the same guards:
//! - the host is resolved once ([`Resolve`], replaceable in tests), every
//!   address is checked ([`guard`]), and the connection goes to a checked
//!   address, so a name cannot be re-pointed (DNS rebinding) between the check
//!   and the connection;
//! - no proxy: `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` are not read, since
//!   a proxy is another address;
//! - TLS is checked against Mozilla's roots, compiled in;
//! - redirects are followed, at most [`MAX_REDIRECTS`], each through the same
//!   checks, and only within the URL's origin unless the job says
//!   `follow_redirects: any_origin`; then a hop to another origin carries none
//!   of the job's headers and no signature;
//! - every try carries `Idempotency-Key: <job id>`, and a signed call the
//!   Standard Webhooks headers ([`sign`]);
//! - the whole call, redirects included, has the job's timeout, cut to the
//!   Lambda invocation's time left.
//!
//! Each call opens its own connection (no pool): a job's calls go to many
//! sites, and a pooled connection would outlive the address check it passed.

//!
//! The calls themselves, the TLS stack and the signing secrets' reads are the
//! `http` cargo feature (on by default). A handler built without it runs no
//! `http` job and makes no `cx.http` call: each fails for good as
//! `http_disabled`, and the binary carries none of that code.

#[cfg(feature = "http")]
mod client;
pub mod guard;
#[cfg(feature = "http")]
pub mod sign;
#[cfg(feature = "http")]
pub mod ssm;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use producer::aws::ErrorClass;
use producer::contract::http::{HttpJob, Target, parse_url};

pub use http::{HeaderMap, HeaderValue};

use crate::error::JobError;
use guard::AllowList;

/// The setting that limits which parameters jobs may name as their signing
/// secret.
pub const SECRETS_PREFIX_ENV: &str = "JOBS_HTTP_SECRETS_PREFIX";
/// Redirects followed before a call gives up.
pub const MAX_REDIRECTS: usize = 5;
/// The most of an answer's body `Context::http` returns; the rest is not read.
pub const MAX_BODY_KEPT: usize = 1 << 20;
/// How much of an answer a failure's reason quotes.
pub const SNIPPET_BYTES: usize = 300;
/// A saved body goes to S3 in one `PutObject` up to this size, else in parts of it.
pub const SAVE_PART_BYTES: usize = 8 << 20;
/// Kept free of a Lambda invocation's time left, to report the outcome.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Resolves host names for calls. The default asks the system's resolver;
/// tests give one of their own, so that no lookup leaves the machine.
pub trait Resolve: Send + Sync + fmt::Debug {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, port))
                .await?
                .map(|address| address.ip())
                .collect())
        })
    }
}

/// What the calls may reach, and how names are resolved.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Networks allowed past the default rules (`JOBS_HTTP_ALLOW`).
    pub allow: AllowList,
    /// The SSM path signing secrets must be under (`JOBS_HTTP_SECRETS_PREFIX`);
    /// `None` leaves it to IAM alone.
    pub secrets_prefix: Option<String>,
    pub resolver: Arc<dyn Resolve>,
}

/// Two settings are the same when they allow the same networks and secrets
/// (the resolver is not compared).
impl PartialEq for HttpSettings {
    fn eq(&self, other: &Self) -> bool {
        self.allow == other.allow && self.secrets_prefix == other.secrets_prefix
    }
}

impl Eq for HttpSettings {}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            allow: AllowList::default(),
            secrets_prefix: None,
            resolver: Arc::new(SystemResolver),
        }
    }
}

impl HttpSettings {
    /// Reads `JOBS_HTTP_ALLOW` and `JOBS_HTTP_SECRETS_PREFIX`.
    pub fn from_env() -> Result<Self, String> {
        let allow = std::env::var(guard::ALLOW_ENV).unwrap_or_default();
        let allow = AllowList::parse(&allow).map_err(|e| format!("`{}`: {e}", guard::ALLOW_ENV))?;
        let secrets_prefix = std::env::var(SECRETS_PREFIX_ENV)
            .ok()
            .filter(|prefix| !prefix.is_empty());
        if let Some(prefix) = &secrets_prefix
            && !prefix.starts_with('/')
        {
            return Err(format!(
                "`{}` must be an SSM path such as `/jobs/webhooks/`, not `{prefix}`",
                SECRETS_PREFIX_ENV
            ));
        }
        Ok(HttpSettings {
            allow,
            secrets_prefix,
            ..HttpSettings::default()
        })
    }
}

/// The client of every call, built once per process.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub struct HttpClient {
    allow: AllowList,
    resolver: Arc<dyn Resolve>,
    #[cfg(feature = "http")]
    secrets: sign::Secrets,
}

/// What a call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The body, up to [`MAX_BODY_KEPT`] bytes (empty when saved to S3).
    pub body: Vec<u8>,
    /// True when the body was longer than what `body` holds.
    pub truncated: bool,
    /// Where the body was written, when the call named `save_to`.
    pub saved: Option<Saved>,
}

impl HttpResponse {
    /// An answer with `status` and `body` and no headers: what the testing
    /// helpers give a recorded call.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: http::HeaderMap::new(),
            body: body.into(),
            truncated: false,
            saved: None,
        }
    }
}

/// A body written to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub bucket: String,
    pub key: String,
    pub bytes: u64,
    /// SHA-256 of the whole body, 64 lowercase hex digits.
    pub sha256: String,
}

impl HttpClient {
    /// A client whose signing secrets are read with the credentials and
    /// endpoints of `config`.
    pub fn new(settings: HttpSettings, config: &aws_config::SdkConfig) -> Self {
        #[cfg(not(feature = "http"))]
        let _ = config;
        HttpClient {
            allow: settings.allow,
            resolver: settings.resolver,
            #[cfg(feature = "http")]
            secrets: sign::Secrets::new(config, settings.secrets_prefix),
        }
    }

    /// Makes the call of `job` for the job `job_id`, within `time_left`, and
    /// sorts its answer: an `Ok` is a success; a failure says whether a retry
    /// can help, and when (`Retry-After`). A handler built without its `http`
    /// feature makes no call: every one fails for good as `http_disabled`.
    pub async fn call(
        &self,
        job: &HttpJob,
        job_id: &str,
        time_left: Option<Duration>,
        s3: &aws_sdk_s3::Client,
    ) -> Result<HttpResponse, JobError> {
        #[cfg(feature = "http")]
        {
            self.call_over_the_network(job, job_id, time_left, s3).await
        }
        #[cfg(not(feature = "http"))]
        {
            let _ = (job, job_id, time_left, s3);
            Err(http_error(
                "http_disabled",
                ErrorClass::Permanent,
                None,
                "this handler was built without the `handler` crate's `http` feature: it makes no HTTP calls".into(),
            ))
        }
    }
}

/// The failure an answer that is not a success makes: transient for 408, 425,
/// 429 and 5xx (no sooner than their `Retry-After`), else permanent, with the
/// status and the start of the body in its reason.
pub(crate) fn status_error(job: &HttpJob, answer: &HttpResponse) -> JobError {
    match parse_url(&job.url) {
        Ok(target) => answer_error(job, &target, answer),
        Err(problem) => JobError::permanent(problem),
    }
}

fn answer_error(job: &HttpJob, target: &Target, answer: &HttpResponse) -> JobError {
    let status = answer.status;
    let transient = matches!(status, 408 | 425 | 429) || (500..600).contains(&status);
    let retry_after = if transient {
        answer
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()))
    } else {
        None
    };
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut message = format!(
        "`{} {}` answered {status} {reason}",
        job.method,
        target.redacted()
    );
    let start = &answer.body[..answer.body.len().min(SNIPPET_BYTES)];
    let snippet = snippet(start);
    if !snippet.is_empty() {
        message.push_str(": ");
        message.push_str(&snippet);
    }
    if let Some(wait) = retry_after {
        message.push_str(&format!(" (Retry-After: {} s)", wait.as_secs()));
    }
    JobError::Http {
        code: "http_status",
        class: if transient {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        },
        status: Some(status),
        message,
        retry_after,
    }
}

fn http_error(
    code: &'static str,
    class: ErrorClass,
    status: Option<u16>,
    message: String,
) -> JobError {
    JobError::Http {
        code,
        class,
        status,
        message,
        retry_after: None,
    }
}

/// The start of an answer, as text a reason can carry.
fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A `Retry-After` value (RFC 9110 §10.2.3): seconds, or an HTTP date.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        assert_eq!(retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }

    #[test]
    fn a_snippet_is_one_line_of_text() {
        assert_eq!(
            snippet(b"{\"error\":\n\"gone\"}\r\n"),
            "{\"error\": \"gone\"}"
        );
        assert_eq!(snippet(&[0xff, b'o', b'k']), "\u{fffd}ok");
    }
}
