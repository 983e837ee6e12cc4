//! One DynamoDB record per job id, so that a job delivered twice takes effect once.
//!
//! SQS delivers at least once, and redelivers whatever a crashed worker held.
//! Before running a job the handler claims its id with a conditional write: an
//! in-progress record with a lease. When the job has taken effect the record is
//! marked done and kept for a while (DynamoDB's TTL removes it later); a second
//! delivery then finds it done and does nothing. A lease that ran out means the
//! holder died: the next delivery may claim the job again. The same id with a
//! different payload is refused, never silently skipped.
//!
//! The same writes keep the console's lists, through the table's sparse
//! indexes (`producer::contract::ledger::index`): a claim is in `busy` until it
//! ends (a claim whose lease ran out shows as stuck); a job that failed and
//! will be retried keeps its record in `retrying` state, listed in `retries`
//! with its attempt, last error and next try, and its next delivery claims it
//! at once. A job an operator ran ahead of its time (`run_now`) keeps a hold
//! on its record until the job's time has passed, so that the copy still
//! carried towards it stops (see [`Ledger::leg`]).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::JobError;

use producer::contract::ledger::state::{
    CANCELLED as STATE_CANCELLED, DONE as STATE_DONE, IN_PROGRESS as STATE_IN_PROGRESS,
    RETRYING as STATE_RETRYING, RUN_NOW as STATE_RUN_NOW,
};
use producer::contract::ledger::{field, number, shard_of, state_of, text};

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
    pub const DEFAULT_KEEP: Duration =
        Duration::from_secs(producer::contract::ledger::DEFAULT_KEEP_SECONDS);

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

pub use producer::contract::ledger::epoch_seconds;
pub use producer::contract::ledger::payload_sha256;

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A job about to be claimed: what the console's Busy and Retries tabs show of it.
#[derive(Debug, Clone, Copy)]
pub struct ClaimFor<'a> {
    pub job_id: &'a str,
    pub payload_sha256: &'a str,
    pub kind: &'a str,
    /// The queue's SQS name.
    pub queue: &'a str,
}

/// What a carried job found in the ledger at one of its legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// Nothing stops it: carry it on.
    Carry,
    /// Someone cancelled it.
    Cancelled,
    /// An operator ran it ahead of its time (Run now): this copy is not needed.
    RanEarly,
}

