//! Unit-testing job types with no AWS, as Sidekiq's `Testing.inline!` does:
//! [`perform`] runs a job's real `perform` at once, against a context whose mail
//! and uploads are recorded instead of sent. (The producer's side is
//! `producer::Jobs::fake`, which records what was enqueued.)
//!
//! ```
//! use handler::testing;
//! use handler::{Done, Effect};
//! use producer::MailJob;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mail = MailJob {
//!     from: "shop@example.com".into(),
//!     to: vec!["ann@example.com".into()],
//!     subject: "Hello".into(),
//!     text: Some("Hi Ann".into()),
//!     ..MailJob::default()
//! };
//! let run = testing::perform(mail.clone(), &()).await;
//! assert_eq!(run.result.ok(), Some(Done::done()));
//! assert_eq!(run.effects, [Effect::Mail(mail)]);
//! # }
//! ```

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use producer::{MailJob, UploadJob, job_of};

use crate::error::JobError;
use crate::perform::{
    AwsClients, Context, Done, Effect, Effects, JobInfo, Perform, RunParts, catching_panics,
};
use crate::runner::decode;

/// What an inline run did.
#[derive(Debug)]
pub struct Performed {
    /// What `perform` returned (a panic is `JobError::Panicked`, as in the handler).
    pub result: Result<Done, JobError>,
    /// The mail and uploads it asked for, in order; none were sent.
    pub effects: Vec<Effect>,
}

impl Performed {
    pub fn mails(&self) -> Vec<&MailJob> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Mail(mail) => Some(mail),
                Effect::Upload(_) => None,
            })
            .collect()
    }

    pub fn uploads(&self) -> Vec<&UploadJob> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Upload(upload) => Some(upload),
                Effect::Mail(_) => None,
            })
            .collect()
    }
}

/// Runs `job` as its first delivery would: through its JSON payload and the
/// type's checks, then `perform` with `state`.
pub async fn perform<S, J>(job: J, state: &S) -> Performed
where
    S: Send + Sync,
    J: Perform<S>,
{
    perform_as(job, state, 1).await
}

/// As [`perform`], as delivery `attempt` (1 for the first).
pub async fn perform_as<S, J>(job: J, state: &S, attempt: u32) -> Performed
where
    S: Send + Sync,
    J: Perform<S>,
{
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let parts = RunParts {
        job: JobInfo {
            id: "inline-job".into(),
            kind: J::KIND.into(),
            attempt,
            created_at: Some(std::time::SystemTime::now()),
            not_before: None,
            message_id: "inline-message".into(),
        },
        aws: Arc::new(offline_clients()),
        effects: Effects::Recorded(Arc::clone(&recorded)),
        deadline: None,
    };
    let run = async {
        let job = decode::<J>(job_of(&job)?)?;
        job.perform(&Context::new(&parts, state)).await
    };
    let result = catching_panics(run).await;
    let effects = recorded
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    Performed { result, effects }
}

/// Clients that reach nothing: a job that calls AWS through them directly gets
/// a connection error (a transient failure) at once, never a real account.
fn offline_clients() -> AwsClients {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(producer::aws::https_client())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    AwsClients {
        ses: aws_sdk_sesv2::Client::new(&config),
        s3: aws_sdk_s3::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use producer::aws::ErrorClass;

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Boom {
        at_attempt: u32,
    }

    impl producer::JobType for Boom {
        const KIND: &'static str = "boom";
    }

    impl Perform for Boom {
        async fn perform(self, cx: &Context<'_, ()>) -> Result<Done, JobError> {
            assert!(
                cx.attempt() != self.at_attempt,
                "boom at {}",
                self.at_attempt
            );
            cx.put_object(UploadJob::from_bytes("my-bucket", "k.txt", b"ok"))
                .await?;
            Ok(Done::done())
        }
    }

    #[tokio::test]
    async fn a_panic_is_the_jobs_transient_failure_as_in_the_handler() {
        let run = perform(Boom { at_attempt: 1 }, &()).await;
        let error = run.result.expect_err("panicked");
        assert_eq!(error.code(), "job_panicked");
        assert_eq!(error.class(), ErrorClass::Transient);
        assert_eq!(error.to_string(), "the job panicked: boom at 1");
        assert!(run.effects.is_empty());

        let run = perform_as(Boom { at_attempt: 1 }, &(), 2).await;
        assert_eq!(run.result.as_ref().ok(), Some(&Done::done()));
        assert_eq!(run.uploads().len(), 1);
    }
}
