//! The registry of job types, and the two runtimes it is handed to.
//!
//! An application's `main` registers its job types once and picks a runtime:
//!
//! ```no_run
//! # use handler::{AwsClients, Context, Done, JobError, Perform, Runner};
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! # struct PurchaseReminder { product_id: u64 }
//! # impl producer::JobType for PurchaseReminder { const KIND: &'static str = "purchase_reminder"; }
//! struct Shop {
//!     dynamodb: aws_sdk_dynamodb::Client,
//! }
//! # impl Perform<Shop> for PurchaseReminder {
//! #     async fn perform(self, _: &Context<'_, Shop>) -> Result<Done, JobError> { Ok(Done::done()) }
//! # }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), handler::RunError> {
//!     Runner::new()
//!         // Built once, from the handler's own configuration (its call timeout too).
//!         .with_state_from(|aws: &AwsClients| {
//!             Ok::<_, std::convert::Infallible>(Shop { dynamodb: aws_sdk_dynamodb::Client::new(&aws.config) })
//!         })
//!         .job::<PurchaseReminder>()
//!         .lambda() // or `.worker()` for the long-polling loop
//!         .await
//! }
//! ```
//!
//! The built-in `mail` and `upload` kinds are registered from the start and go
//! through the same path as the application's own. A kind registered twice is
//! refused when the runner starts; [`Runner::replace`] swaps a built-in kind
//! for a type of the application's own on purpose.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use producer::contract::envelope::BUILT_IN_KINDS;
use producer::{DecodeError, HttpJob, Job, JobType, MailJob, UploadJob, schema_of};

use crate::batch::{Handler, Settings, SettingsError};
use crate::error::{JobError, with_sources};
use crate::perform::{AwsClients, Context, Done, Perform, Retry, RunParts};
use crate::worker::WorkerError;

/// One registered job type, with its payload type erased.
trait Runnable<S>: Send + Sync {
    fn retry(&self) -> Retry;
    fn schema(&self) -> serde_json::Value;
    fn run<'a>(&'a self, job: Job, cx: Context<'a, S>) -> BoxFuture<'a, Result<Done, JobError>>;
}

struct Entry<J>(PhantomData<fn() -> J>);

impl<S, J> Runnable<S> for Entry<J>
where
    S: Send + Sync + 'static,
    J: Perform<S>,
{
    fn retry(&self) -> Retry {
        J::RETRY
    }

    fn schema(&self) -> serde_json::Value {
        schema_of::<J>()
    }

    fn run<'a>(&'a self, job: Job, cx: Context<'a, S>) -> BoxFuture<'a, Result<Done, JobError>> {
        async move {
            let payload = decode::<J>(job)?;
            payload.perform(&cx).await
        }
        .boxed()
    }
}

/// The job as `J`, decoded once: a built-in kind was read strictly (and
/// checked) with its envelope; any other kind is read here from its payload,
/// then checked by `J`'s own rules.
pub(crate) fn decode<J: JobType>(job: Job) -> Result<J, JobError> {
    let kind = job.kind().to_owned();
    let typed: Box<dyn std::any::Any> = match job {
        Job::Mail(mail) => Box::new(mail),
        Job::Upload(upload) => Box::new(upload),
        Job::Http(http) => Box::new(http),
        Job::Custom(custom) => {
            let payload = serde_json::from_value::<J>(custom.payload)
                .map_err(|source| DecodeError::InvalidJob { kind, source })?;
            payload.validate()?;
            return Ok(payload);
        }
    };
    typed.downcast::<J>().map(|job| *job).map_err(|_| {
        JobError::Conflict(format!(
            "`{kind}` is registered with a type that is not the built-in `{kind}` job"
        ))
    })
}

/// A job type registered before the application's state was given: it needs none.
struct Stateless(Arc<dyn Runnable<()>>);

