//! The calls themselves (the `http` feature): the request and its redirects,
//! the address guard at each hop, TLS, the answer read or saved to S3.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use producer::aws::ErrorClass;
use producer::contract::http::{HttpJob, SaveTo, Target, USER_AGENT, content_length, parse_url};
use sha2::{Digest as _, Sha256};

use super::sign::SigningKey;
use super::{
    DEADLINE_MARGIN, HttpClient, HttpResponse, MAX_BODY_KEPT, MAX_REDIRECTS, SAVE_PART_BYTES,
    SNIPPET_BYTES, Saved, answer_error, http_error,
};
use crate::error::JobError;

impl HttpClient {
    /// Makes the call of `job` over the network (see [`HttpClient::call`]).
    pub(super) async fn call_over_the_network(
        &self,
        job: &HttpJob,
        job_id: &str,
        time_left: Option<Duration>,
        s3: &aws_sdk_s3::Client,
    ) -> Result<HttpResponse, JobError> {
        let body = Bytes::from(
            job.body_bytes()
                .map_err(|e| JobError::Invalid(producer::ValidationErrors(vec![e])))?,
        );
        let mut timeout = job.timeout();
        if let Some(left) = time_left {
            let usable = left.saturating_sub(DEADLINE_MARGIN);
            if usable.is_zero() {
                return Err(http_error(
                    "http_timeout",
                    ErrorClass::Transient,
                    None,
                    "no time was left in this invocation to make the call".into(),
                ));
            }
            timeout = timeout.min(usable);
        }
        // Parsed once: the reasons, the secret's hosts and the first hop use it.
        let first = parse_url(&job.url).map_err(|problem| {
            JobError::Invalid(producer::ValidationErrors(vec![producer::FieldError::new(
                "job.url", problem,
            )]))
        })?;
        let shown = format!("{} {}", job.method, first.redacted());
        // The secret's read is part of the call, inside its deadline.
        let exchange = async {
            let key = match job.secret_parameter() {
                Some(parameter) => {
                    let key = self.secrets.key(parameter).await?;
                    if !key.may_sign_for(&first.host) {
                        return Err(secret_host_error(parameter, &key, &first.host));
                    }
                    Some(key)
                }
                None => None,
            };
            let (target, response) = self.follow(job, job_id, &first, key.as_ref(), body).await?;
            self.settle(job, &target, response, s3).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(http_error(
                "http_timeout",
                ErrorClass::Transient,
                None,
                format!("`{shown}` timed out after {} s", timeout.as_secs_f32()),
            )),
        }
    }

