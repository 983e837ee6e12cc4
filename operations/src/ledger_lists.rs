//! The console's Busy, Retries and Scheduled tabs, and Run now and Cancel on a
//! scheduled job: read from the idempotency ledger's three sparse indexes
//! (never a scan of the table), each spread over
//! [`index::SHARDS`](producer::contract::ledger::index::SHARDS) partitions
//! queried side by side.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt as _;

use producer::aws::{ErrorClass, classify, describe};
use producer::contract::ledger::{
    DEFAULT_KEEP_SECONDS, epoch_seconds, field, index, number, payload_sha256, read, schedule_key,
    state, state_of, text,
};
use producer::{Envelope, Queue, SendOptions};

use crate::cancel::{CancelError, Cancelled};

#[derive(Debug, thiserror::Error)]
pub enum LedgerListError {
    #[error("{operation} on the ledger `{table}` failed: {message}")]
    Aws {
        operation: &'static str,
        table: String,
        class: ErrorClass,
        message: String,
    },
    #[error("no scheduled job `{0}` is listed (it ran, was cancelled, or was never listed)")]
    NotScheduled(String),
    #[error(
        "job `{0}` is listed without its body (larger than a ledger record keeps); it cannot be run early, only cancelled"
    )]
    NoBody(String),
    #[error("job `{job_id}`'s listed body cannot be read: {problem}")]
    BadBody { job_id: String, problem: String },
    #[error("job `{job_id}` cannot be run now: {why}")]
    Refused { job_id: String, why: String },
    /// The record names a queue the stack does not serve: a producer may
    /// write schedule records, so their `queue_url` is its word alone.
    #[error("job `{job_id}` was not run now: {why}")]
    NotServed {
        job_id: String,
        why: crate::served::NotServed,
    },
    #[error("job `{job_id}` could not be sent to `{queue_url}`: {message}")]
    Send {
        job_id: String,
        queue_url: String,
        message: String,
    },
    #[error(transparent)]
    Cancel(#[from] CancelError),
}

fn aws_error<E>(
    operation: &'static str,
    table: &str,
) -> impl FnOnce(
    aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> LedgerListError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let table = table.to_owned();
    move |e| LedgerListError::Aws {
        operation,
        table,
        class: classify(&e),
        message: describe(&e),
    }
}

/// A job that holds a claim: running, or stuck if its lease ran out (its
/// worker died or its heartbeat stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub job_id: String,
    pub kind: String,
    pub queue: String,
    pub claimed_at: u64,
    /// The heartbeat's last renewal of the claim.
    pub beat_at: u64,
    pub lease_until: u64,
}

impl Running {
    /// Its lease ran out and nobody renewed it.
    pub fn stuck(&self, now: u64) -> bool {
        self.lease_until < now
    }
}

/// A job that failed and waits for SQS to deliver it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub job_id: String,
    pub kind: String,
    pub queue: String,
    pub attempt: u64,
    pub last_error: String,
    pub retry_at: u64,
}

/// A job sent to run later, as its producer listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub job_id: String,
    pub kind: String,
    pub queue_url: String,
    pub due_at: u64,
}

impl Scheduled {
    /// The queue's SQS name.
    pub fn queue(&self) -> &str {
        producer::send::queue::queue_name_of(&self.queue_url)
    }
}

type Record = HashMap<String, AttributeValue>;

/// Up to `limit` records of `index_name` in each shard, `from` on in the
/// index's sort key, all shards together sorted by it.
async fn query(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    index_name: &'static str,
    (shard_key, sort_key): (&'static str, &'static str),
    from: Option<u64>,
    limit: usize,
) -> Result<Vec<Record>, LedgerListError> {
    let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
    let shard = |shard: u32| async move {
        let mut request = dynamodb
            .query()
            .table_name(table)
            .index_name(index_name)
            .expression_attribute_names("#shard", shard_key)
            .expression_attribute_values(":shard", AttributeValue::S(shard.to_string()))
            .limit(limit);
        request = match from {
            Some(from) => request
                .key_condition_expression("#shard = :shard AND #sort >= :from")
                .expression_attribute_names("#sort", sort_key)
                .expression_attribute_values(":from", AttributeValue::N(from.to_string())),
            None => request.key_condition_expression("#shard = :shard"),
        };
        request
            .send()
            .await
            .map(|output| output.items.unwrap_or_default())
            .map_err(aws_error("dynamodb_query", table))
    };
    let pages: Vec<_> = futures::stream::iter(0..index::SHARDS)
        .map(shard)
        .buffer_unordered(index::SHARDS as usize)
        .collect()
        .await;
    let mut records = Vec::new();
    for page in pages {
        records.extend(page?);
    }
    records.sort_by_key(|r| number(r, sort_key).unwrap_or_default());
    records.truncate(limit as usize);
    Ok(records)
}

