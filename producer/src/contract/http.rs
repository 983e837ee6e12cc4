//! The built-in `http` kind: one call to another site, made by the handler.
//!
//! ```
//! use producer::contract::http::{HttpBody, HttpJob};
//!
//! let job = HttpJob::post("https://partner.example/hooks/orders")
//!     .json(&serde_json::json!({"order": 42}))
//!     .header("x-shop", "north")
//!     .signed_with("ssm:/jobs/webhooks/partner");
//! assert!(producer::contract::http::validate_http(&job).is_ok());
//! ```
//!
//! The handler checks every address the host resolves to before it connects
//! (no loopback, private, link-local or metadata addresses unless
//! `JOBS_HTTP_ALLOW` names them), sends `Idempotency-Key: <job id>` on every try,
//! signs the body as Standard Webhooks when `sign_with` names a secret, and
//! sorts the answer: 2xx (or a listed status) is done; 408, 425, 429 and 5xx
//! are retried no sooner than their `Retry-After`; any other status is
//! dead-lettered with the status and the start of the answer.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::contract::validate::{FieldError, ValidationErrors};

pub const HTTP_KIND: &str = "http";
/// The timeout of a call when the job gives none.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;
/// A Lambda invocation lasts at most 15 minutes.
pub const MAX_TIMEOUT_SECONDS: u32 = 900;
pub const MAX_URL_BYTES: usize = 8192;
pub const MAX_HEADERS: usize = 64;
/// The methods a job may use.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// The `User-Agent` of every call.
pub const USER_AGENT: &str = concat!("jobs-handler/", env!("CARGO_PKG_VERSION"));
/// What a signing secret reference starts with.
pub const SECRET_SCHEME: &str = "ssm:";

/// Headers a job may not set: hop-by-hop headers (RFC 9110 §7.6.1), the ones
/// the connection itself decides, and the ones the handler sets on every try.
pub const RESERVED_HEADERS: [&str; 16] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "idempotency-key",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// One HTTP call. `cx.http(…)` in a job of one's own takes the same value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpJob {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`.
    #[serde(default = "default_method")]
    pub method: String,
    /// `https://…`, or `http://…` to an address `JOBS_HTTP_ALLOW` allows. No
    /// user name or password in it, no `#fragment`.
    pub url: String,
    /// Sent as they are; names are HTTP tokens, values have no line breaks.
    /// `Host`, hop-by-hop headers, `Content-Length`, `Content-Type` (see
    /// `body.content_type`) and the headers the handler sets are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<HttpBody>,
    /// 1 to 900 seconds for the whole call, redirects included (30 when not
    /// given); never past the Lambda invocation's time left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Statuses that count as done besides any 2xx (such as 404 for a DELETE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub success_statuses: Vec<u16>,
    /// Signs the call as Standard Webhooks with the secret this names:
    /// `ssm:/path` for an SSM SecureString, or
    /// `ssm:/aws/reference/secretsmanager/NAME` for a Secrets Manager secret.
    /// The secret itself never travels in the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_with: Option<String>,
    /// Writes the answer's body to S3 (streamed, with its SHA-256) when the
    /// call succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_to: Option<SaveTo>,
    /// Which redirects are followed: within the URL's origin (scheme, host
    /// and port) by default; `any_origin` follows them to other sites too,
    /// without the job's headers and signature.
    /// `same_origin` (the default) or `any_origin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<String>,
}

/// `follow_redirects` for redirects within the URL's origin only (the
/// default): a redirect elsewhere fails for good (`http_redirect_refused`).
pub const SAME_ORIGIN: &str = "same_origin";
/// `follow_redirects` for redirects to other origins too. Crossing to another
/// origin drops every header the job set and the signature: they were meant
/// for the first site.
pub const ANY_ORIGIN: &str = "any_origin";

fn default_method() -> String {
    "POST".into()
}

/// A request body: `text` (UTF-8) or `base64` (any bytes), not both.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Standard base64 with padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// The `Content-Type` header, such as `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// Where a successful answer's body goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveTo {
    pub bucket: String,
    pub key: String,
}