impl<S: Send + Sync + 'static> Runnable<S> for Stateless {
    fn retry(&self) -> Retry {
        self.0.retry()
    }

    fn schema(&self) -> serde_json::Value {
        self.0.schema()
    }

    fn run<'a>(&'a self, job: Job, cx: Context<'a, S>) -> BoxFuture<'a, Result<Done, JobError>> {
        self.0.run(job, cx.stateless())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type StateBuilder<S> = Box<dyn FnOnce(&AwsClients) -> Result<S, BoxError> + Send>;

/// The application's state: given as it is, or built once the handler's
/// clients exist.
enum State<S> {
    Ready(Arc<S>),
    Build(StateBuilder<S>),
}

/// Why a runner did not start or stopped.
#[derive(thiserror::Error)]
pub enum RunError {
    /// Two job types of one kind, or another registration mistake.
    #[error("{0}")]
    Registry(String),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot set up the application's state: {0}")]
    State(String),
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error("the Lambda runtime stopped: {0}")]
    Lambda(String),
}

/// What `main` prints when it returns the error: the message, not a dump.
impl fmt::Debug for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The job types a handler runs, and the application's state they share.
pub struct Runner<S = ()> {
    state: State<S>,
    jobs: BTreeMap<&'static str, Arc<dyn Runnable<S>>>,
    /// Registration mistakes, reported when the runner starts.
    refused: Vec<String>,
}

impl<S> fmt::Debug for Runner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("kinds", &self.jobs.keys().collect::<Vec<_>>())
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

impl Default for Runner<()> {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner<()> {
    /// The built-in `mail` and `upload` kinds, and no state. The `http` kind
    /// is opt-in ([`Runner::http`], or `JOBS_HTTP_JOBS=on`): it lets anyone
    /// who can send to the queue make the workers call out.
    pub fn new() -> Self {
        Runner {
            state: State::Ready(Arc::new(())),
            jobs: BTreeMap::new(),
            refused: Vec::new(),
        }
        .job::<MailJob>()
        .job::<UploadJob>()
    }

    /// Gives the jobs the application's state (clients, table names, config),
    /// as `Context::state`. Job types registered so far keep running without it.
    pub fn with_state<S: Send + Sync + 'static>(self, state: S) -> Runner<S> {
        self.into_state(State::Ready(Arc::new(state)))
    }

    /// As [`Runner::with_state`], with the state built when the runner starts,
    /// from the handler's own clients and configuration: clients built from
    /// `aws.config` get the handler's call timeout (`JOBS_CALL_TIMEOUT_SECONDS`)
    /// and HTTP client. An error stops the runner before any job runs.
    pub fn with_state_from<S, E, F>(self, build: F) -> Runner<S>
    where
        S: Send + Sync + 'static,
        E: Into<BoxError>,
        F: FnOnce(&AwsClients) -> Result<S, E> + Send + 'static,
    {
        self.into_state(State::Build(Box::new(move |aws| {
            build(aws).map_err(Into::into)
        })))
    }

    fn into_state<S: Send + Sync + 'static>(self, state: State<S>) -> Runner<S> {
        Runner {
            state,
            jobs: self
                .jobs
                .into_iter()
                .map(|(kind, job)| (kind, Arc::new(Stateless(job)) as Arc<dyn Runnable<S>>))
                .collect(),
            refused: self.refused,
        }
    }
}