    /// Sends the request, and again to each redirect's target.
    async fn follow(
        &self,
        job: &HttpJob,
        job_id: &str,
        first: &Target,
        key: Option<&SigningKey>,
        body: Bytes,
    ) -> Result<(Target, hyper::Response<Incoming>), JobError> {
        let mut target = first.clone();
        let mut method = job.method.clone();
        let mut body = body;
        let mut headers = job.planned_headers(job_id);
        let mut key = key;
        for hop in 0..=MAX_REDIRECTS {
            let signature = key.map(|key| {
                let timestamp = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                (timestamp, key.signature(job_id, timestamp, &body))
            });
            let response = self
                .send_once(&target, &method, &headers, signature, body.clone())
                .await?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|value| value.to_str().ok());
            let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
            else {
                return Ok((target, response));
            };
            if hop == MAX_REDIRECTS {
                return Err(http_error(
                    "http_redirects",
                    ErrorClass::Permanent,
                    Some(status),
                    format!(
                        "`{} {}` redirected more than {MAX_REDIRECTS} times",
                        job.method,
                        first.redacted()
                    ),
                ));
            }
            let next = parse_url(&resolve_location(&target, location)).map_err(|problem| {
                http_error(
                    "http_redirects",
                    ErrorClass::Permanent,
                    Some(status),
                    format!(
                        "`{}` redirected to a URL that cannot be followed: {problem}",
                        target.redacted()
                    ),
                )
            })?;
            // As browsers do: 303 always, and 301/302 after a POST, go on as GET.
            if status == 303 || (matches!(status, 301 | 302) && method == "POST") {
                if method != "HEAD" {
                    method = "GET".into();
                }
                body = Bytes::new();
                headers.retain(|(name, _)| name != "content-type");
            }
            if (next.https, &next.host, next.port) != (target.https, &target.host, target.port) {
                if !job.follows_redirects_anywhere() {
                    return Err(http_error(
                        "http_redirect_refused",
                        ErrorClass::Permanent,
                        Some(status),
                        format!(
                            "`{}` redirected to another origin, `{}`, without `follow_redirects: any_origin`",
                            target.redacted(),
                            next.redacted()
                        ),
                    ));
                }
                // What the job set, and its signature, were meant for the
                // first site alone: the next one gets the body and its type,
                // and a signature only if the secret names its host.
                key = key.filter(|key| key.may_sign_for(&next.host));
                headers.retain(|(name, _)| {
                    name == "content-type" || (key.is_some() && name == "webhook-id")
                });
            }
            target = next;
        }
        unreachable!("the loop returns by its last hop")
    }

    /// One request on a connection of its own, to a checked address.
    async fn send_once(
        &self,
        target: &Target,
        method: &str,
        headers: &[(String, String)],
        signature: Option<(u64, String)>,
        body: Bytes,
    ) -> Result<hyper::Response<Incoming>, JobError> {
        let addresses = self.checked_addresses(target).await?;
        let shown = target.redacted();
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(target.path_and_query.as_str())
            .header(http::header::HOST, target.host_header())
            .header(http::header::USER_AGENT, USER_AGENT);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some((timestamp, signature)) = signature {
            request = request
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature);
        }
        if let Some(length) = content_length(method, body.len()) {
            request = request.header(http::header::CONTENT_LENGTH, length);
        }
        let request = request.body(Full::new(body)).map_err(|e| {
            http_error(
                "http_request",
                ErrorClass::Permanent,
                None,
                format!("cannot build the request to `{shown}`: {e}"),
            )
        })?;
        send_to(&addresses, target, request, &shown).await
    }

    /// Every address of the target's host, checked: one refused address
    /// refuses the call, so an answer that mixes a public and a private
    /// address cannot steer it.
    async fn checked_addresses(&self, target: &Target) -> Result<Vec<IpAddr>, JobError> {
        let addresses = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .resolve(&target.host, target.port)
                .await
                .map_err(|e| {
                    http_error(
                        "http_connect",
                        ErrorClass::Transient,
                        None,
                        format!("cannot resolve `{}`: {e}", target.host),
                    )
                })?,
        };
        if addresses.is_empty() {
            return Err(http_error(
                "http_connect",
                ErrorClass::Transient,
                None,
                format!("`{}` resolved to no address", target.host),
            ));
        }
        for ip in &addresses {
            self.allow.check(*ip, target.https).map_err(|reason| {
                http_error(
                    "http_refused",
                    ErrorClass::Permanent,
                    None,
                    format!("the call to `{}` is refused: {reason}", target.redacted()),
                )
            })?;
        }
        Ok(addresses)
    }

    /// Sorts an answer: success (the body kept or saved), or a failure whose
    /// class, status and `Retry-After` the retry logic reads.
    async fn settle(
        &self,
        job: &HttpJob,
        target: &Target,
        response: hyper::Response<Incoming>,
        s3: &aws_sdk_s3::Client,
    ) -> Result<HttpResponse, JobError> {
        let (parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        if job.succeeded(status) {
            if let Some(save_to) = &job.save_to {
                let content_type = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let saved = save(s3, save_to, body, content_type, &target.redacted()).await?;
                return Ok(HttpResponse {
                    status,
                    headers: parts.headers,
                    body: Vec::new(),
                    truncated: false,
                    saved: Some(saved),
                });
            }
            let (body, truncated) = read_up_to(body, MAX_BODY_KEPT).await.map_err(|e| {
                http_error(
                    "http_read",
                    ErrorClass::Transient,
                    Some(status),
                    format!(
                        "the answer of `{}` broke off while its body was read: {e}",
                        target.redacted()
                    ),
                )
            })?;
            return Ok(HttpResponse {
                status,
                headers: parts.headers,
                body,
                truncated,
                saved: None,
            });
        }
        // A failure quotes what could be read of its answer.
        let start = match read_up_to(body, SNIPPET_BYTES).await {
            Ok((start, _)) => start,
            Err(_) => Vec::new(),
        };
        let answer = HttpResponse {
            status,
            headers: parts.headers,
            body: start,
            truncated: false,
            saved: None,
        };
        Err(answer_error(job, target, &answer))
    }
}

