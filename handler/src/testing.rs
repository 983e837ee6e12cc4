//! Unit-testing job types with no AWS, as Sidekiq's `Testing.inline!` does:
//! [`perform`] runs a job's real `perform` at once, against a context whose mail,
//! uploads and follow-up jobs are recorded instead of sent. (The producer's
//! side is `producer::Jobs::fake`, which records what was enqueued.)
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
//! assert_eq!(run.result, Ok(Done::done()));
//! assert_eq!(run.effects, [Effect::Mail(mail)]);
//! # }
//! ```
//!
//! [`inline`] sets what a run sees: its job id (`.id("order-42")`), its attempt
//! (`.attempt(2)`), and the AWS clients `cx.aws()` gives (`.aws(clients)`), such as
//! clients of `aws-smithy-mocks` that answer a job's own calls:
//! `AwsClients { ses: mock_client!(aws_sdk_sesv2, [&rule]), ..offline_clients() }`
//! (this module's test `mocked_clients_answer_the_jobs_own_calls` does so).

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use producer::{Enqueued, HttpJob, JobType, Jobs, MailJob, job_of};

use crate::error::JobError;
use crate::http::{HttpClient, HttpResponse, HttpSettings};
use crate::perform::{
    AwsClients, Context, Done, Effect, Effects, JobInfo, Perform, Recorder, RunParts, Upload,
    catching_panics,
};
use crate::runner::decode;

/// What an inline run did.
#[derive(Debug)]
pub struct Performed {
    /// What `perform` returned (a panic is `JobError::Panicked`, as in the handler).
    pub result: Result<Done, JobError>,
    /// The mail and uploads it asked for, in order; none were sent.
    pub effects: Vec<Effect>,
    /// The follow-up jobs it enqueued (`cx.enqueue`), in order; none were sent.
    pub enqueued: Vec<Enqueued>,
}

impl Performed {
    pub fn mails(&self) -> Vec<&MailJob> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Mail(mail) => Some(mail),
                Effect::Upload(_) | Effect::Copy(_) | Effect::Http(_) => None,
            })
            .collect()
    }

    pub fn uploads(&self) -> Vec<&Upload> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Upload(upload) => Some(upload),
                Effect::Mail(_) | Effect::Copy(_) | Effect::Http(_) => None,
            })
            .collect()
    }

    /// The upload jobs it would copy from S3 (a `source`); none were copied.
    pub fn copies(&self) -> Vec<&producer::UploadJob> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Copy(upload) => Some(upload),
                Effect::Mail(_) | Effect::Upload(_) | Effect::Http(_) => None,
            })
            .collect()
    }

    /// The HTTP calls it made (`cx.http`), as asked for; none were sent.
    pub fn http_calls(&self) -> Vec<&HttpJob> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Http(call) => Some(call),
                Effect::Mail(_) | Effect::Upload(_) | Effect::Copy(_) => None,
            })
            .collect()
    }

    /// The payloads of the follow-up jobs of `T`'s kind.
    pub fn enqueued_of<T: JobType>(&self) -> Vec<T> {
        self.enqueued.iter().filter_map(Enqueued::job).collect()
    }
}

/// Runs `job` as its first delivery would: through its JSON payload and the
/// type's checks, then `perform` with `state`.
pub async fn perform<S, J>(job: J, state: &S) -> Performed
where
    S: Send + Sync,
    J: Perform<S>,
{
    inline(job).perform(state).await
}

/// As [`perform`], as delivery `attempt` (1 for the first).
pub async fn perform_as<S, J>(job: J, state: &S, attempt: u32) -> Performed
where
    S: Send + Sync,
    J: Perform<S>,
{
    inline(job).attempt(attempt).perform(state).await
}

/// An inline run of `job` to set up: its id, attempt and clients.
pub fn inline<J>(job: J) -> Inline<J> {
    Inline {
        job,
        id: "inline-job".into(),
        attempt: 1,
        created_at: None,
        aws: None,
        answers: Vec::new(),
    }
}

/// An answer for a recorded HTTP call ([`Inline::answer`]).
pub fn answer(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
    HttpResponse::new(status, body)
}

/// An inline run, set up by [`inline`].
#[derive(Debug)]
pub struct Inline<J> {
    job: J,
    id: String,
    attempt: u32,
    created_at: Option<std::time::SystemTime>,
    aws: Option<AwsClients>,
    answers: Vec<HttpResponse>,
}

impl<J> Inline<J> {
    /// The job's id, as `cx.job_id()` gives it (`inline-job` unless set).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The delivery this run is (1 for the first).
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The envelope's `created_at`, as `cx.job().created_at` gives it (now
    /// unless set): for a periodic job, the time its firing was for.
    pub fn created_at(mut self, created_at: std::time::SystemTime) -> Self {
        self.created_at = Some(created_at);
        self
    }

    /// The clients `cx.aws()` gives (by default [`offline_clients`], which
    /// reach nothing).
    pub fn aws(mut self, aws: AwsClients) -> Self {
        self.aws = Some(aws);
        self
    }

