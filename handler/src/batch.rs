//! The batch logic shared by the Lambda function and the worker: each message
//! is decoded on its own, run by its registered job type, and given an outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use futures::StreamExt as _;
use producer::aws::ErrorClass;
use producer::contract::pointer::{MAX_PAYLOAD_BYTES, PAYLOAD_SIZE, PayloadPointer};
use producer::contract::validate::parse_rfc3339;
use producer::send::queue::{number_attribute, string_attribute};
use producer::send::routes::DEFAULT_QUEUE;
use producer::{DecodeError, Envelope};

use crate::backoff::Backoff;
use crate::error::JobError;
use crate::ledger::{Claim, ClaimFor, Ledger, LedgerSettings, Leg, NextTry, payload_sha256};
use crate::perform::{AwsClients, Done, Effects, JobInfo, Retry, RunParts, catching_panics};
use crate::runner::{Dispatch, RunError, Runner};

/// This build's version, recorded on every dead-lettered message.
pub const HANDLER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Attributes set on a message the handler moves to the dead-letter queue. Its
/// body is left exactly as it was received.
pub use producer::contract::attributes as dead_letter_attributes;

/// Longest error message kept on a dead-lettered message; the producer keeps
/// room for it in every message.
const MAX_REASON_CHARS: usize = 1000;

/// The job's id and kind for logs and dead letters; read as far as the body
/// allows, so that even a job of an unknown kind can be found by its id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct JobIdentity {
    id: String,
    kind: String,
    /// An upload's staged `source`, removed once the job settles.
    staged: Option<PayloadPointer>,
    /// The envelope's `created_at`, once the body decoded.
    created_at: Option<SystemTime>,
}

impl JobIdentity {
    fn peek(body: &str) -> Self {
        let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let text = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_str())
                .map(|s| s.chars().take(128).filter(|c| !c.is_control()).collect())
                .unwrap_or_default()
        };
        JobIdentity {
            id: text("id"),
            kind: text("kind"),
            staged: None,
            created_at: None,
        }
    }
}

/// How far a job got.
enum Progress {
    Done,
    Skipped { reason: String },
    Duplicate,
    Cancelled,
    Carried { due_in_seconds: u64 },
    Expired,
    Snoozed { for_seconds: u64 },
}

/// One SQS message as the handler sees it, from Lambda or from the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    /// Lets the handler change the message's visibility (backoff), and the
    /// worker delete it.
    pub receipt_handle: Option<String>,
    /// The queue the message came from, when known.
    pub queue_url: Option<String>,
    /// The queue's ARN, as a Lambda event gives it, when its URL is not known:
    /// the URL is looked up (once per queue) only when a job needs it, to back
    /// off or to carry a job forward, so a cold start makes no extra call.
    pub queue_arn: Option<String>,
    /// The message's body: an envelope, or a pointer to one stored in S3
    /// ([`producer::contract::pointer`]).
    pub body: String,
    /// SQS's `ApproximateReceiveCount`: 1 on the first delivery.
    pub receive_count: u32,
    /// SQS's `SentTimestamp`: when this message (not the job) was sent. SQS
    /// sets it, so unlike the envelope's `created_at` no sender can put it
    /// in the future.
    pub sent_at: Option<SystemTime>,
    /// The `jobs.id` attribute, when the producer set it.
    pub job_id: Option<String>,
    /// The `ExtendedPayloadSize` attribute of a pointer message (or its older
    /// name, `SQSLargePayloadSize`): the stored envelope's size.
    pub payload_size: Option<u64>,
    /// The `jobs.snoozed_until` attribute: a snoozed job's time to come back.
    pub snoozed_until: Option<SystemTime>,
}

impl Delivery {
    /// The `jobs.id` and `ExtendedPayloadSize` (or `SQSLargePayloadSize`)
    /// attributes, from a message's string attributes as `attribute` finds
    /// them (a Lambda record's, or a received message's).
    pub fn job_attributes(attribute: impl Fn(&str) -> Option<String>) -> JobAttributes {
        use producer::contract::pointer::LEGACY_PAYLOAD_SIZE;
        JobAttributes {
            job_id: attribute(producer::contract::attributes::JOB_ID),
            payload_size: attribute(PAYLOAD_SIZE)
                .or_else(|| attribute(LEGACY_PAYLOAD_SIZE))
                .and_then(|size| size.parse().ok()),
            snoozed_until: attribute(producer::contract::attributes::SNOOZED_UNTIL)
                .as_deref()
                .and_then(parse_rfc3339),
        }
    }

    /// Reads SQS's `SentTimestamp` (milliseconds since the epoch).
    pub fn sent_timestamp(millis: &str) -> Option<SystemTime> {
        let millis: u64 = millis.parse().ok()?;
        SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(millis))
    }
}

/// The attributes of a job's message that the handler reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobAttributes {
    pub job_id: Option<String>,
    pub payload_size: Option<u64>,
    pub snoozed_until: Option<SystemTime>,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job took effect; the message can be deleted.
    Done,
    /// The job ran and found nothing to do (its `perform` said why); a success.
    Skipped { reason: String },
    /// The job can never succeed (or has used up its retries): the message is in
    /// the dead-letter queue with its reason and can be deleted here.
    DeadLettered { code: &'static str, reason: String },
    /// Leave the message on the queue: it comes back after its visibility timeout,
    /// and the redrive policy dead-letters it after `maxReceiveCount`.
    Retry { reason: String },
    /// A job of a kind this handler does not run, within its grace period
    /// ([`Settings::unknown_kind_grace`]): retried as [`Outcome::Retry`] is, so
    /// that a handler deployed meanwhile runs it, and counted apart so that a
    /// deploy going wrong shows.
    UnknownKind {
        reason: String,
        /// What is left of the grace period, in seconds.
        grace_left_seconds: u64,
    },
    /// The job is not due yet: a copy waits on the queue for up to 15 minutes
    /// more, and this message can be deleted.
    Rescheduled { due_in_seconds: u64 },
    /// The job had already taken effect (a second delivery); nothing was done.
    Duplicate,
    /// The job was cancelled (`jobs cancel`); nothing was done.
    Cancelled,
    /// The job had not started by its `expires_at`: dropped, nothing done, no
    /// dead letter; its ledger claim, if any, released.
    Expired,
    /// The job's `perform` asked to come back later (`Done::snooze`): a new
    /// message carries it, and this one can be deleted.
    Snoozed { for_seconds: u64 },
}

impl Outcome {
    /// True when the message must leave the source queue.
    pub fn is_settled(&self) -> bool {
        self.retry_reason().is_none()
    }

    /// Why the message stays on its queue for another try; `None` when it is settled.
    pub fn retry_reason(&self) -> Option<&str> {
        match self {
            Outcome::Retry { reason } | Outcome::UnknownKind { reason, .. } => Some(reason),
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped { .. } => "skipped",
            Outcome::DeadLettered { .. } => "dead_lettered",
            Outcome::Retry { .. } => "retry",
            Outcome::UnknownKind { .. } => "unknown_kind",
            Outcome::Rescheduled { .. } => "rescheduled",
            Outcome::Duplicate => "duplicate",
            Outcome::Cancelled => "cancelled",
            Outcome::Expired => "expired",
            Outcome::Snoozed { .. } => "snoozed",
        }
    }
}

