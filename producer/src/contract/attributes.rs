//! The SQS message attributes of a job's messages: what the producer sets on
//! every job, and what the handler adds when it dead-letters one. Bodies are
//! never changed; these let a queue's contents be told apart without decoding
//! them. SQS allows ten attributes on a message.

/// The job's id, set by producers (and kept by the handler on every copy it sends).
pub const JOB_ID: &str = "jobs.id";
/// The job's kind, set like [`JOB_ID`].
pub const JOB_KIND: &str = "jobs.kind";

/// RFC 3339: set by the handler on the new message of a job its `perform`
/// snoozed (`Done::snooze`); the job does not start before it. A sender who
/// sets it can only hold back its own message.
pub const SNOOZED_UNTIL: &str = "jobs.snoozed_until";

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
/// Where the failed delivery came from: its queue's URL, `#`, and its SQS
/// message id (`#` and the id alone when the queue was not known). A redrive
/// sends the job back to that queue.
pub const SOURCE: &str = "jobs.source";

/// The most attributes a message of ours carries: SQS allows ten, and the
/// Extended Client libraries reserve one for their pointer to S3.
pub const MAX_ATTRIBUTES: usize = 9;

/// `jobs.source`'s value.
pub fn source(queue_url: Option<&str>, message_id: &str) -> String {
    format!("{}#{message_id}", queue_url.unwrap_or_default())
}

/// The queue URL and the message id of a `jobs.source` value.
pub fn parse_source(value: &str) -> (Option<&str>, &str) {
    match value.rsplit_once('#') {
        Some((url, id)) => (Some(url).filter(|u| !u.is_empty()), id),
        None => (None, value),
    }
}

/// The queue tag that pauses a queue: while a queue has it, a worker receives
/// nothing from it (it finishes what it holds). `jobs ui` sets it, with the
/// time of the pause as its value; on Lambda the console also disables the
/// queue's event source mapping.
pub const PAUSED_TAG: &str = "jobs:paused";

#[cfg(test)]
mod tests {
    #[test]
    fn a_source_names_its_queue_and_message() {
        let value = super::source(
            Some("http://127.0.0.1:4566/000000000000/shop-mailers"),
            "m-1",
        );
        assert_eq!(value, "http://127.0.0.1:4566/000000000000/shop-mailers#m-1");
        assert_eq!(
            super::parse_source(&value),
            (
                Some("http://127.0.0.1:4566/000000000000/shop-mailers"),
                "m-1"
            )
        );
        assert_eq!(
            super::parse_source(&super::source(None, "m-2")),
            (None, "m-2")
        );
    }
}