impl<S: Send + Sync + 'static> Runner<S> {
    /// Runs the built-in `http` kind too (once, however often asked).
    /// Without it an `http` job is dead-lettered at once as `http_disabled`.
    /// A handler built without the `http` feature refuses to start with it.
    pub fn http(mut self) -> Self {
        if cfg!(not(feature = "http")) {
            self.refused.push(
                "`Runner::http()` needs the `handler` crate's `http` feature, which this build leaves out \
                 (with `JOBS_HTTP_JOBS=on`, the same)"
                    .into(),
            );
            return self;
        }
        if self.jobs.contains_key(HttpJob::KIND) {
            self
        } else {
            self.job::<HttpJob>()
        }
    }

    /// Registers `J`: messages of kind `J::KIND` run `J::perform`. A kind that
    /// is registered already (a built-in one too) is refused when the runner
    /// starts: two types cannot share a kind. See [`Runner::replace`].
    pub fn job<J: Perform<S>>(mut self) -> Self {
        if self.jobs.contains_key(J::KIND) {
            self.refused.push(format!(
                "job kind `{}` is registered twice (the second time by `{}`): a kind names one job type; \
                 to run a type of your own for a built-in kind, register it with `replace`",
                J::KIND,
                std::any::type_name::<J>()
            ));
            return self;
        }
        self.jobs.insert(J::KIND, Arc::new(Entry::<J>(PhantomData)));
        self
    }

    /// Runs `J` for a built-in kind (`mail`, `upload`) in place of the built-in
    /// job. Any other kind is refused: register it with [`Runner::job`].
    pub fn replace<J: Perform<S>>(mut self) -> Self {
        if BUILT_IN_KINDS.contains(&J::KIND) {
            self.jobs.insert(J::KIND, Arc::new(Entry::<J>(PhantomData)));
        } else {
            self.refused.push(format!(
                "`replace` is for the built-in kinds ({}); `{}` is not one: register it with `job`",
                BUILT_IN_KINDS.map(|k| format!("`{k}`")).join(", "),
                J::KIND
            ));
        }
        self
    }

    /// The registered kinds, in order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.jobs.keys().copied().collect()
    }

    /// The payload schema of a registered kind (see [`producer::schema_of`]).
    pub fn schema(&self, kind: &str) -> Option<serde_json::Value> {
        self.jobs.get(kind).map(|job| job.schema())
    }

    /// The registration mistakes, as the runner reports them at start.
    pub fn check(&self) -> Result<(), RunError> {
        match self.refused.as_slice() {
            [] => Ok(()),
            refused => Err(RunError::Registry(refused.join("; "))),
        }
    }

    /// The kinds whose `Retry::Limit(n)` a queue that delivers a message at
    /// most `max_receive_count` times cannot reach (it needs `n + 1`
    /// deliveries), with their limits.
    pub fn unreachable_retry_limits(&self, max_receive_count: u32) -> Vec<(&'static str, u32)> {
        self.jobs
            .iter()
            .filter_map(|(kind, job)| match job.retry() {
                Retry::Limit(retries) if retries >= max_receive_count => Some((*kind, retries)),
                _ => None,
            })
            .collect()
    }

    /// The registry with its state built, for a handler whose clients are `aws`.
    pub(crate) fn resolve(self, aws: &AwsClients) -> Result<Registry<S>, RunError> {
        self.check()?;
        let state = match self.state {
            State::Ready(state) => state,
            State::Build(build) => {
                Arc::new(build(aws).map_err(|e| RunError::State(with_sources(e.as_ref())))?)
            }
        };
        Ok(Registry {
            state,
            jobs: self.jobs,
        })
    }

    /// A handler that runs these job types with clients built from `config`.
    /// It warns when a job type's retry limit is more than the queue's
    /// `maxReceiveCount` (`Settings::max_receive_count`) lets it have.
    pub fn handler(
        self,
        config: &aws_config::SdkConfig,
        settings: Settings,
    ) -> Result<Handler, RunError> {
        if let Some(max) = settings.max_receive_count {
            for (kind, retries) in self.unreachable_retry_limits(max) {
                tracing::warn!(
                    kind,
                    retries,
                    max_receive_count = max,
                    "job kind `{kind}` allows {retries} retries ({} deliveries), but the queue dead-letters a job \
                     after {max} deliveries: raise the queue's maxReceiveCount (the stack's MaxReceiveCount) above {retries}",
                    retries + 1
                );
            }
        }
        let runner = if settings.http_jobs {
            self.http()
        } else {
            self
        };
        Handler::new(config, settings).with_runner(runner)
    }

    /// Runs as a Lambda function on SQS events (`lambda_runtime`), with the
    /// settings from the environment (the optional `JOBS_*`: `JOBS_QUEUE_URLS` and the rest).
    /// Credentials, region and endpoints come from the variables Lambda sets
    /// ([`producer::aws::lambda_config`]); [`Runner::lambda_with_config`] takes
    /// a configuration loaded another way.
    pub async fn lambda(self) -> Result<(), RunError> {
        let config = producer::aws::lambda_config().await;
        self.lambda_with_config(&config).await
    }

    /// As [`Runner::lambda`], with a configuration the application already loaded.
    pub async fn lambda_with_config(self, config: &aws_config::SdkConfig) -> Result<(), RunError> {
        crate::logging::init();
        let handler = self.handler(config, Settings::from_env()?)?;
        crate::lambda::run(handler)
            .await
            .map_err(|e| RunError::Lambda(with_sources(e.as_ref())))
    }

    /// Runs the long-polling worker on its queues (`JOBS_QUEUES`) until SIGTERM or
    /// Ctrl-C, which finish the jobs in hand.
    pub async fn worker(self) -> Result<(), RunError> {
        let config = producer::aws::load_config().await;
        self.worker_with_config(&config, crate::worker::signal())
            .await
    }

    /// Runs the worker inside an application's own process, until `shutdown`
    /// completes: then it stops receiving, finishes the jobs in hand (run,
    /// settled, deleted) and returns. Settings come from the environment as
    /// for [`Runner::worker`].
    pub async fn worker_with_config(
        self,
        config: &aws_config::SdkConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        crate::logging::init();
        let settings = Settings::from_env()?;
        let worker = crate::worker::WorkerSettings::from_env(&settings)?;
        self.worker_with_settings(config, settings, worker, shutdown)
            .await
    }

    /// As [`Runner::worker_with_config`], with the settings given rather than
    /// read from the environment.
    pub async fn worker_with_settings(
        self,
        config: &aws_config::SdkConfig,
        settings: Settings,
        worker: crate::worker::WorkerSettings,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let handler = self.handler(config, settings)?;
        #[cfg(feature = "cloudwatch")]
        let metrics_to = handler
            .metrics()
            .map(|_| aws_sdk_cloudwatch::Client::new(config));
        #[cfg(not(feature = "cloudwatch"))]
        let metrics_to = None;
        let (stop, stopped) = crate::worker::shutdown_channel();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let sqs = aws_sdk_sqs::Client::new(config);
        let ran =
            crate::worker::run_with_metrics(&handler, &sqs, &worker, stopped, metrics_to).await;
        watcher.abort();
        ran.map(drop).map_err(RunError::from)
    }

    /// A worker binary's own commands: `schema KIND` (a kind's payload schema)
    /// and `kinds`, from the process's arguments. `None` when there are none:
    /// run the worker.
    pub fn command_line(&self) -> Option<ExitCode> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        self.command(&args, &mut std::io::stdout(), &mut std::io::stderr())
    }

    /// Answers `schema KIND` and `kinds`; `None` for no arguments (run the worker).
    pub fn command(
        &self,
        args: &[String],
        out: &mut impl std::io::Write,
        err: &mut impl std::io::Write,
    ) -> Option<ExitCode> {
        let kinds = self.kinds().join(", ");
        let code = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            [] => return None,
            ["kinds"] => writeln!(out, "{}", self.kinds().join("\n")).map(|()| 0),
            ["schema", kind] => match self.schema(kind) {
                Some(schema) => {
                    let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
                    writeln!(out, "{text}").map(|()| 0)
                }
                None => writeln!(err, "error: no job type `{kind}` is registered here ({kinds})")
                    .map(|()| 2),
            },
            _ => writeln!(
                err,
                "usage: run with no arguments to work the queue (JOBS_QUEUE_URL), or\n  schema KIND   print the payload schema of a kind ({kinds})\n  kinds         list the kinds this worker runs"
            )
            .map(|()| 2),
        };
        Some(ExitCode::from(code.unwrap_or(1)))
    }
}