/// A delivery with its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub delivery: Delivery,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where permanent failures go, with their reasons, when the queue they
    /// came from has no redrive policy (or is not known): each queue's own
    /// dead-letter queue, from its `RedrivePolicy`, comes first.
    pub dead_letter_queue_url: Option<String>,
    /// The queue's `maxReceiveCount`. When set, a job that fails transiently on its
    /// last delivery is dead-lettered with its reason instead of being left for
    /// the redrive policy, which moves it without one.
    pub max_receive_count: Option<u32>,
    /// Jobs of one batch run at the same time, at most this many.
    pub concurrency: usize,
    /// How long a transiently failed job waits before it comes back; `None`
    /// leaves it to the queue's visibility timeout.
    pub backoff: Option<Backoff>,
    /// The longest single delay when carrying a job that is not yet due (SQS
    /// allows 900 seconds).
    pub max_delay_seconds: u32,
    /// The DynamoDB table that keeps a job from taking effect twice; `None`
    /// runs every delivery.
    pub idempotency: Option<LedgerSettings>,
    /// The longest one attempt of an AWS call may take. A call that hangs would
    /// otherwise hold its job past its lease, when another delivery may run it.
    pub call_timeout: std::time::Duration,
    /// The queue's visibility timeout. When known (the worker reads it from the
    /// queue), a running job's message is kept hidden by a heartbeat, so a job
    /// slower than the timeout is not delivered and run a second time. Lambda
    /// leaves it unset: there the function's timeout must stay below the queue's.
    pub visibility_timeout: Option<std::time::Duration>,
    /// The job queue (`JOBS_QUEUE_URL`): the worker polls it, and follow-up
    /// jobs (`Context::enqueue`) go there unless their type names another.
    /// The routes' `default`, when they have one, comes first.
    pub queue_url: Option<String>,
    /// The stack's queues by name (`JOBS_QUEUE_URLS`), for follow-up jobs
    /// and the worker's `JOBS_QUEUES`.
    pub routes: producer::send::routes::QueueRoutes,
    /// The CloudWatch namespace of the job metrics (`JOBS_METRICS_NAMESPACE`);
    /// `None` records none (`JOBS_METRICS=off`).
    pub metrics_namespace: Option<String>,
    /// What `http` jobs may reach (`JOBS_HTTP_ALLOW`), where their secrets
    /// may be read from, and how names are resolved.
    pub http: crate::http::HttpSettings,
    /// An upload's `source` up to this size is copied as one part, a larger
    /// one in parts of this size (`JOBS_MULTIPART_COPY_BYTES`; 5 GiB, the
    /// largest part S3 copies, by default).
    pub multipart_copy_above: u64,
    /// The payload bucket (`JOBS_PAYLOAD_BUCKET`): a pointer message's
    /// envelope, and an upload's staged `source`, are read and deleted only
    /// under its `payloads/`. `None` follows no pointer: a message's word is
    /// not enough to read or delete an object.
    pub payload_bucket: Option<String>,
    /// Whether the built-in `http` kind runs (`JOBS_HTTP_JOBS=on`), as with
    /// [`Runner::http`]. Off, an `http` job is dead-lettered unsent.
    pub http_jobs: bool,
    /// How long after its `created_at` a job of a kind this handler does not
    /// run is retried rather than dead-lettered (`JOBS_UNKNOWN_KIND_GRACE_SECONDS`,
    /// 1 hour; 0 dead-letters it at once): a web app deployed before its
    /// workers sends kinds that only the next handler knows.
    pub unknown_kind_grace: std::time::Duration,
}

impl Settings {
    pub const DLQ_URL_ENV: &str = "JOBS_DLQ_URL";
    pub const MAX_RECEIVE_COUNT_ENV: &str = "JOBS_MAX_RECEIVE_COUNT";
    pub const CONCURRENCY_ENV: &str = "JOBS_CONCURRENCY";
    pub const DEFAULT_CONCURRENCY: usize = 10;
    pub const MAX_DELAY_ENV: &str = "JOBS_MAX_DELAY_SECONDS";
    pub const CALL_TIMEOUT_ENV: &str = "JOBS_CALL_TIMEOUT_SECONDS";
    pub const DEFAULT_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
    pub const MULTIPART_COPY_ENV: &str = "JOBS_MULTIPART_COPY_BYTES";
    pub const HTTP_JOBS_ENV: &str = "JOBS_HTTP_JOBS";
    pub const UNKNOWN_KIND_GRACE_ENV: &str = "JOBS_UNKNOWN_KIND_GRACE_SECONDS";
    pub const DEFAULT_UNKNOWN_KIND_GRACE: std::time::Duration =
        std::time::Duration::from_secs(3_600);
    pub const DEFAULT_MULTIPART_COPY_ABOVE: u64 = 5 * 1024 * 1024 * 1024;

    /// Defaults, with a dead-letter queue for messages whose queue has no
    /// redrive policy.
    pub fn new(dead_letter_queue_url: impl Into<String>) -> Self {
        Settings {
            dead_letter_queue_url: Some(dead_letter_queue_url.into()),
            max_receive_count: None,
            concurrency: Self::DEFAULT_CONCURRENCY,
            backoff: Some(Backoff::default()),
            max_delay_seconds: producer::contract::validate::MAX_DELAY_SECONDS,
            idempotency: None,
            call_timeout: Self::DEFAULT_CALL_TIMEOUT,
            visibility_timeout: None,
            queue_url: None,
            routes: Default::default(),
            metrics_namespace: None,
            http: crate::http::HttpSettings::default(),
            multipart_copy_above: Self::DEFAULT_MULTIPART_COPY_ABOVE,
            payload_bucket: None,
            http_jobs: false,
            unknown_kind_grace: Self::DEFAULT_UNKNOWN_KIND_GRACE,
        }
    }

