//! The work of a job type: [`Perform`], what it gets ([`Context`]) and what it
//! returns ([`Done`] or a [`JobError`]).
//!
//! ```
//! use handler::{Context, Done, JobError, Perform, Retry};
//! use producer::{EnqueueOptions, JobType, MailJob};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! pub struct Welcome {
//!     pub email: String,
//! }
//!
//! impl JobType for Welcome {
//!     const KIND: &'static str = "welcome";
//!     fn defaults() -> EnqueueOptions {
//!         EnqueueOptions::default().queue("mailers")
//!     }
//! }
//!
//! /// What the application sets up once at start.
//! pub struct App {
//!     pub sender: String,
//! }
//!
//! impl Perform<App> for Welcome {
//!     const RETRY: Retry = Retry::Limit(5);
//!
//!     async fn perform(self, cx: &Context<'_, App>) -> Result<Done, JobError> {
//!         cx.send_mail(MailJob {
//!             from: cx.state().sender.clone(),
//!             to: vec![self.email],
//!             subject: "Welcome!".into(),
//!             text: Some("Glad to have you.".into()),
//!             ..MailJob::default()
//!         })
//!         .await?;
//!         Ok(Done::done())
//!     }
//! }
//! ```

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use futures::FutureExt as _;
use producer::{EnqueueOptions, HttpJob, JobType, Jobs, MailJob, Sent, UploadJob};

use crate::effects;
pub use crate::effects::Upload;
use crate::error::JobError;
use crate::http::{HttpClient, HttpResponse};

/// The work of a job type `Self`, with the application's state `S` (`()` for none).
///
/// The handler decodes each message once into `Self`, runs `perform`, and acts
/// on the answer: [`Done`] deletes the message and marks the job done in the
/// ledger; a transient [`JobError`] backs off and retries; a permanent one, or
/// the type's [`Retry`] limit reached, dead-letters the message with its reason.
/// A panic fails this job alone, as a transient error.
pub trait Perform<S = ()>: JobType {
    /// How often a failed job is tried again (Sidekiq's `retry` option).
    const RETRY: Retry = Retry::Queue;

    fn perform(self, cx: &Context<'_, S>) -> impl Future<Output = Result<Done, JobError>> + Send;
}

/// How often a job type's failures are tried again. The queue's own
/// `maxReceiveCount` always bounds it too: a `Limit(n)` needs `n + 1`
/// deliveries, so the queue's count must be above `n` (the runner warns at
/// start when `JOBS_MAX_RECEIVE_COUNT` is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// As often as the queue allows (its redrive policy's `maxReceiveCount`).
    Queue,
    /// At most this many retries after the first try; the failure after the
    /// last is dead-lettered with its reason.
    Limit(u32),
    /// No retry: the first failure is dead-lettered with its reason.
    Never,
}

impl Retry {
    /// True when a job that failed on delivery `attempt` (1 for the first) has
    /// used up its retries.
    pub fn exhausted(self, attempt: u32) -> bool {
        match self {
            Retry::Queue => false,
            Retry::Limit(retries) => attempt > retries,
            Retry::Never => true,
        }
    }
}

/// A job that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The job did its work.
    Performed,
    /// The job decided there was nothing to do (the product was paid meanwhile).
    /// A success: logged with its reason, counted on its own, and marked done
    /// in the ledger like any success.
    Skipped { reason: String },
    /// Not now: the job comes back after `wait` as a new message, which does
    /// not count as a failure, a try of its `Retry`, or a delivery of the
    /// queue's `maxReceiveCount` (Oban's `{:snooze, s}`). Its ledger claim is
    /// given back meanwhile.
    Snoozed { wait: std::time::Duration },
}

impl Done {
    /// `Ok(Done::done())` reads as the sentence it is.
    #[allow(clippy::self_named_constructors)]
    pub fn done() -> Self {
        Done::Performed
    }

    pub fn skipped(reason: impl Into<String>) -> Self {
        Done::Skipped {
            reason: reason.into(),
        }
    }

    /// "Ask me again in `wait`": a partner's quota is used up, the file is
    /// not there yet. Waits longer than SQS's 15 minutes are carried forward
    /// in legs, as a scheduled job's are.
    pub fn snooze(wait: std::time::Duration) -> Self {
        Done::Snoozed { wait }
    }
}

/// Which job is running, and which try this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub id: String,
    pub kind: String,
    /// 1 on the first delivery (SQS's `ApproximateReceiveCount`).
    pub attempt: u32,
    pub created_at: Option<SystemTime>,
    /// The time the job was scheduled for, if any.
    pub not_before: Option<SystemTime>,
    /// The SQS message that carried it.
    pub message_id: String,
}

