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
}

/// Values of [`field::STATE`].
pub mod state {
    pub const IN_PROGRESS: &str = "in_progress";
    pub const DONE: &str = "done";
    pub const CANCELLED: &str = "cancelled";
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

/// A record's state, if it has one.
#[cfg(feature = "ledger")]
pub fn state_of(record: &HashMap<String, AttributeValue>) -> Option<&str> {
    record
        .get(field::STATE)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
