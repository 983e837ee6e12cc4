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

/// Loads region, credentials and endpoints from the environment, once per process.
pub async fn load_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
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

/// Error codes that mean "slow down" or "try later" whatever their HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "SlowDown",
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
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().unwrap_or_default();
            if status >= 500 || status == 429 || TRANSIENT_CODES.contains(&code) {
                ErrorClass::Transient
            } else {
                ErrorClass::Permanent
            }
        }
        // An error kind added to the SDK later: retrying is the safe side, since the
        // queue's redrive policy still ends it in the dead-letter queue.
        _ => ErrorClass::Transient,
    }
}

/// The error with its code and message, for logs and dead-letter reasons.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    match err {
        SdkError::ServiceError(context) => {
            let e = context.err();
            format!(
                "{} (HTTP {}): {}",
                e.code().unwrap_or("UnknownError"),
                context.raw().status().as_u16(),
                e.message().unwrap_or("no message")
            )
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
}