/// The AWS clients the handler built once at start, shared by every job.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// The configuration they were built from (region, credentials,
    /// endpoints, and the handler's call timeout, `JOBS_CALL_TIMEOUT_SECONDS`):
    /// build other clients from it once, in the application's state
    /// (`Runner::with_state_from`).
    pub config: SdkConfig,
    pub ses: aws_sdk_sesv2::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Every client from one configuration (S3 path-style where an endpoint is set).
    pub fn from_config(config: &SdkConfig) -> Self {
        AwsClients {
            config: config.clone(),
            ses: aws_sdk_sesv2::Client::new(config),
            s3: producer::aws::s3_client(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}

/// A built-in effect a job asked for, as the testing helpers record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Mail(MailJob),
    Upload(Upload),
    /// An upload job whose bytes are copied from its `source`.
    Copy(UploadJob),
    Http(HttpJob),
}

/// Where a context's mail and uploads go.
#[derive(Debug, Clone)]
pub(crate) enum Effects {
    Aws,
    Recorded(Recorder),
}

/// What the testing helpers keep of a run's effects, and the answers they
/// give to its HTTP calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    pub(crate) effects: Arc<Mutex<Vec<Effect>>>,
    /// Answers for `Context::http`, in order; a 200 with no body when none is left.
    pub(crate) answers: Arc<Mutex<std::collections::VecDeque<HttpResponse>>>,
}

impl Recorder {
    fn push(&self, effect: Effect) -> usize {
        let mut log = self
            .effects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.push(effect);
        log.len()
    }
}

/// What one run of one job gets, apart from the application's state.
#[derive(Debug)]
pub(crate) struct RunParts {
    pub(crate) job: JobInfo,
    pub(crate) aws: Arc<AwsClients>,
    pub(crate) effects: Effects,
    /// Where follow-up jobs go (a fake one in the testing helpers).
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) deadline: Option<SystemTime>,
    /// The client of `http` jobs and `Context::http`.
    pub(crate) http: Arc<HttpClient>,
    /// Sources larger than this are copied in parts (`JOBS_MULTIPART_COPY_BYTES`).
    pub(crate) multipart_copy_above: u64,
}

/// What a job's `perform` gets: its own details, the application's state, the
/// shared AWS clients, and the built-in effects as calls.
#[derive(Debug)]
pub struct Context<'a, S> {
    parts: &'a RunParts,
    state: &'a S,
}

impl<'a, S> Context<'a, S> {
    pub(crate) fn new(parts: &'a RunParts, state: &'a S) -> Self {
        Context { parts, state }
    }