    /// The answer the run's next HTTP call (`cx.http`) gets, in the order
    /// given; calls past the last get a 200 with no body. An answer that is
    /// not a success fails the call as a real one would
    /// (`answer(429, "")` with a `Retry-After` header is a transient failure).
    pub fn answer(mut self, answer: HttpResponse) -> Self {
        self.answers.push(answer);
        self
    }

    /// Runs the job's real `perform` with `state`.
    pub async fn perform<S>(self, state: &S) -> Performed
    where
        S: Send + Sync,
        J: Perform<S>,
    {
        let recorded = Recorder::default();
        recorded
            .answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(self.answers);
        let jobs = Jobs::fake();
        let aws = self.aws.unwrap_or_else(offline_clients);
        let parts = RunParts {
            job: JobInfo {
                id: self.id,
                kind: J::KIND.into(),
                attempt: self.attempt,
                created_at: Some(self.created_at.unwrap_or_else(std::time::SystemTime::now)),
                not_before: None,
                message_id: "inline-message".into(),
            },
            // Recorded runs never call it; it is here because the real path needs one.
            http: Arc::new(HttpClient::new(HttpSettings::default(), &aws.config)),
            multipart_copy_above: crate::batch::Settings::DEFAULT_MULTIPART_COPY_ABOVE,
            aws: Arc::new(aws),
            effects: Effects::Recorded(recorded.clone()),
            jobs: Arc::new(jobs.clone()),
            deadline: None,
        };
        let job = self.job;
        let run = async {
            let job = decode::<J>(job_of(&job)?)?;
            job.perform(&Context::new(&parts, state)).await
        };
        let result = catching_panics(run).await;
        let effects = recorded
            .effects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Performed {
            result,
            effects,
            enqueued: jobs.enqueued(),
        }
    }
}

/// Clients that reach nothing: a job that calls AWS through them directly gets
/// a connection error (a transient failure) at once, never a real account.
/// Replace one with a mock: `AwsClients { ses, ..offline_clients() }`.
pub fn offline_clients() -> AwsClients {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(producer::aws::https_client())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    AwsClients::from_config(&config)
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
            cx.put_object(Upload::new("my-bucket", "k.txt", b"ok".to_vec()))
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
        assert_eq!(run.result, Ok(Done::done()));
        assert_eq!(run.uploads()[0].bytes, b"ok");
    }

    /// Sends the next step of an order as a job of its own.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Ship {
        order: u64,
    }

    impl producer::JobType for Ship {
        const KIND: &'static str = "ship";
    }

    impl Perform for Ship {
        async fn perform(self, cx: &Context<'_, ()>) -> Result<Done, JobError> {
            let sent = cx
                .enqueue_with(
                    &Invoice { order: self.order },
                    producer::EnqueueOptions::default().id(format!("{}-invoice", cx.job_id())),
                )
                .await?;
            Ok(Done::skipped(sent.job_id))
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Invoice {
        order: u64,
    }

    impl producer::JobType for Invoice {
        const KIND: &'static str = "invoice";
    }

    #[tokio::test]
    async fn follow_up_jobs_are_recorded_under_the_id_the_test_set() {
        let run = inline(Ship { order: 7 }).id("order-7").perform(&()).await;
        assert_eq!(run.result, Ok(Done::skipped("order-7-invoice")));
        assert_eq!(run.enqueued_of::<Invoice>(), [Invoice { order: 7 }]);
        assert_eq!(run.enqueued[0].envelope.id, "order-7-invoice");
    }

    /// Calls SES itself, through `cx.aws()`.
    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Quota;

    impl producer::JobType for Quota {
        const KIND: &'static str = "quota";
    }

    impl Perform for Quota {
        async fn perform(self, cx: &Context<'_, ()>) -> Result<Done, JobError> {
            let account = cx.aws().ses.get_account().send().await?;
            let max = account.send_quota().map_or(0.0, |q| q.max24_hour_send());
            Ok(Done::skipped(format!("quota {max}")))
        }
    }

    #[tokio::test]
    async fn mocked_clients_answer_the_jobs_own_calls() {
        use aws_sdk_sesv2::operation::get_account::GetAccountOutput;
        use aws_sdk_sesv2::types::SendQuota;
        let rule = aws_smithy_mocks::mock!(aws_sdk_sesv2::Client::get_account).then_output(|| {
            GetAccountOutput::builder()
                .send_quota(SendQuota::builder().max24_hour_send(200.0).build())
                .build()
        });
        let ses = aws_smithy_mocks::mock_client!(aws_sdk_sesv2, [&rule]);
        let run = inline(Quota)
            .aws(AwsClients {
                ses,
                ..offline_clients()
            })
            .perform(&())
            .await;
        assert_eq!(run.result, Ok(Done::skipped("quota 200")));
        assert_eq!(rule.num_calls(), 1);

        let offline = perform(Quota, &()).await;
        let error = offline.result.expect_err("nothing answers");
        assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    }
}