/// Sends `request` on a connection of its own to the first of `addresses` that
/// answers, over TLS for an `https` target.
pub(super) async fn send_to(
    addresses: &[IpAddr],
    target: &Target,
    request: hyper::Request<Full<Bytes>>,
    shown: &str,
) -> Result<hyper::Response<Incoming>, JobError> {
    let tcp = connect(addresses, target.port, shown).await?;
    if target.https {
        let server_name = match target.host.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
            Err(_) => {
                rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|e| {
                    http_error(
                        "http_request",
                        ErrorClass::Permanent,
                        None,
                        format!("`{}` is not a host name TLS can check: {e}", target.host),
                    )
                })?
            }
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(server_name, tcp)
            .await
            .map_err(|e| {
                http_error(
                    "http_tls",
                    ErrorClass::Transient,
                    None,
                    format!("TLS with `{shown}` failed: {e}"),
                )
            })?;
        exchange(TokioIo::new(tls), request, shown).await
    } else {
        exchange(TokioIo::new(tcp), request, shown).await
    }
}

/// Connects to the first of the checked addresses that answers.
async fn connect(
    addresses: &[IpAddr],
    port: u16,
    shown: &str,
) -> Result<tokio::net::TcpStream, JobError> {
    let mut last = None;
    for ip in addresses {
        match tokio::net::TcpStream::connect(SocketAddr::new(*ip, port)).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(http_error(
        "http_connect",
        ErrorClass::Transient,
        None,
        format!(
            "cannot connect to `{shown}`: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    ))
}

/// Sends one request on a fresh HTTP/1.1 connection and returns the answer's head.
async fn exchange<IO>(
    io: IO,
    request: hyper::Request<Full<Bytes>>,
    shown: &str,
) -> Result<hyper::Response<Incoming>, JobError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let failed = |what: &str, e: hyper::Error| {
        http_error(
            "http_connect",
            ErrorClass::Transient,
            None,
            format!(
                "{what} `{shown}` failed: {}",
                crate::error::with_sources(&e)
            ),
        )
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| failed("the connection to", e))?;
    // The connection ends when the answer's body is read or dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| failed("the request to", e))
}

/// The TLS settings of every call: Mozilla's roots, compiled in, on ring;
/// built on the first `https` call, not at start.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }))
}

/// A job asked to sign a call to a host its secret does not name.
fn secret_host_error(parameter: &str, key: &SigningKey, host: &str) -> JobError {
    http_error(
        "http_secret_host",
        ErrorClass::Permanent,
        None,
        format!(
            "the signing secret `{parameter}` may sign for `{}` only, not for `{host}`; nothing was sent",
            key.hosts().join("`, `")
        ),
    )
}

/// Reads at most `limit` bytes of a body; says whether there was more. A
/// body that breaks off is an error, never a short body.
pub(super) async fn read_up_to(
    mut body: Incoming,
    limit: usize,
) -> Result<(Vec<u8>, bool), hyper::Error> {
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                return Ok((kept, true));
            }
        }
    }
    Ok((kept, false))
}