    /// Reads the optional `JOBS_*` settings: `JOBS_QUEUE_URLS`, `JOBS_DLQ_URL`
    /// (for queues without a redrive policy) and the rest.
    pub fn from_env() -> Result<Self, SettingsError> {
        let dead_letter_queue_url = std::env::var(Self::DLQ_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty());
        let routes = producer::send::routes::QueueRoutes::from_env()
            .map_err(|e| SettingsError::Routes(e.to_string()))?;
        let number = |name: &'static str| -> Result<Option<u32>, SettingsError> {
            match std::env::var(name) {
                Ok(v) if !v.is_empty() => v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or(SettingsError::NotAPositiveNumber(name, v)),
                _ => Ok(None),
            }
        };
        let backoff = match std::env::var(Backoff::BASE_ENV).as_deref() {
            Ok("0") => None,
            _ => {
                let default = Backoff::default();
                Some(Backoff {
                    base_seconds: number(Backoff::BASE_ENV)?.unwrap_or(default.base_seconds),
                    max_seconds: number(Backoff::MAX_ENV)?.unwrap_or(default.max_seconds),
                })
            }
        };
        let max_delay_seconds = number(Self::MAX_DELAY_ENV)?
            .unwrap_or(producer::contract::validate::MAX_DELAY_SECONDS)
            .min(producer::contract::validate::MAX_DELAY_SECONDS);
        let idempotency = match std::env::var(LedgerSettings::TABLE_ENV) {
            Ok(table) if !table.is_empty() => {
                let seconds = |name, default: std::time::Duration| {
                    number(name)
                        .map(|n| n.map_or(default, |n| std::time::Duration::from_secs(n.into())))
                };
                Some(LedgerSettings {
                    table,
                    lease: seconds(LedgerSettings::LEASE_ENV, LedgerSettings::DEFAULT_LEASE)?,
                    keep: seconds(LedgerSettings::KEEP_ENV, LedgerSettings::DEFAULT_KEEP)?,
                })
            }
            _ => None,
        };
        Ok(Settings {
            dead_letter_queue_url,
            max_receive_count: number(Self::MAX_RECEIVE_COUNT_ENV)?,
            concurrency: number(Self::CONCURRENCY_ENV)?
                .map_or(Self::DEFAULT_CONCURRENCY, |n| n as usize),
            backoff,
            max_delay_seconds,
            idempotency,
            call_timeout: number(Self::CALL_TIMEOUT_ENV)?.map_or(Self::DEFAULT_CALL_TIMEOUT, |n| {
                std::time::Duration::from_secs(n.into())
            }),
            visibility_timeout: None,
            queue_url: std::env::var(producer::send::queue::QUEUE_URL_ENV)
                .ok()
                .filter(|url| !url.is_empty()),
            routes,
            metrics_namespace: crate::metrics::enabled_from(
                std::env::var(crate::metrics::METRICS_ENV).ok().as_deref(),
            )
            .then(|| {
                crate::metrics::namespace_from(
                    std::env::var(crate::metrics::NAMESPACE_ENV).ok().as_deref(),
                )
            }),
            http: crate::http::HttpSettings::from_env().map_err(SettingsError::Http)?,
            multipart_copy_above: match std::env::var(Self::MULTIPART_COPY_ENV) {
                Ok(v) if !v.is_empty() => {
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(SettingsError::NotAPositiveNumber(
                            Self::MULTIPART_COPY_ENV,
                            v,
                        ))?
                }
                _ => Self::DEFAULT_MULTIPART_COPY_ABOVE,
            },
            payload_bucket: std::env::var(producer::contract::pointer::PAYLOAD_BUCKET_ENV)
                .ok()
                .filter(|bucket| !bucket.is_empty()),
            http_jobs: match std::env::var(Self::HTTP_JOBS_ENV).as_deref() {
                Ok("on") => true,
                Ok("off" | "") | Err(_) => false,
                Ok(other) => {
                    return Err(SettingsError::Invalid(
                        Self::HTTP_JOBS_ENV,
                        format!("`on` or `off`, not `{other}`"),
                    ));
                }
            },
            unknown_kind_grace: match std::env::var(Self::UNKNOWN_KIND_GRACE_ENV) {
                Ok(v) if !v.is_empty() => {
                    std::time::Duration::from_secs(v.parse().map_err(|_| {
                        SettingsError::Invalid(
                            Self::UNKNOWN_KIND_GRACE_ENV,
                            format!("a whole number of seconds, 0 or more, not `{v}`"),
                        )
                    })?)
                }
                _ => Self::DEFAULT_UNKNOWN_KIND_GRACE,
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("`{0}` is not set")]
    Missing(&'static str),
    #[error("`{0}` must be a whole number above 0, not `{1}`")]
    NotAPositiveNumber(&'static str, String),
    #[error("`{0}` must be a whole number from 0 to 20, not `{1}`")]
    NotAWait(&'static str, String),
    #[error("`{APP_SETTINGS_ENV}` is not the application's settings: {0}")]
    App(String),
    #[error("{0}")]
    Routes(String),
    #[error("`{0}`: {1}")]
    Invalid(&'static str, String),
    #[error("{0}")]
    Http(String),
}

/// The application's own settings (the stack's `AppSettings` parameter): a
/// JSON object, read into a type of the application's.
pub const APP_SETTINGS_ENV: &str = "JOBS_APP_SETTINGS";

/// Reads `JOBS_APP_SETTINGS`, a JSON object such as `{"products_table":
/// "shop-products"}`, into `T` (`{}` when unset): typed, with the field named
/// when one is missing or of the wrong type.
pub fn app_settings<T: serde::de::DeserializeOwned>() -> Result<T, SettingsError> {
    let text = std::env::var(APP_SETTINGS_ENV).unwrap_or_default();
    parse_app_settings(&text)
}

/// [`app_settings`] from the text itself.
pub fn parse_app_settings<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, SettingsError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text).map_err(|e| SettingsError::App(e.to_string()))
}

/// Runs jobs. Build it once per process (per Lambda cold start): it holds the
/// clients and the registered job types ([`Runner`]).
#[derive(Debug, Clone)]
pub struct Handler {
    aws: Arc<AwsClients>,
    pub(crate) sqs: aws_sdk_sqs::Client,
    settings: Settings,
    /// Queue URLs looked up from the ARNs in Lambda events, once per queue.
    pub(crate) queue_urls: Arc<Mutex<HashMap<String, String>>>,
    /// Each queue's `RedrivePolicy` (by the queue's URL), read once.
    redrive_policies: Arc<Mutex<HashMap<String, RedrivePolicy>>>,
    ledger: Option<Ledger>,
    kinds: Arc<dyn Dispatch>,
    /// Sends the follow-up jobs of `perform` (`Context::enqueue`).
    enqueuer: Arc<producer::Jobs>,
    /// Counts of the jobs that ended, for CloudWatch; `None` when metrics are off.
    metrics: Option<Arc<crate::metrics::JobMetrics>>,
    /// The client of `http` jobs, with its cache of signing secrets.
    http: Arc<crate::http::HttpClient>,
}

impl Handler {
    pub fn new(config: &SdkConfig, settings: Settings) -> Self {
        let config = &producer::aws::with_attempt_timeout(config, settings.call_timeout);
        let ledger = settings
            .idempotency
            .clone()
            .map(|ledger| Ledger::new(aws_sdk_dynamodb::Client::new(config), ledger));
        let handler = Handler::with_clients(AwsClients::from_config(config), settings);
        match ledger {
            Some(ledger) => handler.with_ledger(ledger),
            None => handler,
        }
    }

    /// Keeps jobs from taking effect twice with this ledger.
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Runs the job types of `runner` (the built-ins and the application's own)
    /// in place of the built-ins alone, with its state (built now from this
    /// handler's clients, if it is built with `Runner::with_state_from`).
    pub fn with_runner<S: Send + Sync + 'static>(
        mut self,
        runner: Runner<S>,
    ) -> Result<Self, RunError> {
        self.kinds = Arc::new(runner.resolve(&self.aws)?);
        Ok(self)
    }

    /// A handler on clients built elsewhere (tests, mocks). Jobs that build
    /// clients of their own from `Context::aws().config` get only the SQS
    /// client's region there.
    pub fn from_clients(
        ses: aws_sdk_sesv2::Client,
        s3: aws_sdk_s3::Client,
        sqs: aws_sdk_sqs::Client,
        settings: Settings,
    ) -> Self {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(producer::aws::https_client())
            .region(sqs.config().region().cloned())
            .build();
        Handler::with_clients(
            AwsClients {
                config,
                ses,
                s3,
                sqs,
            },
            settings,
        )
    }

    pub fn with_clients(aws: AwsClients, settings: Settings) -> Self {
        let enqueuer = producer::Jobs::new(aws.sqs.clone()).with_routes(settings.routes.clone());
        let enqueuer = match &settings.queue_url {
            Some(url) if settings.routes.url_of(DEFAULT_QUEUE).is_none() => {
                enqueuer.with_default_queue(url)
            }
            _ => enqueuer,
        };
        let built_ins = if settings.http_jobs {
            Runner::new().http()
        } else {
            Runner::new()
        };
        let built_ins = built_ins
            .resolve(&aws)
            .expect("the built-in kinds are registered once each");
        let http = Arc::new(crate::http::HttpClient::new(
            settings.http.clone(),
            &aws.config,
        ));
        Handler {
            http,
            sqs: aws.sqs.clone(),
            aws: Arc::new(aws),
            queue_urls: Arc::default(),
            redrive_policies: Arc::default(),
            ledger: None,
            kinds: Arc::new(built_ins),
            enqueuer: Arc::new(enqueuer),
            metrics: settings
                .metrics_namespace
                .as_ref()
                .map(|namespace| Arc::new(crate::metrics::JobMetrics::new(namespace.clone()))),
            settings,
        }
    }

    /// The same handler, counting no job metrics.
    pub fn without_metrics(mut self) -> Self {
        self.metrics = None;
        self
    }

    /// The job metrics this handler counts, when they are on.
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::JobMetrics>> {
        self.metrics.as_ref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Keeps a running job's message hidden for `timeout` at a time (see
    /// [`Settings::visibility_timeout`]).
    pub fn with_visibility_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
        self.settings.visibility_timeout = timeout;
        self
    }

    /// Processes a batch, at most `concurrency` jobs at once. Returns every
    /// delivery with its outcome, in no particular order.
    pub async fn process_batch(&self, deliveries: Vec<Delivery>) -> Vec<Processed> {
        self.process_batch_until(deliveries, None).await
    }

    /// As [`Handler::process_batch`], for an invocation that ends at `deadline`
    /// (which jobs see as `Context::time_left`).
    pub async fn process_batch_until(
        &self,
        deliveries: Vec<Delivery>,
        deadline: Option<SystemTime>,
    ) -> Vec<Processed> {
        futures::stream::iter(deliveries)
            .map(|delivery| async move {
                let outcome = self.process_until(&delivery, deadline).await;
                Processed { delivery, outcome }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await
    }

    /// Processes one message and logs what happened to it.
    pub async fn process(&self, delivery: &Delivery) -> Outcome {
        self.process_until(delivery, None).await
    }

    async fn process_until(&self, delivery: &Delivery, deadline: Option<SystemTime>) -> Outcome {
        let started = Instant::now();
        let pointer = PayloadPointer::from_body(&delivery.body);
        let (result, identity) = match &pointer {
            None => {
                self.decode_and_run(delivery, &delivery.body, deadline)
                    .await
            }
            Some(pointer) => {
                // Known from the attributes alone until the body is read.
                let identity = JobIdentity {
                    id: delivery.job_id.clone().unwrap_or_default(),
                    kind: String::new(),
                    staged: None,
                    created_at: None,
                };
                match self.open_payload(delivery, pointer).await {
                    Ok(Some(body)) => self.decode_and_run(delivery, &body, deadline).await,
                    Ok(None) => (Ok(Progress::Duplicate), identity),
                    Err(error) => (Err(Failure::from(error)), identity),
                }
            }
        };
        // A job another delivery is running can go on when that lease ends.
        let come_back_in = match &result {
            Err(Failure {
                error: JobError::Busy { lease_ends_in, .. },
                ..
            }) => Some(lease_ends_in.as_secs() as u32 + 1),
            _ => None,
        };
        // A service that said when to come back (`Retry-After`) is not asked sooner.
        let not_sooner_than = match &result {
            Err(Failure { error, .. }) => error.retry_after().map(|wait| {
                u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                    .unwrap_or(u32::MAX)
            }),
            _ => None,
        };
        let mut held_claim = None;
        let outcome = match result {
            Ok(Progress::Done) => Outcome::Done,
            Ok(Progress::Skipped { reason }) => Outcome::Skipped { reason },
            Ok(Progress::Duplicate) => Outcome::Duplicate,
            Ok(Progress::Cancelled) => Outcome::Cancelled,
            Ok(Progress::Carried { due_in_seconds }) => Outcome::Rescheduled { due_in_seconds },
            Ok(Progress::Expired) => Outcome::Expired,
            Ok(Progress::Snoozed { for_seconds }) => Outcome::Snoozed { for_seconds },
            Err(mut failure) => {
                held_claim = failure.claim.take();
                self.settle_failure(delivery, &identity, failure).await
            }
        };
        let job_id = identity.id.as_str();
        // An unknown kind's deliveries left are spread over its grace period,
        // so that the last comes once the period is over, whatever the backoff.
        let max_receive_count = match &outcome {
            Outcome::UnknownKind { .. } => self.max_receive_count_of(delivery).await,
            _ => None,
        };
        let not_sooner_than = match (&outcome, max_receive_count) {
            (
                Outcome::UnknownKind {
                    grace_left_seconds, ..
                },
                Some(max),
            ) => {
                let deliveries_left = u64::from(max.saturating_sub(delivery.receive_count).max(1));
                let spread =
                    u32::try_from(grace_left_seconds.div_ceil(deliveries_left)).unwrap_or(u32::MAX);
                Some(not_sooner_than.map_or(spread, |floor| floor.max(spread)))
            }
            _ => not_sooner_than,
        };
        let retry_delay = match outcome.retry_reason() {
            Some(_) => self.retry_delay(delivery, come_back_in, not_sooner_than),
            None => None,
        };
        // The claim is given back before the message may come back, so that
        // its next delivery finds the job free.
        if let (Some(ledger), Some(token)) = (&self.ledger, held_claim) {
            match outcome.retry_reason() {
                Some(reason) => {
                    // Without a delay of its own, it comes back when the
                    // queue's visibility timeout ends.
                    let wait = retry_delay
                        .map(|seconds| std::time::Duration::from_secs(u64::from(seconds)))
                        .or(self.settings.visibility_timeout)
                        .unwrap_or_default();
                    let next = NextTry {
                        attempt: delivery.receive_count,
                        error: reason,
                        at: SystemTime::now() + wait,
                    };
                    ledger.retry_later(job_id, &token, &next).await;
                }
                None => ledger.release(job_id, &token).await,
            }
        }
        let retry_in_seconds = match retry_delay {
            Some(delay) => self.hide_for(delivery, delay).await,
            None => None,
        };
        // Stored envelopes and staged files go once their job is settled.
        for stored in pointer.iter().chain(&identity.staged) {
            if self.holds(stored) {
                self.settle_payload(stored, &outcome).await;
            }
        }
        let kind = if identity.kind.is_empty() {
            "unknown"
        } else {
            identity.kind.as_str()
        };
        let elapsed = started.elapsed();
        let duration_ms = elapsed.as_millis() as u64;
        let queue = queue_name(delivery);
        if let Some(metrics) = &self.metrics {
            let metric_kind = if self.kinds.knows(&identity.kind) {
                identity.kind.as_str()
            } else {
                crate::metrics::UNKNOWN_KIND
            };
            let metric_queue = if queue.is_empty() { "unknown" } else { queue };
            metrics.record(
                metric_queue,
                metric_kind,
                outcome.label(),
                elapsed.as_secs_f64() * 1000.0,
            );
        }
        match &outcome {
            Outcome::Done => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, "job done"
            ),
            Outcome::Skipped { reason } => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, reason = %reason,
                "job skipped"
            ),
            Outcome::DeadLettered { code, reason } => tracing::warn!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, error_code = code, error = %reason,
                "job dead-lettered"
            ),
            Outcome::Duplicate => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id,
                "job had already taken effect; nothing done"
            ),
            Outcome::Cancelled => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, "job cancelled; nothing done"
            ),
            Outcome::Snoozed { for_seconds } => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, for_seconds,
                "job snoozed; it comes back later"
            ),
            Outcome::Expired => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id,
                "job not started by its expires_at; dropped, nothing done"
            ),
            Outcome::Rescheduled { due_in_seconds } => tracing::info!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, due_in_seconds,
                "job not due yet; carried forward"
            ),
            Outcome::Retry { reason } => tracing::warn!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, error = %reason,
                retry_in_seconds, "job will be retried"
            ),
            Outcome::UnknownKind { reason, .. } => tracing::warn!(
                job_id, kind, queue, attempt = delivery.receive_count, outcome = outcome.label(),
                duration_ms, message_id = %delivery.message_id, error = %reason,
                retry_in_seconds, "job of a kind this handler does not run; retried while a deploy may bring it"
            ),
        }
        outcome
    }

    /// Decodes an envelope and runs its job when due.
    async fn decode_and_run(
        &self,
        delivery: &Delivery,
        body: &str,
        deadline: Option<SystemTime>,
    ) -> (Result<Progress, Failure>, JobIdentity) {
        match Envelope::decode(body) {
            Ok(envelope) => {
                let identity = JobIdentity {
                    id: envelope.id.clone(),
                    kind: envelope.kind().to_owned(),
                    staged: envelope.staged_source(),
                    created_at: parse_rfc3339(&envelope.created_at),
                };
                if let Some(staged) = identity.staged.as_ref().filter(|s| !self.holds(s)) {
                    let error = JobError::Payload {
                        code: "source_outside_bucket",
                        class: ErrorClass::Permanent,
                        message: self.outside_bucket("the upload's staged `source`", staged),
                    };
                    return (Err(Failure::from(error)), identity);
                }
                (
                    self.run_when_due(delivery, envelope, deadline).await,
                    identity,
                )
            }
            Err(e) => (
                Err(Failure::from(JobError::Decode(e))),
                JobIdentity::peek(body),
            ),
        }
    }

    /// The envelope a pointer message points to, read from S3; `None` when the
    /// ledger already has the job (named by the message's `jobs.id`) done, so
    /// that a redelivery of a finished job needs no body. Pointers from other
    /// libraries carry no `jobs.id`: their body is read first.
    async fn open_payload(
        &self,
        delivery: &Delivery,
        pointer: &PayloadPointer,
    ) -> Result<Option<String>, JobError> {
        if !self.holds(pointer) {
            return Err(JobError::Payload {
                code: "payload_outside_bucket",
                class: ErrorClass::Permanent,
                message: self.outside_bucket("the message's pointer", pointer),
            });
        }
        if let (Some(ledger), Some(job_id)) = (&self.ledger, &delivery.job_id)
            && ledger.is_done(job_id).await?
        {
            return Ok(None);
        }
        let payload_error = |code, class, message: String| JobError::Payload {
            code,
            class,
            message,
        };
        if let Some(size) = delivery.payload_size
            && size > MAX_PAYLOAD_BYTES
        {
            return Err(payload_error(
                "payload_too_large",
                ErrorClass::Permanent,
                format!(
                    "the stored envelope at `{}` is {size} bytes; at most {MAX_PAYLOAD_BYTES} (2 GB) are read",
                    pointer.url()
                ),
            ));
        }
        let object = self
            .aws
            .s3
            .get_object()
            .bucket(&pointer.bucket)
            .key(&pointer.key)
            .send()
            .await
            .map_err(|e| {
                let missing = e.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || e.code() == Some("NoSuchBucket");
                if missing {
                    payload_error(
                        "payload_missing",
                        ErrorClass::Permanent,
                        format!(
                            "the job's envelope is not at `{}`: {}",
                            pointer.url(),
                            producer::aws::describe(&e)
                        ),
                    )
                } else {
                    payload_error(
                        "payload_unreadable",
                        producer::aws::classify(&e),
                        format!(
                            "cannot read the job's envelope at `{}`: {}",
                            pointer.url(),
                            producer::aws::describe(&e)
                        ),
                    )
                }
            })?;
        let bytes = object.body.collect().await.map_err(|e| {
            payload_error(
                "payload_unreadable",
                ErrorClass::Transient,
                format!(
                    "reading the job's envelope at `{}` stopped: {e}",
                    pointer.url()
                ),
            )
        })?;
        String::from_utf8(bytes.into_bytes().to_vec())
            .map(Some)
            .map_err(|_| {
                payload_error(
                    "payload_unreadable",
                    ErrorClass::Permanent,
                    format!(
                        "the job's envelope at `{}` is not UTF-8 text",
                        pointer.url()
                    ),
                )
            })
    }

    /// Whether an object a message points at is this stack's to read and delete.
    fn holds(&self, pointer: &PayloadPointer) -> bool {
        self.settings
            .payload_bucket
            .as_deref()
            .is_some_and(|bucket| pointer.is_within(bucket))
    }

    /// Why a pointer is not followed, naming the payload bucket.
    fn outside_bucket(&self, what: &str, pointer: &PayloadPointer) -> String {
        format!(
            "{what} `{}` is outside the payload bucket (`JOBS_PAYLOAD_BUCKET`: `{}`, under `payloads/`); it was neither read nor deleted",
            pointer.url(),
            self.settings.payload_bucket.as_deref().unwrap_or("unset")
        )
    }

    /// Deletes a pointer message's stored envelope once its job is settled for
    /// good (done, skipped, a duplicate), and only with the ledger on: without
    /// it, a redelivery must still find its body, so bodies wait for the
    /// bucket's lifecycle rule. A dead letter keeps its body for a redrive.
    async fn settle_payload(&self, pointer: &PayloadPointer, outcome: &Outcome) {
        let settled = matches!(
            outcome,
            Outcome::Done | Outcome::Skipped { .. } | Outcome::Duplicate
        );
        if !settled || self.ledger.is_none() {
            return;
        }
        if let Err(e) = self
            .aws
            .s3
            .delete_object()
            .bucket(&pointer.bucket)
            .key(&pointer.key)
            .send()
            .await
        {
            tracing::warn!(
                payload = %pointer.url(),
                error = %producer::aws::describe(&e),
                "could not delete a settled job's stored envelope; the bucket's lifecycle rule will"
            );
        }
    }

    /// How long a failed message should stay hidden: until a busy claim's
    /// lease ends, else the backoff's delay, and never less than the
    /// failure's `Retry-After`; `None` without backoff or `Retry-After`.
    fn retry_delay(
        &self,
        delivery: &Delivery,
        come_back_in: Option<u32>,
        not_sooner_than: Option<u32>,
    ) -> Option<u32> {
        let delay = match (come_back_in, self.settings.backoff) {
            (Some(seconds), _) => Some(seconds),
            (None, Some(backoff)) => Some(backoff.delay(delivery.receive_count)),
            (None, None) => None,
        };
        let delay = match (delay, not_sooner_than) {
            (Some(delay), Some(floor)) => Some(delay.max(floor)),
            (None, Some(floor)) => {
                // Without a backoff the queue's visibility timeout would bring
                // it back; it still may not come back before `floor`.
                let timeout = self
                    .settings
                    .visibility_timeout
                    .map_or(0, |t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX));
                Some(floor.max(timeout))
            }
            (delay, None) => delay,
        };
        delay.map(|seconds| seconds.min(crate::backoff::MAX_VISIBILITY_SECONDS))
    }

    /// Hides a failed message for `delay` seconds; returns the delay set. When this
    /// fails the message simply comes back after the queue's visibility timeout.
    async fn hide_for(&self, delivery: &Delivery, delay: u32) -> Option<u32> {
        let (Some(queue_url), Some(receipt_handle)) =
            (self.queue_url_of(delivery).await, &delivery.receipt_handle)
        else {
            return None;
        };
        let changed = self
            .sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay).unwrap_or(i32::MAX))
            .send()
            .await;
        match changed {
            Ok(_) => Some(delay),
            Err(e) => {
                tracing::warn!(message_id = %delivery.message_id, error = %producer::aws::describe(&e),
                    "could not set the retry delay; the queue's visibility timeout applies");
                None
            }
        }
    }

    /// Validates the job, then runs it if it is due, or carries it forward.
    async fn run_when_due(
        &self,
        delivery: &Delivery,
        envelope: Envelope,
        deadline: Option<SystemTime>,
    ) -> Result<Progress, Failure> {
        let wait = envelope
            .due_at()
            .max(delivery.snoozed_until)
            .and_then(|due| due.duration_since(SystemTime::now()).ok())
            .filter(|wait| !wait.is_zero());
        // A job that runs now has its upload body checked as it is decoded for
        // the write, once; one carried forward is checked whole now.
        let checked = if wait.is_none() {
            envelope.validate_before_write()
        } else {
            envelope.validate()
        };
        checked.map_err(JobError::from)?;
        match wait {
            None => self.run_once(delivery, envelope, deadline).await,
            Some(wait) => match self.leg(&envelope).await? {
                Leg::Cancelled => Ok(Progress::Cancelled),
                Leg::RanEarly => Ok(Progress::Duplicate),
                Leg::Carry => Ok(self
                    .carry_forward(delivery, &envelope, wait)
                    .await
                    .map(|due_in_seconds| Progress::Carried { due_in_seconds })?),
            },
        }
    }

    async fn leg(&self, envelope: &Envelope) -> Result<Leg, JobError> {
        match &self.ledger {
            Some(ledger) => ledger.leg(&envelope.id).await,
            None => Ok(Leg::Carry),
        }
    }

    /// Runs the job unless the ledger says it already took effect or is running.
    async fn run_once(
        &self,
        delivery: &Delivery,
        envelope: Envelope,
        deadline: Option<SystemTime>,
    ) -> Result<Progress, Failure> {
        let job_id = envelope.id.clone();
        let kind = envelope.kind().to_owned();
        let snooze = |wait| self.snooze(delivery, (&job_id, &kind), wait);
        let Some(ledger) = &self.ledger else {
            if envelope.is_expired_at(SystemTime::now()) {
                return Ok(Progress::Expired);
            }
            return match self.run(delivery, envelope, deadline, None).await? {
                Done::Performed => Ok(Progress::Done),
                Done::Skipped { reason } => Ok(Progress::Skipped { reason }),
                Done::Snoozed { wait } => Ok(Progress::Snoozed {
                    for_seconds: snooze(wait).await?,
                }),
            };
        };
        let claim = ClaimFor {
            job_id: &job_id,
            payload_sha256: &payload_sha256(&envelope),
            kind: envelope.kind(),
            queue: queue_name(delivery),
        };
        match ledger.claim(claim).await? {
            Claim::AlreadyDone => Ok(Progress::Duplicate),
            Claim::Cancelled => Ok(Progress::Cancelled),
            Claim::Busy { lease_ends_in } => Err(JobError::Busy {
                job_id,
                lease_ends_in,
            }
            .into()),
            // Checked under the claim: a delivery that started the job
            // before its time runs it to its end, and no other starts it.
            Claim::Granted { token } if envelope.is_expired_at(SystemTime::now()) => {
                ledger.release(&job_id, &token).await;
                Ok(Progress::Expired)
            }
            Claim::Granted { token } => match self
                .run(delivery, envelope, deadline, Some((ledger, &token)))
                .await
            {
                Ok(Done::Snoozed { wait }) => match snooze(wait).await {
                    // Not done: the claim goes back, for the new message to take.
                    Ok(for_seconds) => {
                        ledger.release(&job_id, &token).await;
                        Ok(Progress::Snoozed { for_seconds })
                    }
                    Err(error) => Err(Failure {
                        error,
                        by_job: false,
                        claim: Some(token),
                    }),
                },
                Ok(outcome) => {
                    if let Err(e) = ledger.complete(&job_id, &token).await {
                        // The effect happened. Until the lease runs out nobody runs
                        // the job again; after that a redelivery would.
                        tracing::error!(job_id = %job_id, error = %e, "could not mark the job done");
                    }
                    Ok(match outcome {
                        Done::Skipped { reason } => Progress::Skipped { reason },
                        Done::Performed | Done::Snoozed { .. } => Progress::Done,
                    })
                }
                // Given back once the failure is settled: listed for its
                // retry, or released.
                Err(failure) => Err(Failure {
                    claim: Some(token),
                    ..failure
                }),
            },
        }
    }

    /// Runs the job's `perform` through its registered type, with a heartbeat
    /// while it runs. A panic fails this job alone; the batch, the worker and the
    /// invocation go on.
    async fn run(
        &self,
        delivery: &Delivery,
        envelope: Envelope,
        deadline: Option<SystemTime>,
        claim: Option<(&Ledger, &str)>,
    ) -> Result<Done, Failure> {
        let job_id = envelope.id.clone();
        let parts = RunParts {
            job: JobInfo {
                kind: envelope.kind().to_owned(),
                attempt: delivery.receive_count,
                created_at: parse_rfc3339(&envelope.created_at),
                not_before: envelope.due_at(),
                message_id: delivery.message_id.clone(),
                id: envelope.id,
            },
            aws: Arc::clone(&self.aws),
            effects: Effects::Aws,
            jobs: Arc::clone(&self.enqueuer),
            deadline,
            http: Arc::clone(&self.http),
            multipart_copy_above: self.settings.multipart_copy_above,
        };
        let performed = tokio::select! {
            performed = catching_panics(self.kinds.run(envelope.job, &parts)) => performed,
            never = self.heartbeat(delivery, &job_id, claim) => match never {},
        };
        performed.map_err(|error| Failure {
            error,
            by_job: true,
            claim: None,
        })
    }

    /// Runs beside a job until it ends: every third of the queue's visibility
    /// timeout it hides the message for a full timeout again, and every third of
    /// the ledger's lease it renews the claim. A beat that fails is logged; the
    /// next one tries again.
    async fn heartbeat(
        &self,
        delivery: &Delivery,
        job_id: &str,
        claim: Option<(&Ledger, &str)>,
    ) -> std::convert::Infallible {
        let every = |period: std::time::Duration| {
            let period = (period / 3).max(std::time::Duration::from_millis(100));
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        };
        let hide = match (
            self.settings.visibility_timeout,
            &delivery.queue_url,
            &delivery.receipt_handle,
        ) {
            (Some(timeout), Some(queue_url), Some(receipt_handle)) => {
                Some((timeout, queue_url, receipt_handle))
            }
            _ => None,
        };
        let mut hide_ticks = hide.map(|(timeout, ..)| every(timeout));
        let mut lease_ticks = claim.map(|(ledger, _)| every(ledger.settings().lease));
        loop {
            tokio::select! {
                () = next_tick(hide_ticks.as_mut()) => {
                    let Some((timeout, queue_url, receipt_handle)) = hide else { continue };
                    let hidden = self
                        .sqs
                        .change_message_visibility()
                        .queue_url(queue_url)
                        .receipt_handle(receipt_handle)
                        .visibility_timeout(i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX))
                        .send()
                        .await;
                    if let Err(e) = hidden {
                        tracing::warn!(job_id, message_id = %delivery.message_id, error = %producer::aws::describe(&e),
                            "could not extend the message's visibility; it may be delivered again while the job runs");
                    }
                }
                () = next_tick(lease_ticks.as_mut()) => {
                    let Some((ledger, token)) = claim else { continue };
                    if let Err(e) = ledger.extend(job_id, token).await {
                        tracing::warn!(job_id, error = %e, "could not renew the job's lease");
                    }
                }
            }
        }
    }

    /// Sends the same body back to its queue with the longest delay allowed (or
    /// the time left), so that the job runs within seconds of its `not_before`
    /// (or of its snooze's end, whose attribute goes along).
    async fn carry_forward(
        &self,
        delivery: &Delivery,
        envelope: &Envelope,
        wait: std::time::Duration,
    ) -> Result<u64, JobError> {
        self.send_again(
            delivery,
            (&envelope.id, envelope.kind()),
            wait,
            delivery.snoozed_until,
            "sqs_carry_forward",
        )
        .await
    }

    /// Sends a snoozed job back to its queue as a new message, due `wait` from
    /// now: the delay SQS allows, and past it the `jobs.snoozed_until`
    /// attribute, which carrying forward honours.
    async fn snooze(
        &self,
        delivery: &Delivery,
        identity: (&str, &str),
        wait: std::time::Duration,
    ) -> Result<u64, JobError> {
        let past_delay = wait.as_secs() > u64::from(self.settings.max_delay_seconds);
        let until = past_delay.then(|| SystemTime::now() + wait);
        self.send_again(delivery, identity, wait, until, "sqs_snooze")
            .await
    }

    /// Sends the body as it came (a pointer stays a pointer, with its size)
    /// back to its queue as a new message, due `wait` from now, with
    /// `snoozed_until` when given; returns the wait in whole seconds.
    async fn send_again(
        &self,
        delivery: &Delivery,
        (job_id, kind): (&str, &str),
        wait: std::time::Duration,
        snoozed_until: Option<SystemTime>,
        operation: &'static str,
    ) -> Result<u64, JobError> {
        let due_in_seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let Some(queue_url) = self.queue_url_of(delivery).await else {
            return Err(JobError::Aws {
                operation,
                class: ErrorClass::Transient,
                message: "the job is not due yet and its queue is not known".into(),
            });
        };
        let delay = due_in_seconds.min(u64::from(self.settings.max_delay_seconds));
        let mut request = self
            .sqs
            .send_message()
            .queue_url(&queue_url)
            .message_body(&delivery.body)
            .delay_seconds(i32::try_from(delay).unwrap_or(900))
            .message_attributes(dead_letter_attributes::JOB_ID, string_attribute(job_id))
            .message_attributes(dead_letter_attributes::JOB_KIND, string_attribute(kind));
        if let Some(size) = delivery.payload_size {
            request = request.message_attributes(PAYLOAD_SIZE, number_attribute(size));
        }
        if let Some(until) = snoozed_until {
            request = request.message_attributes(
                dead_letter_attributes::SNOOZED_UNTIL,
                string_attribute(&humantime::format_rfc3339_millis(until).to_string()),
            );
        }
        request
            .send()
            .await
            .map_err(|e| JobError::aws(operation, &e))?;
        Ok(due_in_seconds)
    }

    async fn settle_failure(
        &self,
        delivery: &Delivery,
        identity: &JobIdentity,
        failure: Failure,
    ) -> Outcome {
        let error = &failure.error;
        let last_delivery = self
            .max_receive_count_of(delivery)
            .await
            .is_some_and(|max| delivery.receive_count >= max);
        // The job type's own limit counts the failures of its `perform` only,
        // not a busy claim or a ledger call that failed.
        let retry = if failure.by_job {
            self.kinds.retry(&identity.kind)
        } else {
            Retry::Queue
        };
        if !last_delivery && let Some(left) = self.grace_left(delivery, identity, error) {
            return Outcome::UnknownKind {
                reason: format!(
                    "{error}; retried for {} more, while a deploy may bring a handler that runs it (`{}`)",
                    humantime::format_duration(left),
                    Settings::UNKNOWN_KIND_GRACE_ENV
                ),
                grace_left_seconds: left.as_secs(),
            };
        }
        let reason = match error.class() {
            ErrorClass::Permanent => error.to_string(),
            ErrorClass::Transient if retry == Retry::Never => {
                format!("failed, and its job type allows no retry: {error}")
            }
            ErrorClass::Transient if last_delivery || retry.exhausted(delivery.receive_count) => {
                format!(
                    "gave up after {} deliveries: {error}",
                    delivery.receive_count
                )
            }
            ErrorClass::Transient => {
                return Outcome::Retry {
                    reason: error.to_string(),
                };
            }
        };
        match self.dead_letter(delivery, identity, error, &reason).await {
            Ok(()) => Outcome::DeadLettered {
                code: error.code(),
                reason,
            },
            // Not in the dead-letter queue, so it must stay on the job queue.
            Err(dlq_error) => Outcome::Retry {
                reason: format!("{reason}; and it could not be dead-lettered: {dlq_error}"),
            },
        }
    }

    /// How much is left of an unknown kind's grace period: counted from the
    /// job's `created_at`, or from when SQS took this message when that is
    /// earlier (a `created_at` in the future buys no extra time). `None` for
    /// any other failure, and once the period is over.
    fn grace_left(
        &self,
        delivery: &Delivery,
        identity: &JobIdentity,
        error: &JobError,
    ) -> Option<std::time::Duration> {
        if !matches!(error, JobError::Decode(DecodeError::UnknownKind { .. })) {
            return None;
        }
        let now = SystemTime::now();
        let since = [identity.created_at, delivery.sent_at, Some(now)]
            .into_iter()
            .flatten()
            .min()?;
        let ends = since.checked_add(self.settings.unknown_kind_grace)?;
        ends.duration_since(now)
            .ok()
            .filter(|left| !left.is_zero())
            .map(|left| std::time::Duration::from_secs(left.as_secs().max(1)))
    }

    /// Sends the original body to the dead-letter queue with the reason as attributes.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        identity: &JobIdentity,
        error: &JobError,
        reason: &str,
    ) -> Result<(), JobError> {
        use dead_letter_attributes as attr;
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let failed_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let receive_count = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("Number")
            .string_value(delivery.receive_count.to_string())
            .build()
            .expect("data_type is set");
        let queue_url = self.queue_url_of(delivery).await;
        let dead_letter_queue = self.dead_letter_queue_of(queue_url.as_deref()).await?;
        let mut request = self
            .sqs
            .send_message()
            .queue_url(&dead_letter_queue)
            .message_body(&delivery.body)
            .message_attributes(attr::ERROR_CLASS, string_attribute(error.class().as_str()))
            .message_attributes(attr::ERROR_CODE, string_attribute(error.code()))
            .message_attributes(attr::ERROR_MESSAGE, string_attribute(&reason))
            .message_attributes(attr::RECEIVE_COUNT, receive_count)
            .message_attributes(attr::HANDLER_VERSION, string_attribute(HANDLER_VERSION))
            .message_attributes(attr::FAILED_AT, string_attribute(&failed_at))
            .message_attributes(
                attr::SOURCE,
                string_attribute(&attr::source(queue_url.as_deref(), &delivery.message_id)),
            );
        if !identity.id.is_empty() {
            request = request.message_attributes(attr::JOB_ID, string_attribute(&identity.id));
        }
        if !identity.kind.is_empty() {
            request = request.message_attributes(attr::JOB_KIND, string_attribute(&identity.kind));
        }
        // A pointer message keeps its pointer and size, and its stored
        // envelope stays for a redrive: the tenth attribute, which SQS allows.
        if let Some(size) = delivery.payload_size {
            request = request.message_attributes(PAYLOAD_SIZE, number_attribute(size));
        }
        request
            .send()
            .await
            .map_err(|e| JobError::aws("sqs_send_to_dead_letter_queue", &e))?;
        Ok(())
    }
}

