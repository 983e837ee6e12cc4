//! How a job is sent: [`client::Jobs`] for typed jobs with their defaults (and
//! its fake for tests), [`queue::Queue`] for envelopes built by hand, one or
//! many (`SendMessageBatch`, several calls in flight), everything checked
//! before anything is sent.

pub mod client;
#[cfg(feature = "large")]
pub mod payloads;
pub mod queue;
pub mod routes;
#[cfg(feature = "schedules")]
pub mod schedules;