fn owned(record: &Record, name: &str) -> String {
    text(record, name).unwrap_or_default().to_owned()
}

/// Running jobs, longest running first.
pub async fn busy(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    limit: usize,
) -> Result<Vec<Running>, LedgerListError> {
    let records = query(
        dynamodb,
        table,
        index::BUSY,
        (field::BUSY_SHARD, field::CLAIMED_AT),
        None,
        limit,
    )
    .await?;
    Ok(records
        .iter()
        .map(|r| Running {
            job_id: owned(r, field::JOB_ID),
            kind: owned(r, field::KIND),
            queue: owned(r, field::QUEUE),
            claimed_at: number(r, field::CLAIMED_AT).unwrap_or_default(),
            beat_at: number(r, field::BEAT_AT).unwrap_or_default(),
            lease_until: number(r, field::LEASE_UNTIL).unwrap_or_default(),
        })
        .collect())
}

/// Jobs waiting for their next try, soonest first.
pub async fn retries(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    limit: usize,
) -> Result<Vec<Waiting>, LedgerListError> {
    let records = query(
        dynamodb,
        table,
        index::RETRIES,
        (field::RETRY_SHARD, field::RETRY_AT),
        None,
        limit,
    )
    .await?;
    Ok(records
        .iter()
        .map(|r| Waiting {
            job_id: owned(r, field::JOB_ID),
            kind: owned(r, field::KIND),
            queue: owned(r, field::QUEUE),
            attempt: number(r, field::ATTEMPT).unwrap_or_default(),
            last_error: owned(r, field::LAST_ERROR),
            retry_at: number(r, field::RETRY_AT).unwrap_or_default(),
        })
        .collect())
}

/// Jobs due at `from` or later, soonest first.
pub async fn scheduled(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    from: SystemTime,
    limit: usize,
) -> Result<Vec<Scheduled>, LedgerListError> {
    let records = query(
        dynamodb,
        table,
        index::SCHEDULED,
        (field::SCHEDULED_SHARD, field::DUE_AT),
        Some(epoch_seconds(from)),
        limit,
    )
    .await?;
    Ok(records
        .iter()
        .map(|r| Scheduled {
            job_id: owned(r, field::ID),
            kind: owned(r, field::KIND),
            queue_url: owned(r, field::QUEUE_URL),
            due_at: number(r, field::DUE_AT).unwrap_or_default(),
        })
        .collect())
}

/// What Run now did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RanNow {
    pub job_id: String,
    pub message_id: String,
}

