//! The registry of job types, and the two runtimes it is handed to.
//!
//! An application's `main` registers its job types once and picks a runtime:
//!
//! ```no_run
//! # use handler::{Context, Done, JobError, Perform, Runner};
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! # struct PurchaseReminder { product_id: u64 }
//! # impl producer::JobType for PurchaseReminder { const KIND: &'static str = "purchase_reminder"; }
//! # struct Shop;
//! # impl Perform<Shop> for PurchaseReminder {
//! #     async fn perform(self, _: &Context<'_, Shop>) -> Result<Done, JobError> { Ok(Done::done()) }
//! # }
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     let shop = Shop; // clients, table names, config: set up once
//!     Runner::new()
//!         .with_state(shop)
//!         .job::<PurchaseReminder>()
//!         .lambda() // or `.worker()` for the long-polling loop
//!         .await
//! }
//! ```
//!
//! The built-in `mail` and `upload` kinds are registered from the start and go
//! through the same path as the application's own.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use producer::{DecodeError, Job, JobType, MailJob, UploadJob, schema_of};

use crate::batch::{Handler, Settings};
use crate::error::JobError;
use crate::perform::{Context, Done, Perform, Retry, RunParts};

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

/// The job types a handler runs, and the application's state they share.
pub struct Runner<S = ()> {
    state: Arc<S>,
    jobs: BTreeMap<&'static str, Arc<dyn Runnable<S>>>,
}

impl<S> fmt::Debug for Runner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("kinds", &self.jobs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Runner<()> {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner<()> {
    /// The built-in `mail` and `upload` kinds, and no state.
    pub fn new() -> Self {
        Runner {
            state: Arc::new(()),
            jobs: BTreeMap::new(),
        }
        .job::<MailJob>()
        .job::<UploadJob>()
    }

    /// Gives the jobs the application's state (clients, table names, config),
    /// as `Context::state`. Job types registered so far keep running without it.
    pub fn with_state<S: Send + Sync + 'static>(self, state: S) -> Runner<S> {
        Runner {
            state: Arc::new(state),
            jobs: self
                .jobs
                .into_iter()
                .map(|(kind, job)| (kind, Arc::new(Stateless(job)) as Arc<dyn Runnable<S>>))
                .collect(),
        }
    }
}

impl<S: Send + Sync + 'static> Runner<S> {
    /// Registers `J`: messages of kind `J::KIND` run `J::perform`. Registering a
    /// kind again replaces it (a built-in one too).
    pub fn job<J: Perform<S>>(mut self) -> Self {
        self.jobs.insert(J::KIND, Arc::new(Entry::<J>(PhantomData)));
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

    pub fn state(&self) -> &S {
        &self.state
    }

    /// A handler that runs these job types with the given clients and settings.
    pub fn handler(self, config: &aws_config::SdkConfig, settings: Settings) -> Handler {
        Handler::new(config, settings).with_runner(self)
    }

    /// Runs as a Lambda function on SQS events (`lambda_runtime`), with the
    /// settings from the environment (`JOBS_DLQ_URL` and the optional `JOBS_*`).
    pub async fn lambda(self) -> Result<(), lambda_runtime::Error> {
        let config = producer::aws::load_config().await;
        self.lambda_with_config(&config).await
    }

    /// As [`Runner::lambda`], with a configuration the application already loaded.
    pub async fn lambda_with_config(
        self,
        config: &aws_config::SdkConfig,
    ) -> Result<(), lambda_runtime::Error> {
        crate::logging::init();
        let settings = Settings::from_env()?;
        crate::lambda::run(self.handler(config, settings)).await
    }

    /// Runs the long-polling worker on `JOBS_QUEUE_URL` until SIGTERM or Ctrl-C,
    /// which finish the batch in hand. As a command line it also answers
    /// `schema KIND` (the kind's payload schema) and `kinds`.
    pub async fn worker(self) -> ExitCode {
        let config = producer::aws::load_config().await;
        self.worker_with_config(&config).await
    }

    /// As [`Runner::worker`], with a configuration the application already loaded.
    pub async fn worker_with_config(self, config: &aws_config::SdkConfig) -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(code) = self.command(&args, &mut std::io::stdout(), &mut std::io::stderr()) {
            return code;
        }
        crate::logging::init();
        crate::worker::main(self, config).await
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

/// The registry as the handler sees it, whatever the state's type.
pub(crate) trait Dispatch: Send + Sync + fmt::Debug {
    fn retry(&self, kind: &str) -> Retry;
    /// Runs the job's `perform`; a kind that is not registered fails as `unknown_kind`.
    fn run<'a>(&'a self, job: Job, parts: &'a RunParts) -> BoxFuture<'a, Result<Done, JobError>>;
}

impl<S: Send + Sync + 'static> Dispatch for Runner<S> {
    fn retry(&self, kind: &str) -> Retry {
        self.jobs.get(kind).map_or(Retry::Queue, |job| job.retry())
    }

    fn run<'a>(&'a self, job: Job, parts: &'a RunParts) -> BoxFuture<'a, Result<Done, JobError>> {
        match self.jobs.get(job.kind()) {
            Some(entry) => entry.run(job, Context::new(parts, &self.state)),
            None => {
                let error = DecodeError::UnknownKind {
                    kind: job.kind().to_owned(),
                    known: self.kinds().into_iter().map(str::to_owned).collect(),
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
}
