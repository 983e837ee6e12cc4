//! What a job is: the envelope every message carries, the rules a job must
//! meet, the job-type trait an application implements for its own kinds, and
//! the idempotency ledger's record format. The producer sends this, the handler
//! reads it, and producers in other languages follow its JSON Schema
//! (`schema/envelope.schema.json`).

pub mod attributes;
pub mod envelope;
pub mod http;
pub mod job_type;
pub mod ledger;
pub mod options;
pub mod pointer;
pub mod validate;