impl Handler {
    /// Where dead letters of `queue_url` go: the queue's own dead-letter queue
    /// (its `RedrivePolicy`, read once), else `JOBS_DLQ_URL`.
    async fn dead_letter_queue_of(&self, queue_url: Option<&str>) -> Result<String, JobError> {
        let own = match queue_url {
            Some(url) => self.redrive_target_of(url).await?,
            None => None,
        };
        own.or_else(|| self.settings.dead_letter_queue_url.clone())
            .ok_or_else(|| {
                JobError::permanent(format!(
                    "no dead-letter queue: the queue `{}` has no redrive policy and `{}` is not set",
                    queue_url.unwrap_or("(not known)"),
                    Settings::DLQ_URL_ENV
                ))
            })
    }

    async fn redrive_target_of(&self, queue_url: &str) -> Result<Option<String>, JobError> {
        let policy = self.redrive_policy_of(queue_url).await?;
        match policy.target_arn {
            Some(arn) => Ok(Some(self.queue_url_for(&arn).await.ok_or_else(|| {
                JobError::Aws {
                    operation: "sqs_get_queue_url",
                    class: ErrorClass::Transient,
                    message: format!("cannot find the dead-letter queue `{arn}`"),
                }
            })?)),
            None => Ok(None),
        }
    }

