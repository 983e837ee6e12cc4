//! The one place that knows about AWS configuration and emulators, and the one
//! rule that says whether an AWS error is worth a retry.
//!
//! Endpoints come from the SDK's standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`); nothing else in the code names an emulator.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Loads region, credentials and endpoints from the environment, once per process,
/// with [`https_client`] as the HTTP client of every AWS client built from it.
pub async fn load_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    // The default chains look in the environment first. When the answer is
    // there (always, in Lambda), taking it directly gives the same answer
    // without building the rest of each chain (profiles, SSO, web identity's
    // STS client, ECS, IMDS): about 0.4 ms of a cold start's init, measured.
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    let loader = if set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY") {
        loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
    } else {
        loader
    };
    let loader = if set("AWS_REGION") || set("AWS_DEFAULT_REGION") {
        loader.region(aws_config::environment::EnvironmentVariableRegionProvider::new())
    } else {
        loader
    };
    loader.load().await
}

/// The configuration of a Lambda function, from the variables Lambda sets: the
/// role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), `AWS_REGION`, and the endpoint overrides
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), with the same client,
/// retries and timeouts as [`load_config`].
///
/// A function never uses the rest of [`load_config`]'s chains (profiles, SSO,
/// web identity through STS, ECS, IMDS), and a binary that never calls
/// [`load_config`] leaves their code out: about 240 KB of the Lambda zip,
/// measured (docs/performance.md). Credentials missing from the environment
/// fail each AWS call with the SDK's own "no credentials" error.
pub async fn lambda_config() -> SdkConfig {
    lambda_config_from(aws_types::os_shim_internal::Env::real()).await
}

async fn lambda_config_from(env: aws_types::os_shim_internal::Env) -> SdkConfig {
    let var = |name: &str| env.get(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .map(aws_types::region::Region::new);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            ),
        )
        .retry_config(aws_config::retry::RetryConfig::standard())
        .timeout_config(
            aws_config::default_provider::timeout_config::default_provider()
                .timeout_config()
                .await,
        );
    builder.set_region(region);
    builder.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    builder.service_config(EndpointsFromEnv(env)).build()
}

/// Each service's `AWS_ENDPOINT_URL_<SERVICE>`, read as `aws_config` reads it
/// (no profile files: a Lambda function has none).
#[derive(Debug)]
struct EndpointsFromEnv(aws_types::os_shim_internal::Env);

impl aws_types::service_config::LoadServiceConfig for EndpointsFromEnv {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        aws_runtime::env_config::EnvConfigValue::new()
            .env(key.env())
            .service_id(key.service_id())
            .load(&self.0, None)
            .map(|(value, _source)| value.into_owned())
    }
}

/// The roots of Amazon Trust Services (Amazon Root CA 1–4 and Starfield Services
/// Root G2, as Debian's ca-certificates ships them), which every AWS endpoint's
/// certificate chains to.
const AWS_ROOTS_PEM: &[u8] = include_bytes!("amazon-trust-services-roots.pem");

/// `system` adds the machine's own root certificates to Amazon's (a proxy that
/// inspects TLS, an emulator behind a private CA).
pub const TLS_ROOTS_ENV: &str = "JOBS_TLS_ROOTS";

/// The HTTP client for AWS: rustls on ring, trusting Amazon's roots only unless
/// `JOBS_TLS_ROOTS=system`. Reading and parsing the system's few hundred root
/// certificates took half of a Lambda cold start's init (measured in
/// `make bench`); five roots compiled in take no file access at all.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let system = std::env::var(TLS_ROOTS_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("system"));
    let roots = TrustStore::empty()
        .with_native_roots(system)
        .with_pem_certificate(AWS_ROOTS_PEM);
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::rustls(CryptoMode::Ring));
    match TlsContext::builder().with_trust_store(roots).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Not reached with rustls; the defaults are the safe way out.
        Err(_) => builder.build_https(),
    }
}

/// The same configuration with every attempt of every call cut off after
/// `timeout`; its other timeouts (such as the connect timeout) stay.
pub fn with_attempt_timeout(config: &SdkConfig, timeout: std::time::Duration) -> SdkConfig {
    let timeouts = config
        .timeout_config()
        .map_or_else(TimeoutConfig::builder, TimeoutConfig::to_builder)
        .operation_attempt_timeout(timeout)
        .build();
    config.to_builder().timeout_config(timeouts).build()
}

/// True when S3 requests go to an endpoint override, as with LocalStack: emulators
/// serve every bucket on one host, so they need path-style addressing.
pub fn s3_needs_path_style() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()))
}

