//! The SQS message attributes of a job's messages: what the producer sets on
//! every job, and what the handler adds when it dead-letters one. Bodies are
//! never changed; these let a queue's contents be told apart without decoding
//! them. SQS allows ten attributes on a message.

/// The job's id, set by producers (and kept by the handler on every copy it sends).
pub const JOB_ID: &str = "jobs.id";
/// The job's kind, set like [`JOB_ID`].
pub const JOB_KIND: &str = "jobs.kind";

/// `permanent` or `transient`: whether a retry could have helped.
pub const ERROR_CLASS: &str = "jobs.error.class";
/// A short stable name of the failure, such as `invalid_job`.
pub const ERROR_CODE: &str = "jobs.error.code";
/// The reason, in words.
pub const ERROR_MESSAGE: &str = "jobs.error.message";
/// The delivery on which the job failed for good (a `Number`).
pub const RECEIVE_COUNT: &str = "jobs.receive_count";
/// The handler build that dead-lettered the job.
pub const HANDLER_VERSION: &str = "jobs.handler_version";
/// When, RFC 3339.
pub const FAILED_AT: &str = "jobs.failed_at";
/// The SQS message id of the delivery that failed.
pub const SOURCE_MESSAGE_ID: &str = "jobs.source_message_id";