/// The URL a `Location` header points at, from the URL that answered, as
/// RFC 3986 resolves a reference: absolute only when it starts with a scheme.
fn resolve_location(base: &Target, location: &str) -> String {
    let location = location.trim();
    if has_scheme(location) {
        return location.to_owned();
    }
    let scheme = if base.https { "https" } else { "http" };
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let origin = format!("{scheme}://{}", base.host_header());
    let base_path = base
        .path_and_query
        .split_once('?')
        .map_or(base.path_and_query.as_str(), |(path, _)| path);
    if location.is_empty() {
        return format!("{origin}{}", base.path_and_query);
    }
    if location.starts_with('?') {
        return format!("{origin}{base_path}{location}");
    }
    let (path, query) = location
        .split_once('?')
        .map_or((location, None), |(path, query)| (path, Some(query)));
    let merged = if path.starts_with('/') {
        path.to_owned()
    } else {
        let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{directory}{path}")
    };
    let path = remove_dot_segments(&merged);
    match query {
        Some(query) => format!("{origin}{path}?{query}"),
        None => format!("{origin}{path}"),
    }
}

/// Whether a reference starts with a scheme (`ALPHA *( ALPHA / DIGIT / "+" /
/// "-" / "." ) ":"`), as an absolute URL does; `/x?u=https://y` does not.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// A path without its `.` and `..` segments (RFC 3986, 5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate().skip(1) {
        let last = i == segments.len() - 1;
        match *segment {
            "." => {
                if last {
                    kept.push("");
                }
            }
            ".." => {
                kept.pop();
                if last {
                    kept.push("");
                }
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

/// Streams a body to S3: one `PutObject` (its SHA-256 checked by S3) when it
/// fits in one part, else a multipart upload, aborted on any failure. The
/// whole body's SHA-256 is computed as it streams.
async fn save(
    s3: &aws_sdk_s3::Client,
    save_to: &SaveTo,
    mut body: Incoming,
    content_type: Option<String>,
    shown: &str,
) -> Result<Saved, JobError> {
    let mut whole = Sha256::new();
    let mut part = Vec::with_capacity(64 * 1024);
    let mut bytes = 0u64;
    let mut upload: Option<(String, Vec<aws_sdk_s3::types::CompletedPart>)> = None;
    let read_failed = |e: hyper::Error| {
        http_error(
            "http_connect",
            ErrorClass::Transient,
            None,
            format!("reading the answer of `{shown}` failed: {e}"),
        )
    };
    let result: Result<(), JobError> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(read_failed)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            whole.update(&data);
            bytes += data.len() as u64;
            part.extend_from_slice(&data);
            if part.len() >= SAVE_PART_BYTES {
                let chunk = std::mem::take(&mut part);
                if upload.is_none() {
                    let created = s3
                        .create_multipart_upload()
                        .bucket(&save_to.bucket)
                        .key(&save_to.key)
                        .set_content_type(content_type.clone())
                        .send()
                        .await
                        .map_err(|e| JobError::aws("s3_create_multipart_upload", &e))?;
                    upload = Some((created.upload_id.unwrap_or_default(), Vec::new()));
                }
                if let Some((id, parts)) = &mut upload {
                    upload_part(s3, save_to, id, parts, chunk).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    let digest = whole.finalize();
    match (result, upload) {
        (Err(e), Some((id, _))) => {
            abort(s3, save_to, &id).await;
            Err(e)
        }
        (Err(e), None) => Err(e),
        (Ok(()), None) => {
            s3.put_object()
                .bucket(&save_to.bucket)
                .key(&save_to.key)
                .set_content_type(content_type)
                .checksum_sha256(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    digest,
                ))
                .body(aws_sdk_s3::primitives::ByteStream::from(part))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| JobError::aws("s3_put_object", &e))?;
            Ok(Saved {
                bucket: save_to.bucket.clone(),
                key: save_to.key.clone(),
                bytes,
                sha256: hex::encode(digest),
            })
        }
        (Ok(()), Some((id, mut parts))) => {
            let finished = async {
                if !part.is_empty() {
                    upload_part(s3, save_to, &id, &mut parts, part).await?;
                }
                s3.complete_multipart_upload()
                    .bucket(&save_to.bucket)
                    .key(&save_to.key)
                    .upload_id(&id)
                    .multipart_upload(
                        aws_sdk_s3::types::CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| JobError::aws("s3_complete_multipart_upload", &e))?;
                Ok::<_, JobError>(())
            }
            .await;
            if let Err(e) = finished {
                abort(s3, save_to, &id).await;
                return Err(e);
            }
            Ok(Saved {
                bucket: save_to.bucket.clone(),
                key: save_to.key.clone(),
                bytes,
                sha256: hex::encode(digest),
            })
        }
    }
}

async fn upload_part(
    s3: &aws_sdk_s3::Client,
    save_to: &SaveTo,
    upload_id: &str,
    parts: &mut Vec<aws_sdk_s3::types::CompletedPart>,
    chunk: Vec<u8>,
) -> Result<(), JobError> {
    let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
    let output = s3
        .upload_part()
        .bucket(&save_to.bucket)
        .key(&save_to.key)
        .upload_id(upload_id)
        .part_number(number)
        .body(aws_sdk_s3::primitives::ByteStream::from(chunk))
        .send()
        .await
        .map_err(|e| JobError::aws("s3_upload_part", &e))?;
    parts.push(
        aws_sdk_s3::types::CompletedPart::builder()
            .part_number(number)
            .set_e_tag(output.e_tag)
            .build(),
    );
    Ok(())
}

async fn abort(s3: &aws_sdk_s3::Client, save_to: &SaveTo, upload_id: &str) {
    if let Err(e) = s3
        .abort_multipart_upload()
        .bucket(&save_to.bucket)
        .key(&save_to.key)
        .upload_id(upload_id)
        .send()
        .await
    {
        tracing::warn!(bucket = %save_to.bucket, key = %save_to.key,
            error = %producer::aws::describe(&e), "could not abort a multipart upload");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever a `Location` says, resolving it never panics, and a
        /// reference without a scheme or a `//` authority stays on the origin
        /// that answered.
        #[test]
        fn a_location_resolves_and_a_relative_one_stays_on_its_origin(
            location in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[a-z./?=:#%]{0,24}",
            ],
        ) {
            let base = parse_url("https://a.example:8443/hooks/in?x=1").expect("url");
            let resolved = resolve_location(&base, &location);
            let trimmed = location.trim();
            if let Ok(target) = parse_url(&resolved)
                && !has_scheme(trimmed)
                && !trimmed.starts_with("//")
            {
                proptest::prop_assert_eq!(
                    (target.https, target.host.as_str(), target.port),
                    (true, "a.example", 8443),
                    "{} -> {}", location, resolved
                );
            }
        }
    }

    #[test]
    fn locations_resolve_against_the_url_that_answered() {
        let base = parse_url("https://a.example/hooks/in?x=1").expect("url");
        assert_eq!(
            resolve_location(&base, "http://b.example/"),
            "http://b.example/"
        );
        assert_eq!(
            resolve_location(&base, "//c.example/p"),
            "https://c.example/p"
        );
        assert_eq!(resolve_location(&base, "/moved"), "https://a.example/moved");
        assert_eq!(
            resolve_location(&base, "next?y=2"),
            "https://a.example/hooks/next?y=2"
        );
        let port = parse_url("http://127.0.0.1:8080/a").expect("url");
        assert_eq!(resolve_location(&port, "/b"), "http://127.0.0.1:8080/b");
        // A relative reference whose query holds a URL stays relative.
        assert_eq!(
            resolve_location(&base, "/login?next=https://evil.example/"),
            "https://a.example/login?next=https://evil.example/"
        );
        assert_eq!(
            resolve_location(&base, "done?u=http://b.example"),
            "https://a.example/hooks/done?u=http://b.example"
        );
        assert_eq!(
            resolve_location(&base, "?page=2"),
            "https://a.example/hooks/in?page=2"
        );
        assert_eq!(
            resolve_location(&base, "../up/./there"),
            "https://a.example/up/there"
        );
        assert_eq!(
            resolve_location(&base, "/a/b/../../../c"),
            "https://a.example/c"
        );
        assert_eq!(
            resolve_location(&base, "HTTPS://B.example/x"),
            "HTTPS://B.example/x"
        );
    }

    #[test]
    fn the_compiled_in_roots_are_mozilla_s() {
        let config = tls_config();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }
}