    /// The queue's `maxReceiveCount`: `JOBS_MAX_RECEIVE_COUNT` when set, else
    /// the queue's `RedrivePolicy`, read once per queue and only when a job
    /// failed, so that a cold start makes no extra call. `None` when neither
    /// says (or the queue cannot be read: the redrive policy still bounds it).
    async fn max_receive_count_of(&self, delivery: &Delivery) -> Option<u32> {
        if let Some(max) = self.settings.max_receive_count {
            return Some(max);
        }
        let queue_url = self.queue_url_of(delivery).await?;
        match self.redrive_policy_of(&queue_url).await {
            Ok(policy) => policy.max_receive_count,
            Err(e) => {
                tracing::warn!(queue_url = %queue_url, error = %e,
                    "could not read the queue's redrive policy; its maxReceiveCount is not known");
                None
            }
        }
    }

    async fn redrive_policy_of(&self, queue_url: &str) -> Result<RedrivePolicy, JobError> {
        if let Some(known) = self
            .redrive_policies
            .lock()
            .ok()
            .and_then(|known| known.get(queue_url).cloned())
        {
            return Ok(known);
        }
        let output = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| JobError::aws("sqs_read_redrive_policy", &e))?;
        let policy = RedrivePolicy::parse(
            output
                .attributes
                .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy))
                .as_deref(),
        );
        if let Ok(mut known) = self.redrive_policies.lock() {
            known.insert(queue_url.to_owned(), policy.clone());
        }
        Ok(policy)
    }
}

