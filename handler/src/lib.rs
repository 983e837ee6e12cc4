//! Runs queued jobs: mail through SES v2, uploads to S3.
//!
//! [`Handler`] holds the clients and processes batches; [`lambda`] adapts it to
//! Lambda's SQS events and [`worker`] to a long-polling loop.

pub mod backoff;
pub mod batch;
pub mod effects;
pub mod error;
pub mod lambda;
pub mod ledger;
pub mod logging;
pub mod worker;

pub use backoff::Backoff;
pub use batch::{Delivery, Handler, Outcome, Processed, Settings};
pub use error::JobError;
