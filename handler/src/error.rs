//! Why a job did not take effect, and whether trying again can help.
//!
//! A job's `perform` returns this error too. `?` on an AWS SDK error sorts it
//! the way the built-in jobs' calls are sorted ([`producer::aws::classify`]);
//! `?` on an I/O, JSON, `anyhow` or boxed error, or a message, makes a transient
//! failure. Any other error type is one call away:
//! `.map_err(JobError::transient)?`, [`ResultExt::permanent`], or a one-line
//! `impl From<MyError> for JobError`.

use std::fmt::Display;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use producer::aws::{ErrorClass, classify, describe};
use producer::{DecodeError, ValidationErrors};

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
    /// at once, with `reason`.
    pub fn permanent(reason: impl Display) -> Self {
        JobError::Failed {
            class: ErrorClass::Permanent,
            message: reason.to_string(),
        }
    }

    /// A failure a later try may get past: the job backs off and comes back.
    pub fn transient(reason: impl Display) -> Self {
        JobError::Failed {
            class: ErrorClass::Transient,
            message: reason.to_string(),
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
            | JobError::Failed { class, .. } => *class,
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

transient_from!(
    std::io::Error,
    serde_json::Error,
    anyhow::Error,
    Box<dyn std::error::Error + Send + Sync>,
    String,
    &str,
    tokio::time::error::Elapsed,
);

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
    fn errors_the_user_does_not_sort_are_transient() {
        let io: JobError = std::io::Error::other("disk").into();
        assert_eq!(io.class(), ErrorClass::Transient);
        let json: JobError = serde_json::from_str::<u32>("x").unwrap_err().into();
        assert_eq!(json.class(), ErrorClass::Transient);
        let sorted: Result<(), JobError> = Err::<(), _>("gone for good").permanent();
        assert_eq!(sorted.unwrap_err().class(), ErrorClass::Permanent);
    }
}
