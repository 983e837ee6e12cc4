//! `jobs cancel`: a job that has not run is marked cancelled in the idempotency
//! ledger, and the handler drops it when it comes up.

use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;

use producer::aws::{ErrorClass, classify, describe};
use producer::contract::ledger::{epoch_seconds, field, read, state, state_of};

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("`job_id` must not be empty")]
    EmptyId,
    #[error("job `{0}` has already run; there is nothing to cancel")]
    AlreadyRan(String),
    #[error("job `{0}` is running now; it cannot be cancelled")]
    Running(String),
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        class: ErrorClass,
        message: String,
    },
}

/// What a cancellation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// From now on the job will not run.
    Now,
    /// It had been cancelled before.
    Already,
}

/// Marks `job_id` cancelled, unless it has run or is running. The record has no
/// expiry: the job may be scheduled any time ahead. An id that was never
/// enqueued is cancelled all the same, so a job can be cancelled before it is sent.
pub async fn cancel(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    job_id: &str,
) -> Result<Cancelled, CancelError> {
    if job_id.is_empty() {
        return Err(CancelError::EmptyId);
    }
    let now = epoch_seconds(SystemTime::now());
    let put = dynamodb
        .put_item()
        .table_name(table)
        .item(field::JOB_ID, AttributeValue::S(job_id.to_owned()))
        .item(field::STATE, AttributeValue::S(state::CANCELLED.to_owned()))
        .item(field::CANCELLED_AT, AttributeValue::N(now.to_string()))
        // Free, forgotten, held by a delivery whose lease ran out (it died),
        // or failed and waiting for its next try.
        .condition_expression(
            "attribute_not_exists(#job_id) OR #expires_at < :now \
             OR (#state = :in_progress AND #lease_until < :now) OR #state = :retrying",
        )
        .expression_attribute_names("#job_id", field::JOB_ID)
        .expression_attribute_names("#state", field::STATE)
        .expression_attribute_names("#expires_at", field::EXPIRES_AT)
        .expression_attribute_names("#lease_until", field::LEASE_UNTIL)
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(
            ":in_progress",
            AttributeValue::S(state::IN_PROGRESS.to_owned()),
        )
        .expression_attribute_values(":retrying", AttributeValue::S(state::RETRYING.to_owned()))
        .send()
        .await;
    match put {
        Ok(_) => Ok(Cancelled::Now),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            let record = read(dynamodb, table, job_id)
                .await
                .map_err(|e| CancelError::Aws {
                    operation: "dynamodb_get_item",
                    class: classify(&e),
                    message: describe(&e),
                })?;
            match state_of(&record) {
                Some(s) if s == state::CANCELLED => Ok(Cancelled::Already),
                Some(s) if s == state::DONE || s == state::RUN_NOW => {
                    Err(CancelError::AlreadyRan(job_id.to_owned()))
                }
                _ => Err(CancelError::Running(job_id.to_owned())),
            }
        }
        Err(e) => Err(CancelError::Aws {
            operation: "dynamodb_put_item",
            class: classify(&e),
            message: describe(&e),
        }),
    }
}
