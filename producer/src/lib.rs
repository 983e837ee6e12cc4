//! Background jobs on SQS, the producer's side, in three places:
//!
//! - [`contract`]: what a job is: the envelope, the rules, the [`JobType`]
//!   trait for an application's own kinds, the ledger's record format.
//! - [`send`]: how a job is sent: [`Jobs`] (typed, with defaults; a fake for
//!   tests) and [`Queue`] (envelopes, one or many).
//! - [`ops`]: how the queues are operated: counts, dead letters, redrive, cancel.
//!
//! How a job runs is the `handler` crate's. The `jobs` command line ([`cli`])
//! sits on top of these.
//!
//! ```no_run
//! use producer::{Envelope, Job, MailJob, Queue, SendOptions};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = producer::aws::load_config().await;
//! let queue = Queue::new(aws_sdk_sqs::Client::new(&config), "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs");
//! let reminder = Envelope::new(Job::Mail(MailJob {
//!     from: "shop@example.com".into(),
//!     to: vec!["ann@example.com".into()],
//!     subject: "Your product is about to expire!".into(),
//!     text: Some("Renew it today.".into()),
//!     ..MailJob::default()
//! }));
//! let sent = queue.enqueue(&reminder, SendOptions::delayed(60)).await?;
//! assert_eq!(sent.job_id, reminder.id);
//! println!("queued {} as {}", sent.job_id, sent.message_id);
//! # Ok(())
//! # }
//! ```

pub mod aws;
pub mod contract;
pub mod send;

pub use contract::envelope::{
    CustomJob, DecodeError, ENVELOPE_VERSION, Envelope, HttpJob, Job, MailJob, MailTemplate,
    UploadJob, UploadSource,
};
pub use contract::job_type::{JobType, job_of, schema_of};
pub use contract::options::EnqueueOptions;
pub use contract::validate::{FieldError, ValidationErrors};
pub use send::client::{Enqueued, Jobs};
pub use send::queue::{BatchReport, EnqueueError, FailedJob, Queue, SendOptions, Sent, SentJob};
