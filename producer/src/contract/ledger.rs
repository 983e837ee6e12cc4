//! The idempotency ledger's record format, shared by the handler (claims) and
//! the operators' `jobs cancel` (the `operations` crate). Reading a record
//! calls DynamoDB: that is the `ledger` feature, off by default.
//!
//! The ledger is a DynamoDB table with one record per job id (see the handler's
//! `ledger` module). A cancelled job gets a record of its own that no claim can
//! take over: when its message comes up, whether to run or to be carried
//! forward, the handler deletes it and does nothing.

#[cfg(feature = "ledger")]
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "ledger")]
use aws_sdk_dynamodb::{operation::get_item::GetItemError, types::AttributeValue};
#[cfg(feature = "ledger")]
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};

/// The variable that names the table, for the handler and the CLI alike.
pub const TABLE_ENV: &str = "JOBS_IDEMPOTENCY_TABLE";

/// Attribute names of a ledger record.
pub mod field {
    pub const JOB_ID: &str = "job_id";
    pub const STATE: &str = "state";
    pub const LEASE_UNTIL: &str = "lease_until";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const CANCELLED_AT: &str = "cancelled_at";
    pub const PAYLOAD_SHA256: &str = "payload_sha256";
    pub const KIND: &str = "kind";
    /// The queue's SQS name.
    pub const QUEUE: &str = "queue";
    /// When the claim was taken, and the heartbeat's last renewal of it.
    pub const CLAIMED_AT: &str = "claimed_at";
    pub const BEAT_AT: &str = "beat_at";
    /// Present while a job runs: the [`super::index::BUSY`] index's key.
    pub const BUSY_SHARD: &str = "busy_shard";
    /// Present while a job waits for its next try: the [`super::index::RETRIES`] index's key.
    pub const RETRY_SHARD: &str = "retry_shard";
    pub const RETRY_AT: &str = "retry_at";
    pub const ATTEMPT: &str = "attempt";
    pub const LAST_ERROR: &str = "last_error";
    /// A run-now mark's lower bound on the record's life: the job's own time
    /// and then as long as a done record is kept, so that the carried copy
    /// still finds it.
    pub const HOLD_UNTIL: &str = "hold_until";
    /// Of a schedule record: the [`super::index::SCHEDULED`] index's key, the
    /// job's time, its queue's URL and its message body.
    pub const SCHEDULED_SHARD: &str = "scheduled_shard";
    pub const DUE_AT: &str = "due_at";
    pub const QUEUE_URL: &str = "queue_url";
    pub const BODY: &str = "body";
    pub const ID: &str = "id";
}

/// Values of [`field::STATE`].
pub mod state {
    pub const IN_PROGRESS: &str = "in_progress";
    pub const DONE: &str = "done";
    pub const CANCELLED: &str = "cancelled";
    /// Failed, and waiting for SQS to deliver it again.
    pub const RETRYING: &str = "retrying";
    /// An operator ran a scheduled job ahead of its time (`jobs ui`, Run now):
    /// the copy sent now may claim it; the copy still carried to the job's
    /// time finds the record and stops.
    pub const RUN_NOW: &str = "run_now";
    /// Of a schedule record.
    pub const SCHEDULED: &str = "scheduled";
}

/// The table's sparse global secondary indexes. Each holds only the records
/// that carry its partition key, spread over [`SHARDS`] partitions (`"0"`…`"7"`)
/// so that no index partition takes every write; a reader queries them all.
pub mod index {
    /// Running jobs: `busy_shard`, sorted by `claimed_at`.
    pub const BUSY: &str = "busy";
    /// Jobs waiting for a retry: `retry_shard`, sorted by `retry_at`.
    pub const RETRIES: &str = "retries";
    /// Scheduled jobs: `scheduled_shard`, sorted by `due_at`.
    pub const SCHEDULED: &str = "scheduled";
    pub const SHARDS: u32 = 8;
}

/// The index partition of `job_id`, stable across processes and versions
/// (FNV-1a).
pub fn shard_of(job_id: &str) -> String {
    let hash = job_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    (hash % u64::from(index::SHARDS)).to_string()
}

/// The key of a job's schedule record. A job id cannot hold `#`, so this never
/// names a claim.
pub fn schedule_key(job_id: &str) -> String {
    format!("schedule#{job_id}")
}

/// How long a done record keeps duplicates away unless the handler is told
/// otherwise (`JOBS_KEEP_DONE_SECONDS`).
pub const DEFAULT_KEEP_SECONDS: u64 = 7 * 24 * 3600;

/// What "the same job" means: the SHA-256 of the job's JSON (its kind and
/// fields, not its timestamps).
pub fn payload_sha256(envelope: &crate::Envelope) -> String {
    crate::contract::envelope::sha256_hex(
        serde_json::to_string(&envelope.job)
            .unwrap_or_default()
            .as_bytes(),
    )
}

pub fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A job's ledger record, read consistently; empty when there is none.
#[cfg(feature = "ledger")]
pub async fn read(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    job_id: &str,
) -> Result<HashMap<String, AttributeValue>, SdkError<GetItemError, HttpResponse>> {
    Ok(dynamodb
        .get_item()
        .table_name(table)
        .key(field::JOB_ID, AttributeValue::S(job_id.to_owned()))
        .consistent_read(true)
        .send()
        .await?
        .item
        .unwrap_or_default())
}

/// A text attribute of a record, if it has it.
#[cfg(feature = "ledger")]
pub fn text<'a>(record: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    record
        .get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// A number attribute of a record, if it has it.
#[cfg(feature = "ledger")]
pub fn number(record: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    record
        .get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// A record's state, if it has one.
#[cfg(feature = "ledger")]
pub fn state_of(record: &HashMap<String, AttributeValue>) -> Option<&str> {
    text(record, field::STATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_ids_and_stay_put() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let shard = shard_of(&format!("job-{i}"));
            assert!(
                shard.parse::<u32>().is_ok_and(|s| s < index::SHARDS),
                "{shard}"
            );
            seen.insert(shard);
        }
        assert_eq!(seen.len(), index::SHARDS as usize, "every shard is used");
        // Writers and readers in other processes must agree: the hash is fixed.
        assert_eq!(shard_of("order-42"), shard_of("order-42"));
        assert_eq!(shard_of(""), (0xcbf2_9ce4_8422_2325_u64 % 8).to_string());
    }

    #[test]
    fn schedule_keys_are_never_job_ids() {
        let key = schedule_key("order-42");
        assert_eq!(key, "schedule#order-42");
        let envelope = crate::Envelope::new(crate::Job::Custom(crate::CustomJob {
            kind: "sweep".into(),
            payload: serde_json::json!({}),
        }))
        .with_id(&key);
        assert!(envelope.validate().is_err(), "`#` is refused in a job id");
    }
}
