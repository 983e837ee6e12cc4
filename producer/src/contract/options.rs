//! Where and when a job goes: what a job type's [`JobType::defaults`] give,
//! and what a call to enqueue may override. Plain data, part of the contract
//! so that a job type, which the worker shares, does not depend on how jobs
//! are sent.
//!
//! [`JobType::defaults`]: crate::contract::job_type::JobType::defaults

use std::time::{Duration, SystemTime};

/// Where and when a job goes. Every field left `None` falls back: per call, to
/// the job type's [`JobType::defaults`](crate::contract::job_type::JobType::defaults); there, to the client's default queue,
/// no delay and a random id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueOptions {
    /// A queue URL, or a queue name: the sender finds it in `JOBS_QUEUE_URLS`,
    /// else asks SQS (`GetQueueUrl`).
    pub queue: Option<String>,
    /// 0–900 seconds.
    pub delay_seconds: Option<u32>,
    /// The job's id; a random UUID when left out.
    pub id: Option<String>,
    /// Run at this time, however far ahead (replaces `delay_seconds`).
    pub at: Option<SystemTime>,
    /// Not started by this time, the job is dropped as `expired`.
    pub expires_at: Option<SystemTime>,
}

impl EnqueueOptions {
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    pub fn delay_seconds(mut self, delay_seconds: u32) -> Self {
        self.delay_seconds = Some(delay_seconds);
        self
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Run at `at`: tomorrow morning, next month.
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }

    /// Run after `wait`, which may be longer than SQS's 15 minutes.
    pub fn after(self, wait: Duration) -> Self {
        self.at(SystemTime::now() + wait)
    }

    /// Drop the job as `expired` if it has not started by `at`.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Drop the job as `expired` if it has not started within `wait` from now
    /// (Sidekiq Pro's `expires_in`).
    pub fn expires_in(self, wait: Duration) -> Self {
        self.expires_at(SystemTime::now() + wait)
    }

    /// These options with every field that `overrides` sets replaced.
    pub fn merged(self, overrides: EnqueueOptions) -> Self {
        EnqueueOptions {
            queue: overrides.queue.or(self.queue),
            delay_seconds: overrides.delay_seconds.or(self.delay_seconds),
            id: overrides.id.or(self.id),
            at: overrides.at.or(self.at),
            expires_at: overrides.expires_at.or(self.expires_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_defaults_fill_the_rest() {
        let defaults = EnqueueOptions::default().queue("mailers").delay_seconds(30);
        let merged = defaults
            .clone()
            .merged(EnqueueOptions::default().id("job-1"));
        assert_eq!(
            merged,
            EnqueueOptions::default()
                .queue("mailers")
                .delay_seconds(30)
                .id("job-1")
        );
        let merged = defaults.merged(EnqueueOptions::default().queue("urgent").delay_seconds(0));
        assert_eq!(merged.queue.as_deref(), Some("urgent"));
        assert_eq!(merged.delay_seconds, Some(0));
    }
}
