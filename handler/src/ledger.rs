//! One DynamoDB record per job id, so that a job delivered twice takes effect once.
//!
//! SQS delivers at least once, and redelivers whatever a crashed worker held.
//! Before running a job the handler claims its id with a conditional write: an
//! in-progress record with a lease. When the job has taken effect the record is
//! marked done and kept for a while (DynamoDB's TTL removes it later); a second
//! delivery then finds it done and does nothing. A lease that ran out means the
//! holder died: the next delivery may claim the job again. The same id with a
//! different payload is refused, never silently skipped.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::JobError;

use producer::contract::ledger::state::{
    CANCELLED as STATE_CANCELLED, DONE as STATE_DONE, IN_PROGRESS as STATE_IN_PROGRESS,
};
use producer::contract::ledger::{field, state_of};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    pub table: String,
    /// How long a claim holds before another delivery may take the job over;
    /// longer than a job can run (the function timeout).
    pub lease: Duration,
    /// How long a done record keeps duplicates away.
    pub keep: Duration,
}

impl LedgerSettings {
    pub const TABLE_ENV: &str = producer::contract::ledger::TABLE_ENV;
    pub const LEASE_ENV: &str = "JOBS_LEASE_SECONDS";
    pub const KEEP_ENV: &str = "JOBS_KEEP_DONE_SECONDS";
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);
    pub const DEFAULT_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

    pub fn new(table: impl Into<String>) -> Self {
        LedgerSettings {
            table: table.into(),
            lease: Self::DEFAULT_LEASE,
            keep: Self::DEFAULT_KEEP,
        }
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This delivery owns the job: run it, then [`Ledger::complete`] or [`Ledger::release`].
    Granted { token: String },
    /// The job already took effect.
    AlreadyDone,
    /// Another delivery holds a live lease on it.
    Busy { lease_ends_in: Duration },
    /// Someone cancelled the job (`jobs cancel`): it must not run.
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Ledger {
    dynamodb: aws_sdk_dynamodb::Client,
    settings: LedgerSettings,
}

/// What "the same job" means: the SHA-256 of the job's JSON (its kind and
/// fields, not its timestamps).
pub fn payload_sha256(envelope: &producer::Envelope) -> String {
    producer::contract::envelope::sha256_hex(
        serde_json::to_string(&envelope.job)
            .unwrap_or_default()
            .as_bytes(),
    )
}

pub use producer::contract::ledger::epoch_seconds;

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

impl Ledger {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, settings: LedgerSettings) -> Self {
        Ledger { dynamodb, settings }
    }

    pub fn settings(&self) -> &LedgerSettings {
        &self.settings
    }

    /// Claims `job_id` for this delivery, unless it is done or held.
    pub async fn claim(&self, job_id: &str, payload_sha256: &str) -> Result<Claim, JobError> {
        let now = epoch_seconds(SystemTime::now());
        let token = uuid::Uuid::new_v4().to_string();
        let put = self
            .dynamodb
            .put_item()
            .table_name(&self.settings.table)
            .item(field::JOB_ID, s(job_id))
            .item(field::STATE, s(STATE_IN_PROGRESS))
            .item("payload_sha256", s(payload_sha256))
            .item("token", s(&token))
            .item(field::LEASE_UNTIL, n(now + self.settings.lease.as_secs()))
            .item(field::EXPIRES_AT, n(now + self.settings.keep.as_secs()))
            // Free, forgotten (past its TTL but not yet removed), or held by a
            // delivery whose lease ran out — and then only for the same job.
            .condition_expression(
                "attribute_not_exists(job_id) OR expires_at < :now \
                 OR (#state = :in_progress AND lease_until < :now AND payload_sha256 = :payload)",
            )
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .expression_attribute_values(":payload", s(payload_sha256))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Granted { token }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.why_not(job_id, payload_sha256, now).await
            }
            Err(e) => Err(JobError::aws("dynamodb_claim", &e)),
        }
    }

    /// Reads the record that stopped a claim.
    async fn why_not(
        &self,
        job_id: &str,
        payload_sha256: &str,
        now: u64,
    ) -> Result<Claim, JobError> {
        let record = self.read(job_id).await?;
        let text = |key: &str| {
            record
                .get(key)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let number = |key: &str| {
            record
                .get(key)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_default()
        };
        if record.is_empty() {
            // Removed between the two calls: the next delivery will claim it.
            return Ok(Claim::Busy {
                lease_ends_in: Duration::ZERO,
            });
        }
        if state_of(&record) == Some(STATE_CANCELLED) {
            return Ok(Claim::Cancelled);
        }
        if text("payload_sha256") != payload_sha256 {
            return Err(JobError::Conflict(format!(
                "job id `{job_id}` was already used for a different job; a job id names one job only"
            )));
        }
        if state_of(&record) == Some(STATE_DONE) {
            return Ok(Claim::AlreadyDone);
        }
        Ok(Claim::Busy {
            lease_ends_in: Duration::from_secs(number(field::LEASE_UNTIL).saturating_sub(now)),
        })
    }

    /// True when the job was cancelled; read before carrying a job forward, so
    /// a cancelled job stops travelling at its next leg.
    pub async fn is_cancelled(&self, job_id: &str) -> Result<bool, JobError> {
        Ok(state_of(&self.read(job_id).await?) == Some(STATE_CANCELLED))
    }

    async fn read(&self, job_id: &str) -> Result<HashMap<String, AttributeValue>, JobError> {
        producer::contract::ledger::read(&self.dynamodb, &self.settings.table, job_id)
            .await
            .map_err(|e| JobError::aws("dynamodb_read_claim", &e))
    }

    /// Marks the job done; duplicates are skipped from now on.
    pub async fn complete(&self, job_id: &str, token: &str) -> Result<(), JobError> {
        let now = epoch_seconds(SystemTime::now());
        self.dynamodb
            .update_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .update_expression("SET #state = :done, expires_at = :expires REMOVE lease_until")
            .condition_expression("#token = :token")
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":done", s(STATE_DONE))
            .expression_attribute_values(":expires", n(now + self.settings.keep.as_secs()))
            .expression_attribute_values(":token", s(token))
            .send()
            .await
            .map_err(|e| JobError::aws("dynamodb_complete", &e))?;
        Ok(())
    }

    /// Moves the end of this claim's lease to a full lease from now, so that a job
    /// that runs longer than the lease is not claimed by another delivery.
    pub async fn extend(&self, job_id: &str, token: &str) -> Result<(), JobError> {
        let now = epoch_seconds(SystemTime::now());
        self.dynamodb
            .update_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .update_expression("SET lease_until = :until")
            .condition_expression("#token = :token AND #state = :in_progress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":until", n(now + self.settings.lease.as_secs()))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .send()
            .await
            .map_err(|e| JobError::aws("dynamodb_extend_lease", &e))?;
        Ok(())
    }

    /// Gives a claim back after the job failed, so a retry need not wait for the lease.
    pub async fn release(&self, job_id: &str, token: &str) {
        let released = self
            .dynamodb
            .delete_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .condition_expression("#token = :token AND #state = :in_progress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .send()
            .await;
        if let Err(e) = released {
            // The lease runs out by itself.
            tracing::warn!(job_id, error = %producer::aws::describe(&e), "could not release the claim");
        }
    }
}
