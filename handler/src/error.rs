//! Why a job did not take effect, and whether trying again can help.
//!
//! A job's `perform` returns this error too. `?` on an AWS SDK error sorts it
//! the way the built-in jobs' calls are sorted ([`producer::aws::classify`]);
//! `?` on a `serde_json` error that says the data is wrong (not JSON, or not the
//! shape expected) is permanent, since the same data fails the same way;
//! `?` on an I/O, `anyhow` or boxed error, or a message, makes a transient
//! failure. `?` on an [`EnqueueError`] (a follow-up job, `Context::enqueue`) is
//! permanent when the job was invalid, transient when SQS may take it later.
//! Any other error type is one call away: `.map_err(JobError::transient)?`,
//! [`ResultExt::permanent`], or a one-line `impl From<MyError> for JobError`.
//!
//! Reasons keep the whole chain of an error: an `anyhow` error's contexts
//! (`loading product 42: reading the table: timed out`), a boxed error's sources.
//! Two errors are equal when their class, code and reason are, so tests can
//! `assert_eq!(run.result, Err(JobError::permanent("…")))`.

use std::fmt::Display;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use producer::aws::{ErrorClass, classify, describe};
use producer::{DecodeError, EnqueueError, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The body is not a job this handler can read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The job is readable but breaks a rule (an address, a key, a digest…).
    #[error("invalid job: {0}")]
    Invalid(#[from] ValidationErrors),
    /// Another delivery of the same job holds its claim (see the ledger).
    #[error("another delivery of job `{job_id}` is running; its lease ends in {} s", lease_ends_in.as_secs())]
    Busy {
        job_id: String,
        lease_ends_in: std::time::Duration,
    },
    /// The job's id was already used for a different job.
    #[error("{0}")]
    Conflict(String),
    /// AWS refused or failed a call the handler makes for the job.
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        class: ErrorClass,
        message: String,
    },
    /// An AWS call of a job's own `perform` failed (`?` on an SDK error).
    #[error("{operation} failed: {message}")]
    AwsCall {
        /// The IAM action of the call, such as `dynamodb:GetItem`.
        operation: String,
        class: ErrorClass,
        message: String,
    },
    /// A job's `perform` failed, and said (or left to the default) whether a retry can help.
    #[error("{message}")]
    Failed { class: ErrorClass, message: String },
    /// A job's `perform` panicked. The job alone fails; it is tried again.
    #[error("the job panicked: {0}")]
    Panicked(String),
    /// A job's bytes in S3 are missing, unreadable, or not what the job says:
    /// a pointer message's stored envelope, an upload's `source`.
    #[error("{message}")]
    Payload {
        code: &'static str,
        class: ErrorClass,
        message: String,
    },
    /// An HTTP call (an `http` job, `Context::http`) was refused, failed, or
    /// answered with a status that is not a success.
    #[error("{message}")]
    Http {
        /// `http_status`, `http_refused`, `http_timeout`, `http_connect`, …
        code: &'static str,
        class: ErrorClass,
        /// The answer's status, when there was an answer.
        status: Option<u16>,
        message: String,
        /// The answer's `Retry-After`: the next try comes no sooner.
        retry_after: Option<std::time::Duration>,
    },
}

impl JobError {
    pub fn aws<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        JobError::Aws {
            operation,
            class: classify(err),
            message: describe(err),
        }
    }

    /// A failure that fails the same way every time: the job is dead-lettered
    /// at once, with `reason` (written with `{:#}`, so an `anyhow` error keeps
    /// its chain of contexts).
    pub fn permanent(reason: impl Display) -> Self {
        JobError::Failed {
            class: ErrorClass::Permanent,
            message: format!("{reason:#}"),
        }
    }

    /// A failure a later try may get past: the job backs off and comes back.
    pub fn transient(reason: impl Display) -> Self {
        JobError::Failed {
            class: ErrorClass::Transient,
            message: format!("{reason:#}"),
        }
    }

    /// A bad body or an invalid job fails the same way every time.
    pub fn class(&self) -> ErrorClass {
        match self {
            JobError::Decode(_) | JobError::Invalid(_) | JobError::Conflict(_) => {
                ErrorClass::Permanent
            }
            JobError::Busy { .. } | JobError::Panicked(_) => ErrorClass::Transient,
            JobError::Aws { class, .. }
            | JobError::AwsCall { class, .. }
            | JobError::Failed { class, .. }
            | JobError::Payload { class, .. }
            | JobError::Http { class, .. } => *class,
        }
    }

    /// A short stable name for logs and dead-letter attributes.
    pub fn code(&self) -> &'static str {
        match self {
            JobError::Decode(e) => e.code(),
            JobError::Invalid(_) => "invalid_job",
            JobError::Conflict(_) => "id_conflict",
            JobError::Busy { .. } => "job_running",
            JobError::Aws { operation, .. } => operation,
            JobError::AwsCall { .. } => "aws_call",
            JobError::Failed { .. } => "job_failed",
            JobError::Panicked(_) => "job_panicked",
            JobError::Http { code, .. } | JobError::Payload { code, .. } => code,
        }
    }

    /// The soonest the job may be tried again, when the failure said (an
    /// HTTP answer's `Retry-After`). The backoff's delay applies when longer.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            JobError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl<E> From<SdkError<E, HttpResponse>> for JobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        JobError::AwsCall {
            operation: producer::aws::action_of::<E>(),
            class: classify(&err),
            message: describe(&err),
        }
    }
}