impl HttpJob {
    /// A call of `method` to `url`, with nothing else set.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        HttpJob {
            method: method.into(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            timeout_seconds: None,
            success_statuses: Vec::new(),
            sign_with: None,
            save_to: None,
            follow_redirects: None,
        }
    }

    /// Follows redirects to other origins too (see [`FollowRedirects::AnyOrigin`]).
    pub fn following_redirects_to_any_origin(mut self) -> Self {
        self.follow_redirects = Some(ANY_ORIGIN.into());
        self
    }

    /// Whether a redirect to another origin is followed (`any_origin`).
    pub fn follows_redirects_anywhere(&self) -> bool {
        self.follow_redirects.as_deref() == Some(ANY_ORIGIN)
    }

    pub fn get(url: impl Into<String>) -> Self {
        HttpJob::new("GET", url)
    }

    pub fn post(url: impl Into<String>) -> Self {
        HttpJob::new("POST", url)
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// A JSON body (`application/json`).
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.text_body(value.to_string(), "application/json")
    }

    pub fn text_body(mut self, text: impl Into<String>, content_type: impl Into<String>) -> Self {
        self.body = Some(HttpBody {
            text: Some(text.into()),
            base64: None,
            content_type: Some(content_type.into()),
        });
        self
    }

    pub fn bytes_body(mut self, bytes: &[u8], content_type: impl Into<String>) -> Self {
        self.body = Some(HttpBody {
            text: None,
            base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            content_type: Some(content_type.into()),
        });
        self
    }

    pub fn timeout_seconds(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    pub fn success_status(mut self, status: u16) -> Self {
        self.success_statuses.push(status);
        self
    }

    /// Signs with the secret `reference` names (`ssm:/path`).
    pub fn signed_with(mut self, reference: impl Into<String>) -> Self {
        self.sign_with = Some(reference.into());
        self
    }

    pub fn save_to(mut self, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        self.save_to = Some(SaveTo {
            bucket: bucket.into(),
            key: key.into(),
        });
        self
    }

    /// The body's bytes (empty without a body).
    pub fn body_bytes(&self) -> Result<Vec<u8>, FieldError> {
        match &self.body {
            None => Ok(Vec::new()),
            Some(HttpBody {
                text: Some(text), ..
            }) => Ok(text.clone().into_bytes()),
            Some(HttpBody {
                base64: Some(encoded),
                ..
            }) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| {
                    FieldError::new("job.body.base64", format!("is not standard base64: {e}"))
                }),
            Some(_) => Ok(Vec::new()),
        }
    }

    /// The call's time limit.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(
            self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        ))
    }

    /// True when `status` means the call did its work.
    pub fn succeeded(&self, status: u16) -> bool {
        (200..300).contains(&status) || self.success_statuses.contains(&status)
    }

    /// The SSM parameter name `sign_with` refers to.
    pub fn secret_parameter(&self) -> Option<&str> {
        self.sign_with
            .as_deref()
            .and_then(|reference| reference.strip_prefix(SECRET_SCHEME))
    }

    /// Every header of the request but the signature's, in the order sent:
    /// the job's own, `Content-Type`, `Idempotency-Key` (the job id, the same
    /// on every try) and, for a signed call, `webhook-id`. What
    /// `jobs enqueue http --dry-run` shows, and what the handler sends.
    pub fn planned_headers(&self, job_id: &str) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect();
        if let Some(content_type) = self.body.as_ref().and_then(|b| b.content_type.as_ref()) {
            headers.push(("content-type".into(), content_type.clone()));
        }
        headers.push(("idempotency-key".into(), job_id.to_owned()));
        if self.sign_with.is_some() {
            headers.push(("webhook-id".into(), job_id.to_owned()));
        }
        headers
    }
}

/// The `Content-Length` a request of `method` carries: with a body, and with
/// an empty one for the methods that expect a body.
pub fn content_length(method: &str, body_len: usize) -> Option<usize> {
    (body_len > 0 || matches!(method, "POST" | "PUT" | "PATCH")).then_some(body_len)
}

/// The parts of an absolute `http` or `https` URL the handler needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// A host name, or an IP address (IPv6 without its brackets).
    pub host: String,
    pub port: u16,
    /// The path and query, `/` when empty: what goes on the request line.
    pub path_and_query: String,
}

