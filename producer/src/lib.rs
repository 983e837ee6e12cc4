//! Background jobs on SQS: the message contract, validation and enqueueing.
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
//! let message_id = queue.enqueue(&reminder, SendOptions::delayed(60)).await?;
//! println!("queued {} as {message_id}", reminder.id);
//! # Ok(())
//! # }
//! ```

pub mod aws;
pub mod cli;
pub mod client;
pub mod envelope;
pub mod job_type;
pub mod ledger;
pub mod ops;
pub mod queue;
pub mod validate;

pub use client::{EnqueueOptions, Enqueued, Jobs};
pub use envelope::{
    CustomJob, DecodeError, ENVELOPE_VERSION, Envelope, Job, MailJob, MailTemplate, UploadJob,
};
pub use job_type::{JobType, job_of, schema_of};
pub use queue::{BatchReport, EnqueueError, FailedJob, Queue, SendOptions, SentJob};
pub use validate::{FieldError, ValidationErrors};