/// An S3 client from `config`, path-style when an endpoint is set (the `s3`
/// feature, off by default).
#[cfg(feature = "s3")]
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(s3_needs_path_style())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Whether trying the same request again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is wrong (invalid input, rejected, not found): a retry fails the same way.
    Permanent,
    /// Throttling, a 5xx, a timeout or a network fault: a later retry may succeed.
    Transient,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Permanent => "permanent",
            ErrorClass::Transient => "transient",
        }
    }
}

/// Error codes that mean "slow down", whatever their HTTP status.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Other error codes that mean "try later", whatever their HTTP status.
const TRY_LATER_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "SendingPausedException",
];

/// Sorts an SDK error into [`ErrorClass`]. The SDK has already retried what its
/// own retry policy allows; this decides whether the job should come back later.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    match err {
        SdkError::ConstructionFailure(_) => ErrorClass::Permanent,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Transient
        }
        SdkError::ServiceError(context) => classify_answer(
            context.raw().status().as_u16(),
            context.err().code().unwrap_or_default(),
        ),
        // An error kind added to the SDK later: retrying is the safe side, since the
        // queue's redrive policy still ends it in the dead-letter queue.
        _ => ErrorClass::Transient,
    }
}

/// Sorts an AWS service's error answer by its HTTP status and error code
/// (`__type`, `Code`), for a request made without the service's SDK client as
/// for one made with it.
pub fn classify_answer(status: u16, code: &str) -> ErrorClass {
    if status >= 500
        || status == 429
        || THROTTLING_CODES.contains(&code)
        || TRY_LATER_CODES.contains(&code)
    {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

/// The endpoint of a service called without its SDK client (`service_id` as
/// the SDK names it, such as `SSM`), chosen as its client would choose it:
/// `AWS_ENDPOINT_URL_<SERVICE>` or the profile's, then `AWS_ENDPOINT_URL`, else
/// the region's public endpoint. `None` without a region.
pub fn service_endpoint(config: &SdkConfig, service_id: &str) -> Option<String> {
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    let configured = config
        .service_config()
        .zip(key)
        .and_then(|(services, key)| services.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_owned));
    if let Some(url) = configured.filter(|url| !url.is_empty()) {
        return Some(url);
    }
    let region = config.region()?.as_ref();
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!(
        "https://{}.{region}.{domain}",
        service_id.to_ascii_lowercase()
    ))
}

/// What kind of failure an AWS error is, in the words a person acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    NoCredentials,
    CredentialsRefused,
    NoRegion,
    Unreachable,
    /// The endpoint's TLS certificate chains to no trusted root.
    UntrustedCertificate,
    Timeout,
    AccessDenied,
    NotFound,
    Throttled,
    /// A fault on AWS's side (a 5xx).
    ServiceFault,
    /// AWS refused the request itself (a 4xx): the message says why.
    Refused,
    /// The request could not even be built.
    BadRequest,
}

impl FailureKind {
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::NoCredentials => "no credentials",
            FailureKind::CredentialsRefused => "credentials refused",
            FailureKind::NoRegion => "no region",
            FailureKind::Unreachable => "endpoint unreachable",
            FailureKind::UntrustedCertificate => "certificate not trusted",
            FailureKind::Timeout => "timeout",
            FailureKind::AccessDenied => "access denied",
            FailureKind::NotFound => "not found",
            FailureKind::Throttled => "throttled",
            FailureKind::ServiceFault => "service error",
            FailureKind::Refused => "refused",
            FailureKind::BadRequest => "bad request",
        }
    }
}

/// An AWS error as one readable line: the class, what AWS or the client said,
/// and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub kind: FailureKind,
    /// The IAM action of the call, such as `sqs:SendMessage`.
    pub action: String,
    pub detail: String,
    pub hint: Option<String>,
    /// The whole error chain, for `-v` and `RUST_LOG=debug`.
    pub chain: String,
}

impl std::fmt::Display for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            FailureKind::AccessDenied => write!(f, "access denied to `{}`", self.action)?,
            kind => f.write_str(kind.label())?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        if verbose() {
            write!(f, " [{}]", self.chain)?;
        }
        Ok(())
    }
}

static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Adds each error's whole chain to the lines [`describe`] writes (the CLI's `-v`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
        || std::env::var("RUST_LOG")
            .is_ok_and(|filter| filter.contains("debug") || filter.contains("trace"))
}