/// The job types with the application's state, ready to run.
pub(crate) struct Registry<S> {
    state: Arc<S>,
    jobs: BTreeMap<&'static str, Arc<dyn Runnable<S>>>,
}

impl<S> fmt::Debug for Registry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.jobs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The registry as the handler sees it, whatever the state's type.
pub(crate) trait Dispatch: Send + Sync + fmt::Debug {
    fn retry(&self, kind: &str) -> Retry;
    /// Whether `kind` is registered.
    fn knows(&self, kind: &str) -> bool;
    /// Runs the job's `perform`; a kind that is not registered fails as `unknown_kind`.
    fn run<'a>(&'a self, job: Job, parts: &'a RunParts) -> BoxFuture<'a, Result<Done, JobError>>;
}

impl<S: Send + Sync + 'static> Dispatch for Registry<S> {
    fn retry(&self, kind: &str) -> Retry {
        self.jobs.get(kind).map_or(Retry::Queue, |job| job.retry())
    }

    fn knows(&self, kind: &str) -> bool {
        self.jobs.contains_key(kind)
    }

    fn run<'a>(&'a self, job: Job, parts: &'a RunParts) -> BoxFuture<'a, Result<Done, JobError>> {
        match self.jobs.get(job.kind()) {
            Some(entry) => entry.run(job, Context::new(parts, &self.state)),
            None if job.kind() == HttpJob::KIND => {
                let error = JobError::Http {
                    code: "http_disabled",
                    class: producer::aws::ErrorClass::Permanent,
                    status: None,
                    message: "`http` jobs are off here: `Runner::http()` or `JOBS_HTTP_JOBS=on` (`HttpJobs`) turns them on".into(),
                    retry_after: None,
                };
                async move { Err(error) }.boxed()
            }
            None => {
                let error = DecodeError::UnknownKind {
                    kind: job.kind().to_owned(),
                    known: self.jobs.keys().map(|k| (*k).to_owned()).collect(),
                };
                async move { Err(error.into()) }.boxed()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_ins_are_registered_and_export_their_schemas() {
        let runner = Runner::new();
        assert_eq!(runner.kinds(), ["mail", "upload"]);
        assert_eq!(
            Runner::new().http().http().kinds(),
            ["http", "mail", "upload"]
        );
        let schema = runner.schema("mail").expect("mail");
        assert_eq!(schema["x-job-kind"], "mail");
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = runner.command(&["schema".into(), "fax".into()], &mut out, &mut err);
        assert_eq!(code, Some(ExitCode::from(2)));
        let err = String::from_utf8(err).expect("utf-8");
        assert!(
            err.contains("no job type `fax`") && err.contains("mail, upload"),
            "{err}"
        );
        assert_eq!(runner.command(&[], &mut out, &mut Vec::new()), None);
    }

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Reminder {
        product_id: u64,
    }

    impl JobType for Reminder {
        const KIND: &'static str = "purchase_reminder";
    }

    impl Perform for Reminder {
        const RETRY: Retry = Retry::Limit(5);

        async fn perform(self, _: &Context<'_, ()>) -> Result<Done, JobError> {
            Ok(Done::done())
        }
    }

    /// Another type under the reminder's kind.
    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct OtherReminder {}

    impl JobType for OtherReminder {
        const KIND: &'static str = "purchase_reminder";
    }

    impl Perform for OtherReminder {
        async fn perform(self, _: &Context<'_, ()>) -> Result<Done, JobError> {
            Ok(Done::done())
        }
    }

    /// A mail job of the application's own, under the built-in kind.
    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct OwnMail {}

    impl JobType for OwnMail {
        const KIND: &'static str = "mail";
    }

    impl Perform for OwnMail {
        async fn perform(self, _: &Context<'_, ()>) -> Result<Done, JobError> {
            Ok(Done::done())
        }
    }

    #[test]
    fn a_kind_registered_twice_is_refused_at_start() {
        let twice = Runner::new().job::<Reminder>().job::<OtherReminder>();
        let error = twice.check().expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("job kind `purchase_reminder` is registered twice")
                && message.contains("OtherReminder"),
            "{message}"
        );
        let built_in = Runner::new().job::<OwnMail>();
        assert!(built_in.check().is_err(), "a built-in kind is a kind too");
        let stateful = Runner::new()
            .job::<Reminder>()
            .with_state(())
            .job::<Reminder>();
        assert!(stateful.check().is_err(), "across with_state too");
    }

    #[test]
    fn a_built_in_kind_is_replaced_on_purpose_only() {
        let replaced = Runner::new().replace::<OwnMail>().job::<Reminder>();
        assert!(replaced.check().is_ok(), "{replaced:?}");
        assert_eq!(replaced.kinds(), ["mail", "purchase_reminder", "upload"]);
        let not_built_in = Runner::new().replace::<Reminder>();
        let message = not_built_in.check().expect_err("refused").to_string();
        assert!(
            message.contains("`replace` is for the built-in kinds"),
            "{message}"
        );
    }

    #[test]
    fn a_retry_limit_the_queue_cannot_reach_is_named() {
        let runner = Runner::new().job::<Reminder>();
        assert_eq!(
            runner.unreachable_retry_limits(5),
            [("purchase_reminder", 5)]
        );
        assert!(
            runner.unreachable_retry_limits(6).is_empty(),
            "six deliveries: the first try and five retries"
        );
    }
}
