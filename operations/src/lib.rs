//! Operating the queues of background jobs on SQS, and the `jobs` command line:
//!
//! - [`stats`]: what SQS counts on a queue and its dead-letter queue, and the
//!   oldest job's age (`jobs stats`);
//! - [`dead_letters`]: the dead letters and their reasons, redrive and purge
//!   (`jobs dlq …`);
//! - [`cancel`]: cancelling a job that has not run (`jobs cancel`);
//! - [`console`]: `jobs ui`, a web console for the queues and their dead letters;
//! - [`job_metrics`]: the handler's job metrics read back from CloudWatch;
//! - [`ledger_lists`]: running jobs, retries and scheduled jobs from the
//!   ledger's indexes, and Run now and Cancel on a scheduled job;
//! - [`pause`]: pausing and resuming a queue (its tag, its Lambda event source);
//! - [`doctor`]: checking that an account has what the jobs need (`jobs doctor`);
//! - [`cli`]: the `jobs` command line on top of them, with [`lines`] for JSON
//!   Lines of any size and [`schema`] for payload schemas a worker exports.
//!
//! Enqueueing is the `producer` crate's, running jobs the `handler` crate's;
//! neither depends on this one.

pub mod cancel;
pub mod cli;
pub mod console;
pub mod dead_letters;
pub mod doctor;
pub mod job_metrics;
pub mod ledger_lists;
pub mod lines;
pub mod pause;
pub mod periodic;
pub mod queues;
pub mod schema;
pub mod served;
pub mod stats;

use producer::aws::{ErrorClass, classify, describe};

#[derive(Debug, thiserror::Error)]
#[error("{operation} on `{queue_url}` failed: {message}")]
pub struct OpsError {
    pub operation: &'static str,
    pub queue_url: String,
    pub class: ErrorClass,
    pub message: String,
}

pub(crate) fn ops_error<E>(
    operation: &'static str,
    queue_url: &str,
) -> impl FnOnce(
    aws_sdk_sqs::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> OpsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let queue_url = queue_url.to_owned();
    move |e| OpsError {
        operation,
        queue_url,
        class: classify(&e),
        message: describe(&e),
    }
}
