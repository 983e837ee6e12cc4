//! Runs queued jobs: the registry of job types and their `perform`, the batch
//! logic, and the two runtimes.
//!
//! - [`Perform`] and [`Context`]: the work of a job type (`perform`).
//! - [`Runner`]: registers job types (the built-in `mail`, `upload` and `http` too) and
//!   hands them to the Lambda runtime ([`Runner::lambda`]) or the worker loop
//!   ([`Runner::worker`]).
//! - [`Handler`]: the batch logic both share; [`lambda`] adapts it to SQS events
//!   and [`worker`] to a long-polling loop.
//! - [`metrics`]: counts and durations of jobs per queue, kind and outcome,
//!   for CloudWatch.
//! - [`http`]: HTTP calls as jobs (the built-in `http` kind, `Context::http`),
//!   with the address guard and Standard Webhooks signatures.
//! - [`testing`]: run a job's `perform` inline, its mail, uploads and
//!   follow-up jobs recorded.

pub mod backoff;
pub mod batch;
pub mod effects;
pub mod error;
pub mod http;
pub mod lambda;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod perform;
pub mod runner;
pub mod testing;
pub mod worker;

pub use backoff::Backoff;
pub use batch::{Delivery, Handler, Outcome, Processed, Settings, SettingsError, app_settings};
pub use error::{JobError, ResultExt};
pub use http::{HttpResponse, Saved};
pub use perform::{AwsClients, Context, Done, Effect, JobInfo, Perform, Retry, Upload};
pub use runner::{RunError, Runner};
