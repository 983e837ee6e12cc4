//! Typed jobs with defaults, the way Rails jobs carry theirs: each job type says
//! which queue it goes to and how long it waits, and any call can override that.
//!
//! ```no_run
//! use producer::{Enqueue, EnqueueOptions, Job, Jobs, MailJob, MailTemplate};
//!
//! /// Reminds a customer that a product is about to expire.
//! struct PurchaseReminder {
//!     product_id: u64,
//!     email: String,
//! }
//!
//! impl Enqueue for PurchaseReminder {
//!     fn defaults() -> EnqueueOptions {
//!         // A queue name (looked up once) or URL, and no delay.
//!         EnqueueOptions::default().queue("mailers")
//!     }
//!
//!     fn job(&self) -> Job {
//!         Job::Mail(MailJob {
//!             from: "Shop <shop@example.com>".into(),
//!             to: vec![self.email.clone()],
//!             template: Some(
//!                 MailTemplate::new("purchase-reminder").with("product_id", self.product_id),
//!             ),
//!             ..MailJob::default()
//!         })
//!     }
//! }
//!
//! # async fn example() -> Result<(), producer::EnqueueError> {
//! let config = producer::aws::load_config().await;
//! let jobs = Jobs::from_env(&config);
//! let reminder = PurchaseReminder { product_id: 42, email: "ann@example.com".into() };
//!
//! let message_id = jobs.enqueue(&reminder).await?;
//! // The same job, this time in ten minutes and under an id of ours.
//! let later = jobs
//!     .enqueue_with(&reminder, EnqueueOptions::default().delay_seconds(600).id("reminder-42"))
//!     .await?;
//! // And once more in three days: past SQS's 15 minutes, carried forward until due.
//! let three_days = std::time::Duration::from_secs(3 * 86_400);
//! jobs.enqueue_with(&reminder, EnqueueOptions::default().after(three_days)).await?;
//! # let _ = (message_id, later);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;

use crate::aws::{classify, describe};
use crate::envelope::{Envelope, Job, MailTemplate};
use crate::queue::{DEFAULT_MAX_MESSAGE_BYTES, EnqueueError, QUEUE_URL_ENV, Queue, SendOptions};

/// Where and when a job goes. Every field left `None` falls back: per call, to
/// the job type's [`Enqueue::defaults`]; there, to the client's default queue,
/// no delay and a random id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueOptions {
    /// A queue URL, or a queue name that is looked up with `GetQueueUrl`.
    pub queue: Option<String>,
    /// 0–900 seconds.
    pub delay_seconds: Option<u32>,
    /// The job's id; a random UUID when left out.
    pub id: Option<String>,
    /// Run at this time, however far ahead (replaces `delay_seconds`).
    pub at: Option<SystemTime>,
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

    /// These options with every field that `overrides` sets replaced.
    pub fn merged(self, overrides: EnqueueOptions) -> Self {
        EnqueueOptions {
            queue: overrides.queue.or(self.queue),
            delay_seconds: overrides.delay_seconds.or(self.delay_seconds),
            id: overrides.id.or(self.id),
            at: overrides.at.or(self.at),
        }
    }
}

/// A kind of job an application enqueues.
pub trait Enqueue {
    /// The work, as it travels in the message.
    fn job(&self) -> Job;

    /// This job type's queue and delay; calls may override them.
    fn defaults() -> EnqueueOptions
    where
        Self: Sized,
    {
        EnqueueOptions::default()
    }
}

impl MailTemplate {
    pub fn new(name: impl Into<String>) -> Self {
        MailTemplate {
            name: name.into(),
            data: serde_json::Map::new(),
        }
    }

    /// Adds a value for the template's `{{key}}`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

/// Enqueues typed jobs. Build it once and clone it where needed: clones share
/// the SQS client and the queue URLs already looked up.
#[derive(Debug, Clone)]
pub struct Jobs {
    sqs: aws_sdk_sqs::Client,
    default_queue: Option<String>,
    max_message_bytes: usize,
    queue_urls: Arc<Mutex<HashMap<String, String>>>,
}

impl Jobs {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        Jobs {
            sqs,
            default_queue: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            queue_urls: Arc::default(),
        }
    }

    /// A client whose default queue is `JOBS_QUEUE_URL`, if set.
    pub fn from_env(config: &SdkConfig) -> Self {
        let jobs = Jobs::new(aws_sdk_sqs::Client::new(config));
        match std::env::var(QUEUE_URL_ENV) {
            Ok(url) if !url.is_empty() => jobs.with_default_queue(url),
            _ => jobs,
        }
    }

    /// The queue (URL or name) for job types whose defaults name none.
    pub fn with_default_queue(mut self, queue: impl Into<String>) -> Self {
        self.default_queue = Some(queue.into());
        self
    }

    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// Validates and sends `job` with its type's defaults; returns the SQS message id.
    pub async fn enqueue<J: Enqueue>(&self, job: &J) -> Result<String, EnqueueError> {
        self.enqueue_with(job, EnqueueOptions::default()).await
    }

    /// As [`Jobs::enqueue`], with some of the defaults overridden for this call.
    pub async fn enqueue_with<J: Enqueue>(
        &self,
        job: &J,
        overrides: EnqueueOptions,
    ) -> Result<String, EnqueueError> {
        let options = J::defaults().merged(overrides);
        let mut envelope = Envelope::new(job.job());
        if let Some(id) = options.id {
            envelope.id = id;
        }
        let queue = options
            .queue
            .or_else(|| self.default_queue.clone())
            .ok_or(EnqueueError::NoQueue)?;
        let url = self.queue_url(&queue).await?;
        Queue::new(self.sqs.clone(), url)
            .with_max_message_bytes(self.max_message_bytes)
            .enqueue(
                &envelope,
                SendOptions::delayed(options.delay_seconds.unwrap_or(0)),
            )
            .await
    }

    async fn queue_url(&self, queue: &str) -> Result<String, EnqueueError> {
        if queue.starts_with("https://") || queue.starts_with("http://") {
            return Ok(queue.to_owned());
        }
        if let Some(url) = self.cached(queue) {
            return Ok(url);
        }
        let output = self
            .sqs
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| EnqueueError::UnknownQueue {
                queue: queue.to_owned(),
                class: classify(&e),
                message: describe(&e),
            })?;
        let url = output.queue_url.ok_or_else(|| EnqueueError::UnknownQueue {
            queue: queue.to_owned(),
            class: crate::aws::ErrorClass::Permanent,
            message: "sqs returned no URL".into(),
        })?;
        if let Ok(mut urls) = self.queue_urls.lock() {
            urls.insert(queue.to_owned(), url.clone());
        }
        Ok(url)
    }

    fn cached(&self, queue: &str) -> Option<String> {
        self.queue_urls.lock().ok()?.get(queue).cloned()
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

    #[test]
    fn template_data_is_built_by_key() {
        let template = MailTemplate::new("purchase-reminder")
            .with("product_id", 42)
            .with("name", "Ann");
        assert_eq!(
            serde_json::Value::Object(template.data),
            serde_json::json!({"product_id": 42, "name": "Ann"})
        );
    }
}