impl Ledger {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, settings: LedgerSettings) -> Self {
        Ledger { dynamodb, settings }
    }

    pub fn settings(&self) -> &LedgerSettings {
        &self.settings
    }

    /// Claims the job for this delivery, unless it is done or held. A claim is
    /// listed in the table's `busy` index until it ends.
    pub async fn claim(&self, job: ClaimFor<'_>) -> Result<Claim, JobError> {
        let now = epoch_seconds(SystemTime::now());
        let token = uuid::Uuid::new_v4().to_string();
        let put = self
            .dynamodb
            .put_item()
            .table_name(&self.settings.table)
            .item(field::JOB_ID, s(job.job_id))
            .item(field::STATE, s(STATE_IN_PROGRESS))
            .item(field::PAYLOAD_SHA256, s(job.payload_sha256))
            .item("token", s(&token))
            .item(field::LEASE_UNTIL, n(now + self.settings.lease.as_secs()))
            .item(field::EXPIRES_AT, n(now + self.settings.keep.as_secs()))
            .item(field::KIND, s(job.kind))
            .item(field::QUEUE, s(job.queue))
            .item(field::CLAIMED_AT, n(now))
            .item(field::BEAT_AT, n(now))
            .item(field::BUSY_SHARD, s(&shard_of(job.job_id)))
            // Free, forgotten (past its TTL but not yet removed), held by a
            // delivery whose lease ran out, or waiting for its retry — and then
            // only for the same job. A record with a run-now hold is claimed
            // by `claim_held`, which keeps the hold.
            .condition_expression(
                "attribute_not_exists(job_id) OR expires_at < :now \
                 OR (#state = :in_progress AND lease_until < :now AND payload_sha256 = :payload) \
                 OR (#state = :retrying AND payload_sha256 = :payload AND attribute_not_exists(hold_until))",
            )
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .expression_attribute_values(":retrying", s(STATE_RETRYING))
            .expression_attribute_values(":payload", s(job.payload_sha256))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Granted { token }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.why_not(job, now).await
            }
            Err(e) => Err(JobError::aws("dynamodb_claim", &e)),
        }
    }

    /// Reads the record that stopped a claim.
    async fn why_not(&self, job: ClaimFor<'_>, now: u64) -> Result<Claim, JobError> {
        let record = self.read(job.job_id).await?;
        if record.is_empty() {
            // Removed between the two calls: the next delivery will claim it.
            return Ok(Claim::Busy {
                lease_ends_in: Duration::ZERO,
            });
        }
        let state = state_of(&record);
        if state == Some(STATE_CANCELLED) {
            return Ok(Claim::Cancelled);
        }
        if text(&record, field::PAYLOAD_SHA256) != Some(job.payload_sha256) {
            let job_id = job.job_id;
            return Err(JobError::Conflict(format!(
                "job id `{job_id}` was already used for a different job; a job id names one job only"
            )));
        }
        if state == Some(STATE_DONE) {
            return Ok(Claim::AlreadyDone);
        }
        let held = record.contains_key(field::HOLD_UNTIL);
        if state == Some(STATE_RUN_NOW) || (held && state == Some(STATE_RETRYING)) {
            return self.claim_held(job, now).await;
        }
        Ok(Claim::Busy {
            lease_ends_in: Duration::from_secs(
                number(&record, field::LEASE_UNTIL)
                    .unwrap_or_default()
                    .saturating_sub(now),
            ),
        })
    }

    /// Claims a job an operator ran ahead of its time, keeping the record's
    /// hold: the copy still carried to the job's time must find it.
    async fn claim_held(&self, job: ClaimFor<'_>, now: u64) -> Result<Claim, JobError> {
        let token = uuid::Uuid::new_v4().to_string();
        let updated = self
            .dynamodb
            .update_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job.job_id))
            .update_expression(
                "SET #state = :in_progress, #token = :token, lease_until = :until, \
                 expires_at = hold_until, kind = :kind, #queue = :queue, claimed_at = :now, \
                 beat_at = :now, busy_shard = :shard \
                 REMOVE retry_shard, retry_at, last_error",
            )
            .condition_expression(
                "(#state = :run_now OR #state = :retrying) AND payload_sha256 = :payload \
                 AND attribute_exists(hold_until)",
            )
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#queue", field::QUEUE)
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":until", n(now + self.settings.lease.as_secs()))
            .expression_attribute_values(":kind", s(job.kind))
            .expression_attribute_values(":queue", s(job.queue))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":shard", s(&shard_of(job.job_id)))
            .expression_attribute_values(":run_now", s(STATE_RUN_NOW))
            .expression_attribute_values(":retrying", s(STATE_RETRYING))
            .expression_attribute_values(":payload", s(job.payload_sha256))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(Claim::Granted { token }),
            // Another delivery took it first; this one comes back and finds out.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Claim::Busy {
                    lease_ends_in: Duration::ZERO,
                })
            }
            Err(e) => Err(JobError::aws("dynamodb_claim", &e)),
        }
    }

    /// Read at each leg of a carried job, so that a cancelled job stops
    /// travelling, and so does the carried copy of a job run ahead of its time.
    pub async fn leg(&self, job_id: &str) -> Result<Leg, JobError> {
        let record = self.read(job_id).await?;
        Ok(match state_of(&record) {
            Some(STATE_CANCELLED) => Leg::Cancelled,
            Some(_) if record.contains_key(field::HOLD_UNTIL) => Leg::RanEarly,
            _ => Leg::Carry,
        })
    }

    /// Whether the job already took effect: read before fetching a stored
    /// envelope, so that a redelivery of a finished job needs no body.
    pub async fn is_done(&self, job_id: &str) -> Result<bool, JobError> {
        let record = self.read(job_id).await?;
        Ok(state_of(&record) == Some(STATE_DONE))
    }

    async fn read(&self, job_id: &str) -> Result<HashMap<String, AttributeValue>, JobError> {
        producer::contract::ledger::read(&self.dynamodb, &self.settings.table, job_id)
            .await
            .map_err(|e| JobError::aws("dynamodb_read_claim", &e))
    }

    /// Marks the job done; duplicates are skipped from now on. A run-now hold
    /// keeps the record at least until the hold's end.
    pub async fn complete(&self, job_id: &str, token: &str) -> Result<(), JobError> {
        let now = epoch_seconds(SystemTime::now());
        self.dynamodb
            .update_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .update_expression(
                "SET #state = :done, expires_at = if_not_exists(hold_until, :expires) \
                 REMOVE lease_until, busy_shard",
            )
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
    /// that runs longer than the lease is not claimed by another delivery, and
    /// records the beat (a job whose beats stop shows as stuck).
    pub async fn extend(&self, job_id: &str, token: &str) -> Result<(), JobError> {
        let now = epoch_seconds(SystemTime::now());
        self.dynamodb
            .update_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .update_expression("SET lease_until = :until, beat_at = :now")
            .condition_expression("#token = :token AND #state = :in_progress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":until", n(now + self.settings.lease.as_secs()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .send()
            .await
            .map_err(|e| JobError::aws("dynamodb_extend_lease", &e))?;
        Ok(())
    }

    /// Gives a claim back after a failure that SQS will deliver again, and
    /// lists the job in the `retries` index with its error, its attempt and
    /// when it comes back. The next delivery claims it at once.
    pub async fn retry_later(&self, job_id: &str, token: &str, next: &NextTry<'_>) {
        let error: String = next.error.chars().take(MAX_LAST_ERROR_CHARS).collect();
        let updated = self
            .dynamodb
            .update_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .update_expression(
                "SET #state = :retrying, retry_shard = :shard, retry_at = :at, attempt = :attempt, \
                 last_error = :error REMOVE busy_shard, lease_until, #token",
            )
            .condition_expression("#token = :token AND #state = :in_progress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":retrying", s(STATE_RETRYING))
            .expression_attribute_values(":shard", s(&shard_of(job_id)))
            .expression_attribute_values(":at", n(epoch_seconds(next.at)))
            .expression_attribute_values(":attempt", n(u64::from(next.attempt)))
            .expression_attribute_values(":error", s(&error))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .send()
            .await;
        if let Err(e) = updated {
            // The lease runs out by itself; the job is only missing from the list.
            tracing::warn!(job_id, error = %producer::aws::describe(&e), "could not record the job's retry");
        }
    }

    /// Gives a claim back after the job failed for good (dead-lettered), so a
    /// retry of its dead letter need not wait for the lease. A run-now hold
    /// stays: the carried copy must still stop.
    pub async fn release(&self, job_id: &str, token: &str) {
        let released = self
            .dynamodb
            .delete_item()
            .table_name(&self.settings.table)
            .key(field::JOB_ID, s(job_id))
            .condition_expression(
                "#token = :token AND #state = :in_progress AND attribute_not_exists(hold_until)",
            )
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", field::STATE)
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
            .send()
            .await;
        let released = match released {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.dynamodb
                    .update_item()
                    .table_name(&self.settings.table)
                    .key(field::JOB_ID, s(job_id))
                    .update_expression(
                        "SET #state = :run_now REMOVE #token, lease_until, busy_shard",
                    )
                    .condition_expression(
                        "#token = :token AND #state = :in_progress AND attribute_exists(hold_until)",
                    )
                    .expression_attribute_names("#token", "token")
                    .expression_attribute_names("#state", field::STATE)
                    .expression_attribute_values(":run_now", s(STATE_RUN_NOW))
                    .expression_attribute_values(":token", s(token))
                    .expression_attribute_values(":in_progress", s(STATE_IN_PROGRESS))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| producer::aws::describe(&e))
            }
            other => other.map(drop).map_err(|e| producer::aws::describe(&e)),
        };
        if let Err(error) = released {
            // The lease runs out by itself.
            tracing::warn!(job_id, error = %error, "could not release the claim");
        }
    }
}

/// When a failed job comes back, for the `retries` index.
#[derive(Debug, Clone)]
pub struct NextTry<'a> {
    pub attempt: u32,
    pub error: &'a str,
    pub at: SystemTime,
}

/// Enough of an error to tell what went wrong, and no more (a DynamoDB item
/// holds 400 KB).
const MAX_LAST_ERROR_CHARS: usize = 500;