impl Target {
    /// `scheme://host[:port]/path`, without the query (which may hold a token):
    /// what logs and dead letters show of a URL.
    pub fn redacted(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.https { 443 } else { 80 };
        let port = if self.port == default_port {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        let path = self
            .path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path);
        format!("{scheme}://{host}{port}{path}")
    }

    /// The value of the `Host` header.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Reads an absolute URL, refusing what a job must not send: another scheme,
/// credentials in the URL, a fragment, spaces or control characters.
pub fn parse_url(url: &str) -> Result<Target, String> {
    // Reasons quote the URL without its query, which may hold a token.
    let shown = url.split('?').next().unwrap_or_default();
    if url.len() > MAX_URL_BYTES {
        return Err(format!("is {} bytes; at most {MAX_URL_BYTES}", url.len()));
    }
    if let Some(c) = url.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("contains U+{:04X}; encode it as `%XX`", c as u32));
    }
    if url.contains('#') {
        return Err("has a `#fragment`, which is never sent".into());
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        Some(other) => return Err(format!("has the scheme `{other}`; only `https` and `http`")),
        None => {
            return Err(format!(
                "`{shown}` is not an absolute URL such as `https://example.com/hook`"
            ));
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("`{shown}` has no host"))?;
    if authority.as_str().contains('@') {
        return Err("carries a user name or password; send them in a header instead".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{shown}` has no host"));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query.to_owned()
    } else {
        format!("/{path_and_query}")
    };
    Ok(Target {
        https,
        host: host.to_ascii_lowercase(),
        port,
        path_and_query,
    })
}

/// True for an HTTP token (RFC 9110 §5.6.2), what a header name must be.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Every rule of an `http` job, with field paths as in an envelope (`job.url`).
pub fn validate_http(job: &HttpJob) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    let mut push = |field: &str, problem: String| errors.push(FieldError::new(field, problem));
    if !METHODS.contains(&job.method.as_str()) {
        push(
            "job.method",
            format!("`{}` is not one of {}", job.method, METHODS.join(", ")),
        );
    }
    if let Err(problem) = parse_url(&job.url) {
        push("job.url", problem);
    }
    if job.headers.len() > MAX_HEADERS {
        push(
            "job.headers",
            format!("has {} headers; at most {MAX_HEADERS}", job.headers.len()),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in &job.headers {
        let field = format!("job.headers.{name}");
        let lower = name.to_ascii_lowercase();
        if !is_token(name) {
            push(
                &field,
                "is not a header name (letters, digits and `!#$%&'*+-.^_`|~`)".into(),
            );
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            let why = match lower.as_str() {
                "content-type" => "is set by `job.body.content_type`",
                "idempotency-key" | "webhook-id" | "webhook-timestamp" | "webhook-signature" => {
                    "is set by the handler on every try"
                }
                "host" | "content-length" => "is set from the URL and the body",
                _ => "is a hop-by-hop header, which a job may not set",
            };
            push(&field, why.into());
        } else if !seen.insert(lower) {
            push(&field, "is given twice (header names ignore case)".into());
        }
        if value.contains(['\r', '\n']) {
            push(
                &field,
                "contains a line break (CR or LF), which is not allowed in a header".into(),
            );
        } else if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
            push(
                &field,
                format!(
                    "contains the control character U+{:04X}, which is not allowed in a header",
                    c as u32
                ),
            );
        }
    }
    if let Some(body) = &job.body {
        match (&body.text, &body.base64) {
            (Some(_), Some(_)) => push("job.body", "has both `text` and `base64`; give one".into()),
            (None, None) => push("job.body", "has neither `text` nor `base64`".into()),
            _ => {}
        }
        if body.base64.is_some()
            && let Err(e) = job.body_bytes()
        {
            errors.push(e);
        }
        if let Some(content_type) = &body.content_type
            && (content_type.contains(['\r', '\n'])
                || content_type.chars().any(char::is_control)
                || !content_type.contains('/'))
        {
            errors.push(FieldError::new(
                "job.body.content_type",
                format!("`{content_type}` is not a media type such as `application/json`"),
            ));
        }
        if matches!(job.method.as_str(), "GET" | "HEAD") {
            errors.push(FieldError::new(
                "job.body",
                format!("is not sent with `{}`; use POST, PUT or PATCH", job.method),
            ));
        }
    }
    if let Some(seconds) = job.timeout_seconds
        && !(1..=MAX_TIMEOUT_SECONDS).contains(&seconds)
    {
        errors.push(FieldError::new(
            "job.timeout_seconds",
            format!("is {seconds}; give 1 to {MAX_TIMEOUT_SECONDS}"),
        ));
    }
    for (i, status) in job.success_statuses.iter().enumerate() {
        if !(100..=599).contains(status) {
            errors.push(FieldError::new(
                format!("job.success_statuses[{i}]"),
                format!("`{status}` is not an HTTP status (100 to 599)"),
            ));
        }
    }
    if let Some(reference) = &job.sign_with {
        let valid = reference.strip_prefix(SECRET_SCHEME).is_some_and(|path| {
            path.starts_with('/')
                && path.len() <= 2048
                && path[1..]
                    .split('/')
                    .all(|segment| !matches!(segment, "" | "." | ".."))
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
        });
        if !valid {
            errors.push(FieldError::new(
                "job.sign_with",
                format!(
                    "`{reference}` is not a secret reference such as `ssm:/jobs/webhooks/partner` \
                     or `ssm:/aws/reference/secretsmanager/NAME` (no empty, `.` or `..` segment)"
                ),
            ));
        }
    }
    if let Some(follow) = job
        .follow_redirects
        .as_deref()
        .filter(|f| ![SAME_ORIGIN, ANY_ORIGIN].contains(f))
    {
        errors.push(FieldError::new(
            "job.follow_redirects",
            format!("`{follow}` is neither `{SAME_ORIGIN}` nor `{ANY_ORIGIN}`"),
        ));
    }
    if let Some(save_to) = &job.save_to {
        if matches!(job.method.as_str(), "HEAD") {
            errors.push(FieldError::new(
                "job.save_to",
                "has nothing to save: a HEAD answer has no body",
            ));
        }
        if let Err(object) = crate::contract::validate::validate_object(
            &save_to.bucket,
            &save_to.key,
            None,
            &BTreeMap::new(),
        ) {
            errors.extend(object.0.into_iter().map(|e| FieldError {
                field: e.field.replacen("job.", "job.save_to.", 1),
                problem: e.problem,
            }));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(job: &HttpJob) -> Vec<String> {
        validate_http(job)
            .err()
            .map(|e| e.0.into_iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_plain_webhook_is_valid_and_names_its_headers() {
        let job = HttpJob::post("https://partner.example/hooks?token=x")
            .json(&serde_json::json!({"a": 1}))
            .header("X-Shop", "north")
            .signed_with("ssm:/jobs/webhooks/partner");
        assert_eq!(fields(&job), Vec::<String>::new());
        assert_eq!(
            job.planned_headers("job-1"),
            [
                ("x-shop".to_owned(), "north".to_owned()),
                ("content-type".into(), "application/json".into()),
                ("idempotency-key".into(), "job-1".into()),
                ("webhook-id".into(), "job-1".into()),
            ]
        );
        assert_eq!(job.secret_parameter(), Some("/jobs/webhooks/partner"));
    }

    #[test]
    fn urls_are_read_strictly_and_shown_without_their_query() {
        let target = parse_url("https://Partner.example:8443/a/b?token=secret").expect("url");
        assert_eq!(target.host, "partner.example");
        assert_eq!(target.port, 8443);
        assert_eq!(target.path_and_query, "/a/b?token=secret");
        assert_eq!(target.redacted(), "https://partner.example:8443/a/b");
        let v6 = parse_url("http://[::1]:9000").expect("v6");
        assert_eq!((v6.host.as_str(), v6.path_and_query.as_str()), ("::1", "/"));
        assert_eq!(v6.host_header(), "[::1]:9000");
        for bad in [
            "ftp://example.com/",
            "//example.com/x",
            "/relative",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "https://example.com/a b",
            "https://example.com/\r\nX: y",
            "https:///path",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn headers_that_could_split_or_steer_a_request_are_refused_by_name() {
        let job = HttpJob::post("https://example.com/")
            .header("X-Ok", "fine\tvalue")
            .header("Host", "metadata.internal")
            .header("Transfer-Encoding", "chunked")
            .header("X-Split", "a\r\nInjected: yes")
            .header("bad name", "x")
            .header("Idempotency-Key", "mine")
            .header("content-type", "text/plain")
            .header("x-ok", "again");
        assert_eq!(
            fields(&job),
            [
                "job.headers.Host",
                "job.headers.Idempotency-Key",
                "job.headers.Transfer-Encoding",
                "job.headers.X-Split",
                "job.headers.bad name",
                "job.headers.content-type",
                "job.headers.x-ok",
            ]
        );
    }

    #[test]
    fn every_other_field_names_its_problem() {
        let mut job = HttpJob::new("FETCH", "gopher://x/");
        job.body = Some(HttpBody {
            text: Some("a".into()),
            base64: Some("b".into()),
            content_type: Some("json".into()),
        });
        job.timeout_seconds = Some(0);
        job.success_statuses = vec![200, 99];
        job.sign_with = Some("arn:aws:ssm:x".into());
        job.save_to = Some(SaveTo {
            bucket: "Bad_Bucket".into(),
            key: String::new(),
        });
        let found = fields(&job);
        for field in [
            "job.method",
            "job.url",
            "job.body",
            "job.body.content_type",
            "job.timeout_seconds",
            "job.success_statuses[1]",
            "job.sign_with",
            "job.save_to.bucket",
            "job.save_to.key",
        ] {
            assert!(found.iter().any(|f| f == field), "{field} in {found:?}");
        }
        let get_with_body = HttpJob::get("https://example.com/").text_body("x", "text/plain");
        assert_eq!(fields(&get_with_body), ["job.body"]);
        let bad_base64 = HttpJob {
            body: Some(HttpBody {
                base64: Some("not base64!".into()),
                ..HttpBody::default()
            }),
            ..HttpJob::post("https://example.com/")
        };
        assert_eq!(fields(&bad_base64), ["job.body.base64"]);
    }

    #[test]
    fn a_secret_reference_has_no_empty_dot_or_dot_dot_segment() {
        for bad in [
            "ssm:/jobs/webhooks/../billing/key",
            "ssm:/jobs/webhooks/./partner",
            "ssm:/jobs//webhooks/partner",
            "ssm:/jobs/webhooks/",
            "ssm:/",
        ] {
            let job = HttpJob::post("https://example.com/").signed_with(bad);
            assert_eq!(fields(&job), ["job.sign_with"], "{bad}");
        }
        let good =
            HttpJob::post("https://example.com/").signed_with("ssm:/jobs/webhooks/partner.v2");
        assert!(validate_http(&good).is_ok());
    }

    #[test]
    fn redirects_are_followed_within_the_origin_unless_any_origin_is_asked() {
        let job = HttpJob::post("https://example.com/");
        assert!(!job.follows_redirects_anywhere());
        assert!(
            job.clone()
                .following_redirects_to_any_origin()
                .follows_redirects_anywhere()
        );
        let mut odd = job;
        odd.follow_redirects = Some("everywhere".into());
        assert_eq!(fields(&odd), ["job.follow_redirects"]);
        odd.follow_redirects = Some("same_origin".into());
        assert!(validate_http(&odd).is_ok() && !odd.follows_redirects_anywhere());
    }

    #[test]
    fn a_url_is_quoted_without_its_query() {
        for bad in [
            "/relative?token=s3cret",
            "https://?token=s3cret",
            "not a url?token=s3cret",
        ] {
            let problem = parse_url(bad).expect_err(bad);
            assert!(!problem.contains("s3cret"), "{bad}: {problem}");
        }
    }

    #[test]
    fn listed_statuses_count_as_success_beside_2xx() {
        let job = HttpJob::new("DELETE", "https://example.com/x").success_status(404);
        assert!(job.succeeded(204) && job.succeeded(404));
        assert!(!job.succeeded(410) && !job.succeeded(301));
    }
}
