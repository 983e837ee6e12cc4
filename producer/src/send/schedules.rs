//! Scheduled jobs listed in the ledger (feature `schedules`, off by default), so
//! that the console's Scheduled tab can show them, run them now or cancel them.
//!
//! SQS cannot list a delayed message, and a job scheduled past 15 minutes
//! travels as a chain of messages. So when a job with a time (`at`, `after`) or
//! a delay is sent, the producer also writes a record under a key of its own
//! (`schedule#<job id>`, never the job's claim key) to the idempotency table,
//! in its sparse `scheduled` index, sorted by the job's time. The record
//! expires a keep period after that time. It is written after the message is
//! sent: a job that could not be listed still runs, and the failure is logged
//! (`tracing`), not returned, so that a caller never sends it twice.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::AsyncSleep as _;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt as _;

use crate::aws::describe;
use crate::contract::ledger::{
    DEFAULT_KEEP_SECONDS, TABLE_ENV, epoch_seconds, field, schedule_key, shard_of, state,
};

/// The largest body a schedule record keeps, for Run now. A DynamoDB item holds
/// 400 KB; a larger job is listed without its body and cannot be run early.
pub const MAX_KEPT_BODY_BYTES: usize = 64 * 1024;

/// `BatchWriteItem` takes at most 25 requests.
const MAX_BATCH_WRITES: usize = 25;

/// Where scheduled jobs are listed: the ledger's table.
#[derive(Debug, Clone)]
pub struct ScheduleBook {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

/// A job that was sent to run later.
#[derive(Debug, Clone)]
pub struct ScheduledJob<'a> {
    pub job_id: &'a str,
    pub kind: &'a str,
    pub queue_url: &'a str,
    pub body: &'a str,
    pub due_at: SystemTime,
}

impl ScheduledJob<'_> {
    /// The job's schedule record.
    pub fn record(&self) -> HashMap<String, AttributeValue> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: u64| AttributeValue::N(v.to_string());
        let due = epoch_seconds(self.due_at);
        let mut record = HashMap::from([
            (field::JOB_ID.to_owned(), s(&schedule_key(self.job_id))),
            (field::ID.to_owned(), s(self.job_id)),
            (field::STATE.to_owned(), s(state::SCHEDULED)),
            (field::KIND.to_owned(), s(self.kind)),
            (field::QUEUE_URL.to_owned(), s(self.queue_url)),
            (field::DUE_AT.to_owned(), n(due)),
            (field::SCHEDULED_SHARD.to_owned(), s(&shard_of(self.job_id))),
            (
                field::EXPIRES_AT.to_owned(),
                n(due.saturating_add(DEFAULT_KEEP_SECONDS)),
            ),
        ]);
        if self.body.len() <= MAX_KEPT_BODY_BYTES {
            record.insert(field::BODY.to_owned(), s(self.body));
        }
        record
    }
}

impl ScheduleBook {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ScheduleBook {
            dynamodb,
            table: table.into(),
        }
    }

    /// The ledger named by `JOBS_IDEMPOTENCY_TABLE`, if it is set.
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        let table = std::env::var(TABLE_ENV).ok().filter(|t| !t.is_empty())?;
        Some(ScheduleBook::new(
            aws_sdk_dynamodb::Client::new(config),
            table,
        ))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Lists sent jobs, 25 to a `BatchWriteItem`, a few calls at a time.
    /// Returns how many could not be listed; each failure is logged.
    pub async fn record(&self, jobs: &[ScheduledJob<'_>]) -> usize {
        let calls: Vec<_> = jobs
            .chunks(MAX_BATCH_WRITES)
            .map(|chunk| self.write_or_log(chunk))
            .collect();
        let mut calls = futures::stream::iter(calls).buffer_unordered(4);
        let mut missed = 0;
        while let Some(chunk_missed) = calls.next().await {
            missed += chunk_missed;
        }
        missed
    }

    async fn write_or_log(&self, chunk: &[ScheduledJob<'_>]) -> usize {
        match self.write(chunk).await {
            Ok(()) => 0,
            Err(error) => {
                for job in chunk {
                    tracing::warn!(job_id = job.job_id, error = %error,
                        "the job was sent, but could not be listed as scheduled");
                }
                chunk.len()
            }
        }
    }

    async fn write(&self, chunk: &[ScheduledJob<'_>]) -> Result<(), String> {
        if let [job] = chunk {
            return self
                .dynamodb
                .put_item()
                .table_name(&self.table)
                .set_item(Some(job.record()))
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e));
        }
        let mut requests = chunk
            .iter()
            .map(|job| {
                PutRequest::builder()
                    .set_item(Some(job.record()))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB may hand some writes back unprocessed: try those again, a
        // few times, with a short pause.
        let sleep = self.dynamodb.config().sleep_impl();
        for pause in [0, 50, 200, 800] {
            if let (Some(sleep), true) = (&sleep, pause > 0) {
                sleep.sleep(Duration::from_millis(pause)).await;
            }
            let output = self
                .dynamodb
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            requests = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(format!(
            "dynamodb left {} writes unprocessed",
            requests.len()
        ))
    }
}
