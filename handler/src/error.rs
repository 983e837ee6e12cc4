//! Why a job did not take effect, and whether trying again can help.

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
    /// AWS refused or failed the call that carries out the job.
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        class: ErrorClass,
        message: String,
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

    /// A bad body or an invalid job fails the same way every time.
    pub fn class(&self) -> ErrorClass {
        match self {
            JobError::Decode(_) | JobError::Invalid(_) | JobError::Conflict(_) => {
                ErrorClass::Permanent
            }
            JobError::Busy { .. } => ErrorClass::Transient,
            JobError::Aws { class, .. } => *class,
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
        }
    }
}
