//! Typed jobs with defaults, the way Rails jobs carry theirs: each job type says
//! which queue it goes to and how long it waits, and any call can override that.
//!
//! ```no_run
//! use producer::{EnqueueOptions, JobType, Jobs};
//! use serde::{Deserialize, Serialize};
//!
//! /// Reminds a customer that a product is about to expire.
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! struct PurchaseReminder {
//!     product_id: u64,
//! }
//!
//! impl JobType for PurchaseReminder {
//!     const KIND: &'static str = "purchase_reminder";
//!     fn defaults() -> EnqueueOptions {
//!         // A queue name (looked up once) or URL, and no delay.
//!         EnqueueOptions::default().queue("mailers")
//!     }
//! }
//!
//! # async fn example() -> Result<(), producer::EnqueueError> {
//! let config = producer::aws::load_config().await;
//! let jobs = Jobs::from_env(&config);
//! let reminder = PurchaseReminder { product_id: 42 };
//!
//! // The job's id cancels, shows or redrives it; the message id is SQS's.
//! let sent = jobs.enqueue(&reminder).await?;
//! println!("job {} is message {}", sent.job_id, sent.message_id);
//! // The same job, this time in ten minutes and under an id of ours.
//! let later = jobs
//!     .enqueue_with(&reminder, EnqueueOptions::default().delay_seconds(600).id("reminder-42"))
//!     .await?;
//! // And once more in three days: past SQS's 15 minutes, carried forward until due.
//! let three_days = std::time::Duration::from_secs(3 * 86_400);
//! jobs.enqueue_with(&reminder, EnqueueOptions::default().after(three_days)).await?;
//! # let _ = later;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_config::SdkConfig;

use crate::aws::{classify, describe};
use crate::contract::envelope::{Envelope, Job};
use crate::contract::job_type::{JobType, job_of};
use crate::contract::options::EnqueueOptions;
use crate::send::queue::{
    DEFAULT_MAX_MESSAGE_BYTES, EnqueueError, QUEUE_URL_ENV, Queue, SendOptions, Sent, schedule,
};
use crate::send::routes::{DEFAULT_QUEUE, MAILERS_QUEUE, QueueRoutes, RoutesError, is_url};

/// Enqueues typed jobs. Build it once and clone it where needed: clones share
/// the SQS client and the queue URLs already looked up.
///
/// [`Jobs::fake`] gives one that records jobs instead of sending them, for an
/// application's own tests (as `Sidekiq::Testing.fake!` does).
#[derive(Debug, Clone)]
pub struct Jobs {
    backend: Backend,
    default_queue: Option<String>,
    routes: Arc<QueueRoutes>,
    /// A `JOBS_QUEUE_URLS` that could not be read: every enqueue reports it.
    routes_error: Option<RoutesError>,
    max_message_bytes: usize,
    #[cfg(feature = "schedules")]
    schedules: Option<crate::send::schedules::ScheduleBook>,
    #[cfg(feature = "large")]
    payloads: Option<crate::send::payloads::PayloadStore>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqs {
        sqs: aws_sdk_sqs::Client,
        queue_urls: Arc<Mutex<HashMap<String, String>>>,
    },
    Fake(Arc<Mutex<Vec<Enqueued>>>),
}

/// A job a fake [`Jobs`] took, as it would have been sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The queue name or URL the job would have gone to.
    pub queue: String,
    pub envelope: Envelope,
    /// The first leg's delay, 0–900 seconds (a job scheduled further ahead
    /// carries its time in `envelope.not_before`).
    pub delay_seconds: u32,
}

impl Enqueued {
    /// The payload as `T`, if this job is of `T`'s kind.
    pub fn job<T: JobType>(&self) -> Option<T> {
        (self.envelope.kind() == T::KIND)
            .then(|| serde_json::from_value(self.envelope.job.payload()).ok())
            .flatten()
    }

    /// When the job may run, if it was given a time (`at`, `after`).
    pub fn due_at(&self) -> Option<SystemTime> {
        self.envelope.due_at()
    }
}