/// `service:Operation` from an SDK operation error's type, such as
/// `aws_sdk_sqs::operation::send_message::SendMessageError` → `sqs:SendMessage`.
pub fn action_of<E>() -> String {
    let path = std::any::type_name::<E>();
    let mut parts = path.split("::");
    let service = parts
        .next()
        .map_or("aws", |krate| krate.trim_start_matches("aws_sdk_"));
    let service = if service == "sesv2" { "ses" } else { service };
    match (parts.next(), parts.next()) {
        (Some("operation"), Some(operation)) => {
            let pascal: String = operation
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    chars.next().map_or_else(String::new, |first| {
                        first.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                })
                .collect();
            format!("{service}:{pascal}")
        }
        _ => format!("{service}:*"),
    }
}

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "KMS.AccessDeniedException",
    "Forbidden",
];
const NOT_FOUND_CODES: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "NotFoundException",
];
const CREDENTIALS_REFUSED_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "AuthFailure",
];

/// Sorts an SDK error into a [`FailureKind`] with a hint; see [`describe`].
pub fn explain<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> Explained {
    let action = action_of::<E>();
    let chain = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
    let (kind, detail) = match err {
        SdkError::ServiceError(context) => {
            let e = context.err();
            let status = context.raw().status().as_u16();
            let code = e.code().unwrap_or("UnknownError");
            let detail = format!(
                "{code} (HTTP {status}): {}",
                e.message().unwrap_or("no message")
            );
            let kind = if CREDENTIALS_REFUSED_CODES.contains(&code) {
                FailureKind::CredentialsRefused
            } else if ACCESS_DENIED_CODES.contains(&code) || status == 403 {
                FailureKind::AccessDenied
            } else if NOT_FOUND_CODES.contains(&code) || status == 404 {
                FailureKind::NotFound
            } else if status == 429 || THROTTLING_CODES.contains(&code) {
                FailureKind::Throttled
            } else if status >= 500 || TRY_LATER_CODES.contains(&code) {
                FailureKind::ServiceFault
            } else {
                FailureKind::Refused
            };
            (kind, detail)
        }
        SdkError::TimeoutError(_) => (FailureKind::Timeout, "no answer in time".to_owned()),
        SdkError::DispatchFailure(failure) => {
            let innermost = innermost_message(err);
            // The credential chain found nothing, or the client was given no provider at all.
            let no_credentials = [
                "no credentials",
                "credential provider",
                "no identity resolver",
            ]
            .iter()
            .any(|text| chain_mentions(err, text));
            if no_credentials {
                (
                    FailureKind::NoCredentials,
                    "no credentials were found".to_owned(),
                )
            } else if chain_mentions(err, "Missing Region") {
                (FailureKind::NoRegion, "no region is set".to_owned())
            } else if failure.is_timeout() {
                (FailureKind::Timeout, innermost)
            } else if chain_mentions(err, "invalid peer certificate") {
                // rustls's words for a certificate that chains to no trusted root.
                (FailureKind::UntrustedCertificate, innermost)
            } else {
                // An I/O error (refused, reset, no such host) or another connector fault.
                (FailureKind::Unreachable, innermost)
            }
        }
        SdkError::ResponseError(_) => (FailureKind::ServiceFault, innermost_message(err)),
        SdkError::ConstructionFailure(_) => (FailureKind::BadRequest, innermost_message(err)),
        _ => (FailureKind::ServiceFault, innermost_message(err)),
    };
    Explained {
        hint: hint(kind, &action),
        kind,
        action,
        detail,
        chain,
    }
}

/// The error as one readable line, for people, logs and dead-letter reasons:
/// its class, what was said, and a hint (`throttled: ThrottlingException (HTTP
/// 400): Rate exceeded (AWS is slowing calls down: …)`).
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    explain(err).to_string()
}

fn chain_mentions(err: &(dyn std::error::Error + 'static), text: &str) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.to_string().contains(text) {
            return true;
        }
        next = e.source();
    }
    false
}

