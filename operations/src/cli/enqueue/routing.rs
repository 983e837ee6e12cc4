//! Which queue each job of `jobs enqueue` goes to.

use producer::send::queue::QUEUE_URL_ENV;
use producer::send::routes::{QUEUE_URLS_ENV, QueueRoutes};

use super::EnqueueArgs;

pub(super) fn no_queue() -> String {
    format!(
        "no queue: pass `--queue NAME|URL`, or set `{QUEUE_URLS_ENV}` (with a `default`) or `{QUEUE_URL_ENV}`"
    )
}

/// Where `jobs enqueue` sends each job: `--queue` (or `--queue-url`) for
/// every job; else by kind through `JOBS_QUEUE_URLS` (mail to `mailers`, the
/// rest to `default`); else the lone `JOBS_QUEUE_URL`.
pub(super) struct Routing {
    explicit: Option<String>,
    pub(super) routes: QueueRoutes,
    lone: Option<String>,
}

impl Routing {
    pub(super) fn from_args(args: &EnqueueArgs) -> Result<Self, String> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        Ok(Routing {
            explicit: given(&args.queue).or_else(|| given(&args.queue_url)),
            routes: QueueRoutes::from_env().map_err(|e| e.to_string())?,
            lone: given(&std::env::var(QUEUE_URL_ENV).ok()),
        })
    }

    /// The queue (a name or a URL) `job` goes to.
    pub(super) fn target(&self, job: &producer::Job) -> Option<String> {
        self.explicit
            .clone()
            .or_else(|| self.routes.queue_for(job, None).map(str::to_owned))
            .or_else(|| self.lone.clone())
    }

    /// A target's URL: itself, its entry in the routes, or SQS's answer.
    pub(super) async fn resolve(
        &self,
        sqs: &aws_sdk_sqs::Client,
        target: &str,
    ) -> Result<String, String> {
        if let Some(url) = self.routes.url_of(target) {
            return Ok(url.to_owned());
        }
        let found = sqs
            .get_queue_url()
            .queue_name(target)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot find queue `{target}`: {}",
                    producer::aws::describe(&e)
                )
            })?;
        found
            .queue_url
            .ok_or_else(|| format!("cannot find queue `{target}`: sqs returned no URL"))
    }

    pub(super) async fn url_for(
        &self,
        sqs: &aws_sdk_sqs::Client,
        job: &producer::Job,
    ) -> Result<String, String> {
        let target = self.target(job).ok_or_else(no_queue)?;
        self.resolve(sqs, &target).await
    }
}