/// Two errors are the same failure when their class, code and reason are: the
/// reason is all a dead letter keeps of an error.
impl PartialEq for JobError {
    fn eq(&self, other: &Self) -> bool {
        self.class() == other.class()
            && self.code() == other.code()
            && self.to_string() == other.to_string()
    }
}

/// An error and each of its sources, as one line: `outer: inner: innermost`.
pub fn with_sources(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut next = err.source();
    while let Some(source) = next {
        let text = source.to_string();
        // Some errors repeat their source in their own message.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = source.source();
    }
    line
}

macro_rules! transient_from {
    ($($error:ty),* $(,)?) => {
        $(
            impl From<$error> for JobError {
                fn from(err: $error) -> Self {
                    JobError::transient(err)
                }
            }
        )*
    };
}

transient_from!(anyhow::Error, String, &str, tokio::time::error::Elapsed);

impl From<std::io::Error> for JobError {
    fn from(err: std::io::Error) -> Self {
        JobError::transient(with_sources(&err))
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for JobError {
    fn from(err: Box<dyn std::error::Error + Send + Sync>) -> Self {
        JobError::transient(with_sources(err.as_ref()))
    }
}

/// Data that is not JSON, or not the shape expected, is wrong the same way on
/// every try; only an I/O failure under the reader may pass.
impl From<serde_json::Error> for JobError {
    fn from(err: serde_json::Error) -> Self {
        if err.is_io() {
            JobError::transient(with_sources(&err))
        } else {
            JobError::permanent(format!("the data cannot be read: {err}"))
        }
    }
}

/// A follow-up job (`Context::enqueue`): an invalid one, or one for no queue,
/// fails the same way every time; SQS's own refusals are sorted as AWS errors are.
impl From<EnqueueError> for JobError {
    fn from(err: EnqueueError) -> Self {
        match err {
            EnqueueError::Invalid { errors, .. } => JobError::Invalid(errors),
            EnqueueError::Send { class, message } => JobError::Aws {
                operation: "sqs_enqueue",
                class,
                message,
            },
            EnqueueError::UnknownQueue { class, .. } => JobError::Aws {
                operation: "sqs_enqueue",
                class,
                message: err.to_string(),
            },
            EnqueueError::NoQueue | EnqueueError::Routes(_) => JobError::permanent(err),
        }
    }
}

/// Says what a failure means, on any `Result` whose error can be shown.
pub trait ResultExt<T> {
    /// A failure that will not get better: dead-letter the job at once.
    fn permanent(self) -> Result<T, JobError>;
    /// A failure a later try may get past.
    fn transient(self) -> Result<T, JobError>;
}

impl<T, E: Display> ResultExt<T> for Result<T, E> {
    fn permanent(self) -> Result<T, JobError> {
        self.map_err(JobError::permanent)
    }

    fn transient(self) -> Result<T, JobError> {
        self.map_err(JobError::transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_the_user_does_not_sort_are_transient_but_bad_data_is_permanent() {
        let io: JobError = std::io::Error::other("disk").into();
        assert_eq!(io.class(), ErrorClass::Transient);
        let not_json: JobError = serde_json::from_str::<u32>("x").unwrap_err().into();
        assert_eq!(not_json.class(), ErrorClass::Permanent);
        let wrong_shape: JobError = serde_json::from_str::<u32>("\"42\"").unwrap_err().into();
        assert_eq!(wrong_shape.class(), ErrorClass::Permanent);
        assert!(
            wrong_shape.to_string().contains("invalid type"),
            "{wrong_shape}"
        );
        let sorted: Result<(), JobError> = Err::<(), _>("gone for good").permanent();
        assert_eq!(sorted.unwrap_err().class(), ErrorClass::Permanent);
    }

    #[test]
    fn an_error_keeps_its_chain_in_its_reason() {
        use anyhow::Context as _;
        let failed: anyhow::Result<()> = Err(std::io::Error::other("timed out"))
            .context("reading the table")
            .context("loading product 42");
        let error = JobError::from(failed.unwrap_err());
        assert_eq!(
            error.to_string(),
            "loading product 42: reading the table: timed out"
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> =
            Box::new(std::io::Error::other(Outer));
        let error = JobError::from(boxed);
        assert_eq!(error.to_string(), "outer: inner");
    }

    #[derive(Debug)]
    struct Outer;
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&Inner)
        }
    }
    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("inner")
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn errors_compare_by_class_code_and_reason() {
        assert_eq!(JobError::permanent("no"), JobError::permanent("no"));
        assert_ne!(JobError::permanent("no"), JobError::transient("no"));
        assert_ne!(JobError::permanent("no"), JobError::permanent("nope"));
    }
}