/// The last error of the chain: the one that says what really happened.
fn innermost_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn hint(kind: FailureKind, action: &str) -> Option<String> {
    let local = "for the local AWS: `make local-up`, then `. .local/env`";
    Some(match kind {
        FailureKind::NoCredentials => format!(
            "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE` after `aws configure` or `aws sso login`; {local}"
        ),
        FailureKind::CredentialsRefused => {
            "AWS does not accept these credentials: check the keys, or renew the session (`aws sso login`)".to_owned()
        }
        FailureKind::NoRegion => {
            format!("set `AWS_REGION`, or a region in your AWS profile; {local}")
        }
        FailureKind::Unreachable => match std::env::var("AWS_ENDPOINT_URL") {
            Ok(endpoint) if !endpoint.is_empty() => {
                format!("nothing answers at `AWS_ENDPOINT_URL` `{endpoint}`: is it running? {local}")
            }
            _ => "check the network and the region".to_owned(),
        },
        FailureKind::UntrustedCertificate => format!(
            "only Amazon's roots are trusted unless `{TLS_ROOTS_ENV}=system` adds this machine's (a proxy that inspects TLS, an emulator behind a private CA)"
        ),
        FailureKind::Timeout => {
            "the call took too long: check the network; the handler's limit is `JOBS_CALL_TIMEOUT_SECONDS`".to_owned()
        }
        FailureKind::AccessDenied => format!(
            "allow `{action}` on this resource in the caller's IAM policy; producers can attach the stack's `ProducerPolicyArn`"
        ),
        FailureKind::NotFound => {
            "check the name or URL (`JOBS_QUEUE_URLS`, `JOBS_QUEUE_URL`, `JOBS_DLQ_URL`, `JOBS_IDEMPOTENCY_TABLE`, `JOBS_BUCKET`) and the region".to_owned()
        }
        FailureKind::Throttled => {
            "AWS is slowing calls down: try again later, or ask for a higher quota".to_owned()
        }
        FailureKind::ServiceFault => "a fault on AWS's side: try again".to_owned(),
        FailureKind::Refused | FailureKind::BadRequest => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_lambda_functions_configuration_comes_from_the_variables_lambda_sets() {
        let config = lambda_config_from(aws_types::os_shim_internal::Env::from_slice(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:5000"),
        ]))
        .await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(
            service_endpoint(&config, "SESv2").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            service_endpoint(&config, "SQS").as_deref(),
            Some("http://127.0.0.1:4566")
        );
        assert!(config.credentials_provider().is_some());
        // The timeouts and retries `load_config`'s loader would give.
        let loaded = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .load()
            .await;
        assert_eq!(config.timeout_config(), loaded.timeout_config());
        assert!(
            config
                .timeout_config()
                .and_then(|t| t.connect_timeout())
                .is_some()
        );
        assert_eq!(config.retry_config(), loaded.retry_config());

        let bare = lambda_config_from(aws_types::os_shim_internal::Env::from_slice(&[(
            "AWS_DEFAULT_REGION",
            "us-east-2",
        )]))
        .await;
        assert_eq!(bare.region().map(|r| r.as_ref()), Some("us-east-2"));
        assert_eq!(bare.endpoint_url(), None);
        assert_eq!(
            service_endpoint(&bare, "SSM").as_deref(),
            Some("https://ssm.us-east-2.amazonaws.com")
        );
    }

    #[test]
    fn a_service_called_without_its_client_gets_the_endpoint_its_client_would() {
        let in_region = |region: &str| {
            SdkConfig::builder()
                .region(aws_config::Region::new(region.to_owned()))
                .build()
        };
        assert_eq!(
            service_endpoint(&in_region("eu-west-1"), "SSM").as_deref(),
            Some("https://ssm.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            service_endpoint(&in_region("cn-north-1"), "SSM").as_deref(),
            Some("https://ssm.cn-north-1.amazonaws.com.cn")
        );
        let emulated = in_region("us-east-1")
            .to_builder()
            .endpoint_url("http://127.0.0.1:4566")
            .build();
        assert_eq!(
            service_endpoint(&emulated, "SSM").as_deref(),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(service_endpoint(&SdkConfig::builder().build(), "SSM"), None);
        assert_eq!(
            classify_answer(400, "ParameterNotFound"),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_answer(400, "ThrottlingException"),
            ErrorClass::Transient
        );
        assert_eq!(classify_answer(503, ""), ErrorClass::Transient);
    }

    #[test]
    fn the_attempt_timeout_is_added_and_the_connect_timeout_kept() {
        let config = SdkConfig::builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(3100))
                    .build(),
            )
            .build();
        let config = with_attempt_timeout(&config, Duration::from_secs(7));
        let timeouts = config.timeout_config().expect("a timeout config");
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            timeouts.connect_timeout(),
            Some(Duration::from_millis(3100))
        );
    }

    use aws_sdk_sqs::operation::send_message::SendMessageError;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::retry::RetryConfig;

    /// The error of one SendMessage whose answer is `status` with `code`.
    async fn answered(status: u16, code: &'static str) -> SdkError<SendMessageError, HttpResponse> {
        let rule = mock!(aws_sdk_sqs::Client::send_message).then_http_response(move || {
            let mut response = HttpResponse::new(
                StatusCode::try_from(status).expect("status"),
                SdkBody::from(format!(
                    r#"{{"__type":"{code}","message":"said by the test"}}"#
                )),
            );
            response
                .headers_mut()
                .insert("x-amzn-query-error", format!("{code};Sender"));
            response
        });
        let sqs = mock_client!(
            aws_sdk_sqs,
            aws_smithy_mocks::RuleMode::MatchAny,
            [&rule],
            |b| b.retry_config(RetryConfig::disabled())
        );
        sqs.send_message()
            .queue_url("http://queue")
            .message_body("{}")
            .send()
            .await
            .expect_err("an error answer")
    }

    /// A client that never reaches the network: no endpoint override, and the
    /// given region and credentials (or none).
    async fn offline_call(region: Option<&'static str>, credentials: bool) -> Explained {
        let mut config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https_client())
            .retry_config(RetryConfig::disabled());
        if let Some(region) = region {
            config = config.region(aws_config::Region::new(region));
        }
        if credentials {
            config = config.credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "a", "b", None, None, "test",
            ));
        }
        let err = aws_sdk_sqs::Client::from_conf(config.build())
            .send_message()
            .queue_url("https://sqs.us-east-1.amazonaws.com/1/q")
            .message_body("{}")
            .send()
            .await
            .expect_err("cannot be sent");
        explain(&err)
    }

    #[tokio::test]
    async fn the_https_client_builds_its_tls_connector_from_the_compiled_in_roots() {
        // Building the connector parses the roots (a bad PEM would panic there);
        // nothing listens on port 9, so the call then fails as unreachable.
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https_client())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .endpoint_url("https://127.0.0.1:9")
            .retry_config(RetryConfig::disabled())
            .build();
        let err = aws_sdk_sqs::Client::from_conf(config)
            .send_message()
            .queue_url("https://127.0.0.1:9/1/q")
            .message_body("{}")
            .send()
            .await
            .expect_err("nothing listens");
        assert_eq!(explain(&err).kind, FailureKind::Unreachable, "{err:?}");
    }

    #[tokio::test]
    async fn each_class_reads_as_one_line_with_its_hint() {
        let denied = explain(&answered(403, "AccessDenied").await);
        assert_eq!(denied.kind, FailureKind::AccessDenied);
        let line = denied.to_string();
        assert!(
            line.starts_with("access denied to `sqs:SendMessage`: AccessDenied (HTTP 403)"),
            "{line}"
        );
        assert!(line.contains("allow `sqs:SendMessage`"), "{line}");
        assert!(!line.contains('\n'), "{line}");

        let throttled = explain(&answered(400, "ThrottlingException").await);
        assert_eq!(throttled.kind, FailureKind::Throttled);
        assert!(
            throttled.to_string().starts_with("throttled: "),
            "{throttled}"
        );

        let missing = explain(&answered(400, "AWS.SimpleQueueService.NonExistentQueue").await);
        assert_eq!(missing.kind, FailureKind::NotFound);
        assert!(missing.to_string().contains("JOBS_QUEUE_URL"), "{missing}");

        let refused = explain(&answered(401, "InvalidClientTokenId").await);
        assert_eq!(refused.kind, FailureKind::CredentialsRefused);

        let fault = explain(&answered(500, "InternalError").await);
        assert_eq!(fault.kind, FailureKind::ServiceFault);
        assert!(
            fault
                .to_string()
                .starts_with("service error: InternalError (HTTP 500)"),
            "{fault}"
        );

        let invalid = explain(&answered(400, "InvalidParameterValue").await);
        assert_eq!(invalid.kind, FailureKind::Refused);
        assert_eq!(invalid.hint, None);
    }

    #[tokio::test]
    async fn no_region_and_no_credentials_are_named_before_any_request() {
        let no_region = offline_call(None, true).await;
        assert_eq!(no_region.kind, FailureKind::NoRegion, "{}", no_region.chain);
        assert!(
            no_region.to_string().contains("set `AWS_REGION`"),
            "{no_region}"
        );

        let no_credentials = offline_call(Some("us-east-1"), false).await;
        assert_eq!(
            no_credentials.kind,
            FailureKind::NoCredentials,
            "{}",
            no_credentials.chain
        );
        let line = no_credentials.to_string();
        assert!(line.starts_with("no credentials: "), "{line}");
        assert!(
            line.contains("AWS_ACCESS_KEY_ID") && line.contains("AWS_PROFILE"),
            "{line}"
        );
        assert!(!line.contains("DispatchFailure"), "no debug dump: {line}");
    }

    #[test]
    fn the_action_is_named_from_the_operation() {
        assert_eq!(action_of::<SendMessageError>(), "sqs:SendMessage");
        assert_eq!(
            action_of::<aws_sdk_dynamodb::operation::get_item::GetItemError>(),
            "dynamodb:GetItem"
        );
    }
}
