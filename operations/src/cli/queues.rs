//! The queues a command covers: `--queue`, `--queue-url` and `--dlq-url`,
//! else the queues the environment names.

use clap::Args;

use crate::queues::JobQueue;

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// One queue, by a name of `JOBS_QUEUE_URLS` (or any SQS queue name) or by
    /// URL. Without it: every queue of `JOBS_QUEUE_URLS`, else `JOBS_QUEUE_URL`.
    #[arg(long, value_name = "NAME|URL", conflicts_with = "queue_url")]
    pub queue: Option<String>,
    /// The queue's URL (as `--queue URL`).
    #[arg(long)]
    pub queue_url: Option<String>,
    /// Its dead-letter queue's URL, when its redrive policy does not name one
    /// (a lone `JOBS_QUEUE_URL` also falls back on `JOBS_DLQ_URL`).
    #[arg(long)]
    pub dlq_url: Option<String>,
    /// Read at most this many dead letters.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// The payload bucket: a dead letter's stored envelope is read and
    /// deleted only under its `payloads/`; a pointer anywhere else is shown
    /// as it is, never followed.
    #[arg(long, env = producer::contract::pointer::PAYLOAD_BUCKET_ENV, value_name = "BUCKET")]
    pub payload_bucket: Option<String>,
}

/// What the covered queues' dead letters may be sent to and read from.
pub(super) fn served(queues: &[JobQueue], args: &QueueArgs) -> crate::served::Served {
    crate::served::Served::of(queues, args.payload_bucket.clone())
}

/// The queues a command covers, each with its dead-letter queue.
pub(super) async fn job_queues(
    sqs: &aws_sdk_sqs::Client,
    args: &QueueArgs,
) -> Result<Vec<JobQueue>, String> {
    crate::queues::job_queues(
        sqs,
        &crate::queues::Chosen {
            queue: args.queue.clone().or_else(|| args.queue_url.clone()),
            dlq_url: args.dlq_url.clone(),
        },
    )
    .await
}

/// The queues that have a dead-letter queue; an error when none has.
pub(super) async fn with_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    args: &QueueArgs,
) -> Result<Vec<(JobQueue, String)>, String> {
    let queues = job_queues(sqs, args).await?;
    let names: Vec<String> = queues.iter().map(|q| format!("`{}`", q.name)).collect();
    let found: Vec<_> = queues
        .into_iter()
        .filter_map(|q| q.dead_letters.clone().map(|dlq| (q, dlq)))
        .collect();
    if found.is_empty() {
        return Err(format!(
            "no dead-letter queue: {} has no redrive policy; pass `--dlq-url` or set `{}`",
            names.join(", "),
            crate::queues::DLQ_URL_ENV
        ));
    }
    Ok(found)
}