/// Sends a scheduled job to run now, with its own id, and marks its ledger
/// record so that the copy still carried to the job's time stops when it comes
/// up: the mark holds until the job's time plus a done record's keep, so it
/// cannot expire first. The mark is written before the copy is sent (and
/// taken back if the send fails), then the schedule record is removed. The
/// copy goes only to a queue `served` has: else nothing is written or sent.
pub async fn run_now(
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    table: &str,
    job_id: &str,
    served: &crate::served::Served,
) -> Result<RanNow, LedgerListError> {
    let key = schedule_key(job_id);
    let listed = read(dynamodb, table, &key)
        .await
        .map_err(aws_error("dynamodb_get_item", table))?;
    if listed.is_empty() {
        return Err(LedgerListError::NotScheduled(job_id.to_owned()));
    }
    let body = text(&listed, field::BODY).ok_or_else(|| LedgerListError::NoBody(job_id.into()))?;
    let queue_url = served
        .queue(&owned(&listed, field::QUEUE_URL))
        .map_err(|why| LedgerListError::NotServed {
            job_id: job_id.to_owned(),
            why,
        })?
        .to_owned();
    let mut envelope = Envelope::decode(body).map_err(|e| LedgerListError::BadBody {
        job_id: job_id.to_owned(),
        problem: e.to_string(),
    })?;
    if envelope.id != job_id {
        return Err(LedgerListError::BadBody {
            job_id: job_id.to_owned(),
            problem: format!("it names the job `{}`", envelope.id),
        });
    }
    envelope.not_before = None;
    let now = epoch_seconds(SystemTime::now());
    let due_at = number(&listed, field::DUE_AT).unwrap_or(now);
    let hold_until = due_at.max(now).saturating_add(DEFAULT_KEEP_SECONDS);
    let marked = dynamodb
        .put_item()
        .table_name(table)
        .item(field::JOB_ID, AttributeValue::S(job_id.to_owned()))
        .item(field::STATE, AttributeValue::S(state::RUN_NOW.to_owned()))
        .item(
            field::PAYLOAD_SHA256,
            AttributeValue::S(payload_sha256(&envelope)),
        )
        .item(field::HOLD_UNTIL, AttributeValue::N(hold_until.to_string()))
        .item(field::EXPIRES_AT, AttributeValue::N(hold_until.to_string()))
        .condition_expression("attribute_not_exists(#job_id) OR #expires_at < :now")
        .expression_attribute_names("#job_id", field::JOB_ID)
        .expression_attribute_names("#expires_at", field::EXPIRES_AT)
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .send()
        .await;
    if let Err(e) = marked {
        if !e
            .as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception())
        {
            return Err(aws_error("dynamodb_put_item", table)(e));
        }
        let record = read(dynamodb, table, job_id)
            .await
            .map_err(aws_error("dynamodb_get_item", table))?;
        let why = match state_of(&record) {
            Some(state::CANCELLED) => "it was cancelled",
            Some(state::DONE) => "it has already run",
            Some(state::RUN_NOW) => "it was run now already",
            Some(state::RETRYING) => "it ran and waits for a retry",
            _ => "it is running now",
        };
        return Err(LedgerListError::Refused {
            job_id: job_id.to_owned(),
            why: why.to_owned(),
        });
    }
    let sent = Queue::new(sqs.clone(), &queue_url)
        .enqueue(&envelope, SendOptions::default())
        .await;
    let sent = match sent {
        Ok(sent) => sent,
        Err(e) => {
            // Not sent: take the mark back, so the carried copy runs at its time.
            let _taken_back = dynamodb
                .delete_item()
                .table_name(table)
                .key(field::JOB_ID, AttributeValue::S(job_id.to_owned()))
                .condition_expression("#state = :run_now")
                .expression_attribute_names("#state", field::STATE)
                .expression_attribute_values(":run_now", AttributeValue::S(state::RUN_NOW.into()))
                .send()
                .await;
            return Err(LedgerListError::Send {
                job_id: job_id.to_owned(),
                queue_url,
                message: e.to_string(),
            });
        }
    };
    unlist(dynamodb, table, job_id).await?;
    Ok(RanNow {
        job_id: job_id.to_owned(),
        message_id: sent.message_id,
    })
}

/// Cancels a scheduled job (the ledger's `cancelled` mark, which never
/// expires: see [`crate::cancel`]) and removes it from the list.
pub async fn cancel_scheduled(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    job_id: &str,
) -> Result<Cancelled, LedgerListError> {
    let cancelled = crate::cancel::cancel(dynamodb, table, job_id).await?;
    unlist(dynamodb, table, job_id).await?;
    Ok(cancelled)
}

async fn unlist(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    job_id: &str,
) -> Result<(), LedgerListError> {
    dynamodb
        .delete_item()
        .table_name(table)
        .key(field::JOB_ID, AttributeValue::S(schedule_key(job_id)))
        .send()
        .await
        .map_err(aws_error("dynamodb_delete_item", table))?;
    Ok(())
}