/// What a queue's `RedrivePolicy` says, as far as it can be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RedrivePolicy {
    target_arn: Option<String>,
    max_receive_count: Option<u32>,
}

impl RedrivePolicy {
    /// `{"deadLetterTargetArn": "...", "maxReceiveCount": 10}`; SQS has
    /// written the count as a number and as a string.
    fn parse(policy: Option<&str>) -> Self {
        let Some(policy) = policy.and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        else {
            return RedrivePolicy::default();
        };
        let count = &policy["maxReceiveCount"];
        RedrivePolicy {
            target_arn: policy["deadLetterTargetArn"].as_str().map(str::to_owned),
            max_receive_count: count
                .as_u64()
                .or_else(|| count.as_str().and_then(|c| c.parse().ok()))
                .and_then(|c| u32::try_from(c).ok())
                .filter(|c| *c > 0),
        }
    }
}

/// The next tick of `ticks`; never, when there is nothing to keep alive.
async fn next_tick(ticks: Option<&mut tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A failed job, and whether its own `perform` failed (rather than the
/// machinery around it: decoding, the ledger, carrying it forward).
#[derive(Debug)]
struct Failure {
    error: JobError,
    by_job: bool,
    /// The ledger claim this delivery still holds.
    claim: Option<String>,
}

impl From<JobError> for Failure {
    fn from(error: JobError) -> Self {
        Failure {
            error,
            by_job: false,
            claim: None,
        }
    }
}

/// The SQS name of the queue a delivery came from: which class of work it is.
fn queue_name(delivery: &Delivery) -> &str {
    match (&delivery.queue_url, &delivery.queue_arn) {
        (Some(url), _) => producer::send::queue::queue_name_of(url),
        (None, Some(arn)) => arn.rsplit(':').next().unwrap_or_default(),
        (None, None) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redrive_policy_gives_its_target_and_its_count() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:jobs-dlq";
        for policy in [
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":10}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"10"}}"#),
        ] {
            assert_eq!(
                RedrivePolicy::parse(Some(&policy)),
                RedrivePolicy {
                    target_arn: Some(arn.into()),
                    max_receive_count: Some(10),
                }
            );
        }
        for unread in [None, Some(""), Some("{"), Some(r#"{"maxReceiveCount":0}"#)] {
            assert_eq!(
                RedrivePolicy::parse(unread),
                RedrivePolicy::default(),
                "{unread:?}"
            );
        }
    }
}