    /// The same run without the application's state, for job types that need none.
    pub(crate) fn stateless(&self) -> Context<'a, ()> {
        Context {
            parts: self.parts,
            state: &(),
        }
    }

    /// The application's state, set up once at start (`Runner::with_state`).
    pub fn state(&self) -> &'a S {
        self.state
    }

    pub fn job(&self) -> &JobInfo {
        &self.parts.job
    }

    pub fn job_id(&self) -> &str {
        &self.parts.job.id
    }

    /// 1 on the first try.
    pub fn attempt(&self) -> u32 {
        self.parts.job.attempt
    }

    /// Time left before the Lambda invocation's deadline; `None` in the worker,
    /// which has none.
    pub fn time_left(&self) -> Option<Duration> {
        self.parts.deadline.map(|deadline| {
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
        })
    }

    /// The clients the handler uses, built once at start.
    pub fn aws(&self) -> &AwsClients {
        &self.parts.aws
    }

    /// The client follow-up jobs are sent with: its default queue is the
    /// handler's own (`JOBS_QUEUE_URL`, which the stack sets on the function).
    pub fn jobs(&self) -> &Jobs {
        &self.parts.jobs
    }

    /// Sends a follow-up job with its type's defaults, as an application does
    /// (`Jobs::enqueue`). The testing helpers record it instead.
    pub async fn enqueue<J: JobType>(&self, job: &J) -> Result<Sent, JobError> {
        Ok(self.parts.jobs.enqueue(job).await?)
    }

    /// As [`Context::enqueue`], with some of the type's defaults overridden.
    pub async fn enqueue_with<J: JobType>(
        &self,
        job: &J,
        options: EnqueueOptions,
    ) -> Result<Sent, JobError> {
        Ok(self.parts.jobs.enqueue_with(job, options).await?)
    }

    /// Sends a mail as a `mail` job does: the same checks, the same SES v2
    /// `SendEmail` request. Returns SES's message id.
    pub async fn send_mail(&self, mail: MailJob) -> Result<String, JobError> {
        JobType::validate(&mail)?;
        self.send_checked_mail(mail).await
    }

    /// Sends a mail that has passed the mail checks already.
    async fn send_checked_mail(&self, mail: MailJob) -> Result<String, JobError> {
        match &self.parts.effects {
            Effects::Aws => effects::send_mail(&self.parts.aws.ses, &mail).await,
            Effects::Recorded(recorder) => {
                let count = recorder.push(Effect::Mail(mail));
                Ok(format!("recorded-mail-{count}"))
            }
        }
    }

    /// Writes bytes to S3 as an `upload` job does: the same checks of the
    /// bucket, key, type and metadata, the same `PutObject` request, with the
    /// bytes' SHA-256 checked by S3.
    pub async fn put_object(&self, upload: Upload) -> Result<(), JobError> {
        upload.check()?;
        let checksum = producer::contract::envelope::sha256_base64(&upload.bytes);
        self.put_checked_object(upload, checksum).await
    }

    /// Writes an upload that passed the checks, with its SHA-256 in base64.
    async fn put_checked_object(
        &self,
        upload: Upload,
        sha256_base64: String,
    ) -> Result<(), JobError> {
        match &self.parts.effects {
            Effects::Aws => effects::put_object(&self.parts.aws.s3, upload, sha256_base64).await,
            Effects::Recorded(recorder) => {
                recorder.push(Effect::Upload(upload));
                Ok(())
            }
        }
    }

    /// Makes an HTTP call as an `http` job does: the same checks of the
    /// request, the same guard on every address, `Idempotency-Key: <this
    /// job's id>`, the Standard Webhooks signature when `sign_with` names a
    /// secret, and the same sorting of the answer: a status that is not a
    /// success is an error saying whether a retry can help (and when, from
    /// `Retry-After`), so `cx.http(request).await?` fails the job as an
    /// `http` job would fail. The testing helpers record the call and answer
    /// it themselves.
    pub async fn http(&self, request: HttpJob) -> Result<HttpResponse, JobError> {
        JobType::validate(&request)?;
        self.checked_http(request).await
    }

    async fn checked_http(&self, request: HttpJob) -> Result<HttpResponse, JobError> {
        match &self.parts.effects {
            Effects::Aws => {
                self.parts
                    .http
                    .call(
                        &request,
                        self.job_id(),
                        self.time_left(),
                        &self.parts.aws.s3,
                    )
                    .await
            }
            Effects::Recorded(recorder) => {
                let answer = recorder
                    .answers
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .pop_front()
                    .unwrap_or_else(|| HttpResponse::new(200, Vec::new()));
                let result = if request.succeeded(answer.status) {
                    Ok(answer)
                } else {
                    Err(crate::http::status_error(&request, &answer))
                };
                recorder.push(Effect::Http(request));
                result
            }
        }
    }
}

// The built-in kinds were checked with their envelope, before their time came
// (`Envelope::validate_before_write`); their effects are not checked a second
// time, but for an upload's body, which is checked as it is decoded for S3.
impl<S: Send + Sync> Perform<S> for MailJob {
    async fn perform(self, cx: &Context<'_, S>) -> Result<Done, JobError> {
        cx.send_checked_mail(self).await?;
        Ok(Done::done())
    }
}

impl<S: Send + Sync> Perform<S> for HttpJob {
    async fn perform(self, cx: &Context<'_, S>) -> Result<Done, JobError> {
        let response = cx.checked_http(self).await?;
        if let Some(saved) = &response.saved {
            tracing::info!(job_id = cx.job_id(), status = response.status, bucket = %saved.bucket,
                key = %saved.key, bytes = saved.bytes, sha256 = %saved.sha256, "http answer saved");
        }
        Ok(Done::done())
    }
}

impl<S: Send + Sync> Perform<S> for UploadJob {
    async fn perform(self, cx: &Context<'_, S>) -> Result<Done, JobError> {
        if let Some(source) = &self.source {
            match &cx.parts.effects {
                Effects::Aws => {
                    effects::copy_object(
                        &cx.parts.aws.s3,
                        &self,
                        source,
                        cx.parts.multipart_copy_above,
                    )
                    .await?
                }
                Effects::Recorded(recorder) => {
                    recorder.push(Effect::Copy(self));
                }
            }
            return Ok(Done::done());
        }
        // Decoded once, and checked against its SHA-256: the bytes written are
        // the bytes checked.
        let body = producer::contract::validate::upload_body(&self)?;
        let upload = Upload {
            bucket: self.bucket,
            key: self.key,
            content_type: self.content_type,
            metadata: self.metadata,
            bytes: body.bytes,
        };
        cx.put_checked_object(upload, body.sha256_base64).await?;
        Ok(Done::done())
    }
}

/// Runs a job's `perform`; a panic inside it becomes this job's transient
/// failure, with the panic's message, instead of unwinding into the batch.
pub(crate) async fn catching_panics(
    perform: impl Future<Output = Result<Done, JobError>>,
) -> Result<Done, JobError> {
    match AssertUnwindSafe(perform).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(JobError::Panicked(panic_message(panic.as_ref()))),
    }
}

/// What a panic said, when it said it with a string (as `panic!` and `expect` do).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}