impl Jobs {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        Jobs {
            backend: Backend::Sqs {
                sqs,
                queue_urls: Arc::default(),
            },
            default_queue: None,
            routes: Arc::default(),
            routes_error: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            #[cfg(feature = "schedules")]
            schedules: None,
            #[cfg(feature = "large")]
            payloads: None,
        }
    }

    /// A client that checks jobs as the real one does and records them instead
    /// of sending them. It routes as a stack with `mailers` and `default`
    /// queues does, and records queue names: built-in mail under `mailers`,
    /// other jobs that name no queue under `default`.
    pub fn fake() -> Self {
        Jobs {
            backend: Backend::Fake(Arc::default()),
            default_queue: None,
            routes: Arc::new(QueueRoutes::from_pairs([
                (MAILERS_QUEUE, MAILERS_QUEUE),
                (DEFAULT_QUEUE, DEFAULT_QUEUE),
            ])),
            routes_error: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            #[cfg(feature = "schedules")]
            schedules: None,
            #[cfg(feature = "large")]
            payloads: None,
        }
    }

    /// A client with the stack's queues from `JOBS_QUEUE_URLS`, and, when that
    /// map has no `default`, `JOBS_QUEUE_URL` as the default queue. A map that
    /// cannot be read is reported by every enqueue; [`Jobs::try_from_env`]
    /// reports it at once.
    pub fn from_env(config: &SdkConfig) -> Self {
        let jobs = Jobs::new(aws_sdk_sqs::Client::new(config));
        #[cfg(feature = "schedules")]
        let jobs = jobs.with_schedules(crate::send::schedules::ScheduleBook::from_env(config));
        #[cfg(feature = "large")]
        let jobs = jobs.with_payloads(crate::send::payloads::PayloadStore::from_env(config));
        match QueueRoutes::from_env() {
            Ok(routes) => jobs.with_env_default(&routes).with_routes(routes),
            Err(error) => Jobs {
                routes_error: Some(error),
                ..jobs
            },
        }
    }

    /// As [`Jobs::from_env`], failing when `JOBS_QUEUE_URLS` cannot be read.
    pub fn try_from_env(config: &SdkConfig) -> Result<Self, RoutesError> {
        let routes = QueueRoutes::from_env()?;
        let jobs = Jobs::new(aws_sdk_sqs::Client::new(config));
        #[cfg(feature = "schedules")]
        let jobs = jobs.with_schedules(crate::send::schedules::ScheduleBook::from_env(config));
        #[cfg(feature = "large")]
        let jobs = jobs.with_payloads(crate::send::payloads::PayloadStore::from_env(config));
        Ok(jobs.with_env_default(&routes).with_routes(routes))
    }

    /// Lists the jobs this client sends with a time or a delay in the ledger,
    /// for the console (feature `schedules`; [`Jobs::from_env`] does it when
    /// `JOBS_IDEMPOTENCY_TABLE` is set).
    #[cfg(feature = "schedules")]
    pub fn with_schedules(
        mut self,
        schedules: Option<crate::send::schedules::ScheduleBook>,
    ) -> Self {
        self.schedules = schedules;
        self
    }

    /// Sends envelopes over a queue's limit through S3 (feature `large`, see
    /// [`crate::send::payloads`]; [`Jobs::from_env`] does it when
    /// `JOBS_PAYLOAD_BUCKET` is set). A fake client with a store checks jobs
    /// as the real one does, and keeps them whole.
    #[cfg(feature = "large")]
    pub fn with_payloads(mut self, payloads: Option<crate::send::payloads::PayloadStore>) -> Self {
        self.payloads = payloads;
        self
    }

    fn with_env_default(self, routes: &QueueRoutes) -> Self {
        match std::env::var(QUEUE_URL_ENV) {
            Ok(url) if !url.is_empty() && routes.url_of(DEFAULT_QUEUE).is_none() => {
                self.with_default_queue(url)
            }
            _ => self,
        }
    }

    /// The queue (URL or name) for job types whose defaults name none; it
    /// takes the place of the routes' `default`.
    pub fn with_default_queue(mut self, queue: impl Into<String>) -> Self {
        self.default_queue = Some(queue.into());
        self
    }

    /// Queue names and their URLs (see [`crate::send::routes`]).
    pub fn with_routes(mut self, routes: QueueRoutes) -> Self {
        self.routes = Arc::new(routes);
        self
    }

    pub fn routes(&self) -> &QueueRoutes {
        &self.routes
    }

    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// Validates and sends `job` with its type's defaults; returns the job's id
    /// (a random UUID unless the defaults or the call gave one) and the SQS
    /// message id.
    pub async fn enqueue<J: JobType>(&self, job: &J) -> Result<Sent, EnqueueError> {
        self.enqueue_with(job, EnqueueOptions::default()).await
    }

    /// As [`Jobs::enqueue`], with some of the type's defaults overridden for this call.
    pub async fn enqueue_with<J: JobType>(
        &self,
        job: &J,
        overrides: EnqueueOptions,
    ) -> Result<Sent, EnqueueError> {
        let options = J::defaults().merged(overrides);
        let job = job_of(job).map_err(|errors| EnqueueError::Invalid {
            index: 0,
            job_id: options.id.clone().unwrap_or_default(),
            errors,
        })?;
        self.enqueue_job(job, options).await
    }

    /// Sends a job built by hand (any kind) with these options, none defaulted
    /// but the queue: built-in mail to `mailers` when the stack has one, the
    /// rest to the default queue.
    pub async fn enqueue_job(
        &self,
        job: Job,
        options: EnqueueOptions,
    ) -> Result<Sent, EnqueueError> {
        if let Some(error) = &self.routes_error {
            return Err(EnqueueError::Routes(error.clone()));
        }
        let queue = options
            .queue
            .clone()
            .or_else(|| {
                self.routes
                    .queue_for(&job, self.default_queue.as_deref())
                    .map(str::to_owned)
            })
            .ok_or(EnqueueError::NoQueue)?;
        let mut envelope = Envelope::new(job);
        if let Some(id) = options.id {
            envelope.id = id;
        }
        if let Some(expiry) = options.expires_at {
            envelope.expires_at = Some(humantime::format_rfc3339_millis(expiry).to_string());
        }
        let (envelope, send) = match options.at {
            Some(at) => schedule(&envelope, at, SystemTime::now()),
            None => (
                envelope,
                SendOptions::delayed(options.delay_seconds.unwrap_or(0)),
            ),
        };
        match &self.backend {
            Backend::Sqs { sqs, .. } => {
                let url = self.queue_url(&queue).await?;
                let queue =
                    Queue::new(sqs.clone(), url).with_max_message_bytes(self.max_message_bytes);
                #[cfg(feature = "schedules")]
                let queue = queue.with_schedules(self.schedules.clone());
                #[cfg(feature = "large")]
                let queue = queue.with_payloads(self.payloads.clone());
                queue.enqueue(&envelope, send).await
            }
            Backend::Fake(taken) => {
                #[cfg(feature = "large")]
                let checked = crate::send::queue::check_through(
                    &envelope,
                    send,
                    self.max_message_bytes,
                    self.payloads.as_ref(),
                );
                #[cfg(not(feature = "large"))]
                let checked = crate::send::queue::check(&envelope, send, self.max_message_bytes);
                checked.map_err(|errors| EnqueueError::Invalid {
                    index: 0,
                    job_id: envelope.id.clone(),
                    errors,
                })?;
                let mut taken = taken
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let job_id = envelope.id.clone();
                taken.push(Enqueued {
                    queue: self.routes.url_of(&queue).unwrap_or(&queue).to_owned(),
                    envelope,
                    delay_seconds: send.delay_seconds,
                });
                Ok(Sent {
                    job_id,
                    message_id: format!("fake-message-{}", taken.len()),
                })
            }
        }
    }

    /// What a fake client took, oldest first; empty for a real one.
    pub fn enqueued(&self) -> Vec<Enqueued> {
        match &self.backend {
            Backend::Fake(taken) => taken
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
            Backend::Sqs { .. } => Vec::new(),
        }
    }

    /// The payloads of the jobs of `T`'s kind a fake client took.
    pub fn enqueued_of<T: JobType>(&self) -> Vec<T> {
        self.enqueued().iter().filter_map(Enqueued::job).collect()
    }

    /// Forgets what a fake client took.
    pub fn clear(&self) {
        if let Backend::Fake(taken) = &self.backend {
            taken
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clear();
        }
    }

    /// The URL of a queue named by URL or name.
    pub async fn queue_url(&self, queue: &str) -> Result<String, EnqueueError> {
        if let Some(url) = self.routes.url_of(queue) {
            return Ok(url.to_owned());
        }
        if is_url(queue) {
            return Ok(queue.to_owned());
        }
        let Backend::Sqs { sqs, queue_urls } = &self.backend else {
            return Ok(queue.to_owned());
        };
        if let Some(url) = queue_urls
            .lock()
            .ok()
            .and_then(|urls| urls.get(queue).cloned())
        {
            return Ok(url);
        }
        let output = sqs
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
        if let Ok(mut urls) = queue_urls.lock() {
            urls.insert(queue.to_owned(), url.clone());
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::envelope::MailTemplate;
    use std::time::Duration;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Reminder {
        product_id: u64,
    }

    impl JobType for Reminder {
        const KIND: &'static str = "purchase_reminder";
        fn defaults() -> EnqueueOptions {
            EnqueueOptions::default().queue("mailers")
        }
    }

    #[tokio::test]
    async fn a_fake_client_records_jobs_with_their_options_honoured() {
        let jobs = Jobs::fake();
        let sent = jobs
            .enqueue(&Reminder { product_id: 42 })
            .await
            .expect("taken");
        let in_three_days = SystemTime::now() + Duration::from_secs(3 * 86_400);
        jobs.enqueue_with(
            &Reminder { product_id: 7 },
            EnqueueOptions::default().at(in_three_days).id("reminder-7"),
        )
        .await
        .expect("taken");
        jobs.enqueue_with(
            &Reminder { product_id: 8 },
            EnqueueOptions::default().queue("urgent").delay_seconds(30),
        )
        .await
        .expect("taken");
        let taken = jobs.enqueued();
        assert_eq!(taken.len(), 3);
        assert_eq!(
            sent.job_id, taken[0].envelope.id,
            "the id it was sent under"
        );
        assert!(!sent.job_id.is_empty());
        assert_eq!(taken[0].queue, "mailers");
        assert_eq!(taken[0].delay_seconds, 0);
        assert_eq!(taken[1].envelope.id, "reminder-7");
        assert_eq!(taken[1].delay_seconds, 900, "a first leg of 15 minutes");
        let due = taken[1].due_at().expect("a time");
        let off = due
            .duration_since(in_three_days)
            .unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_millis(1), "{off:?}");
        assert_eq!(
            (taken[2].queue.as_str(), taken[2].delay_seconds),
            ("urgent", 30)
        );
        assert_eq!(
            jobs.enqueued_of::<Reminder>(),
            [
                Reminder { product_id: 42 },
                Reminder { product_id: 7 },
                Reminder { product_id: 8 }
            ]
        );
        jobs.clear();
        assert!(jobs.enqueued().is_empty());
    }

    #[tokio::test]
    async fn built_in_mail_goes_to_mailers_and_uploads_to_default_unless_told() {
        let jobs = Jobs::fake();
        let mail = Job::Mail(crate::MailJob {
            from: "shop@example.com".into(),
            to: vec!["ann@example.com".into()],
            subject: "s".into(),
            text: Some("t".into()),
            ..crate::MailJob::default()
        });
        let upload = Job::Upload(crate::UploadJob::from_bytes("bucket", "key", b"bytes"));
        for (job, options) in [
            (mail.clone(), EnqueueOptions::default()),
            (upload.clone(), EnqueueOptions::default()),
            (mail, EnqueueOptions::default().queue("default")),
            (upload, EnqueueOptions::default().queue("reports")),
        ] {
            jobs.enqueue_job(job, options).await.expect("taken");
        }
        let queues: Vec<String> = jobs.enqueued().into_iter().map(|e| e.queue).collect();
        assert_eq!(queues, ["mailers", "default", "default", "reports"]);

        // Without a `mailers` queue, mail goes to the default queue.
        let lone = Jobs::new(unused_sqs()).with_default_queue("https://sqs/1/only");
        assert_eq!(
            lone.routes.queue_for(
                &Job::Mail(crate::MailJob::default()),
                lone.default_queue.as_deref()
            ),
            Some("https://sqs/1/only")
        );
    }

    fn unused_sqs() -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .build(),
        )
    }

    #[tokio::test]
    async fn a_fake_client_refuses_what_the_real_one_refuses() {
        let jobs = Jobs::fake();
        let err = jobs
            .enqueue_with(
                &Reminder { product_id: 1 },
                EnqueueOptions::default().delay_seconds(901),
            )
            .await
            .expect_err("refused");
        assert!(matches!(err, EnqueueError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("`delay_seconds`"), "{err}");
        assert!(jobs.enqueued().is_empty());
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
