//! The queues an operation covers: one named on the command line, else every
//! queue of `JOBS_QUEUE_URLS`, else the lone `JOBS_QUEUE_URL`; each with its
//! dead-letter queue, read from its `RedrivePolicy`.

use aws_sdk_sqs::types::QueueAttributeName;
use producer::send::queue::{QUEUE_URL_ENV, queue_name_of};
use producer::send::routes::{QUEUE_URLS_ENV, QueueRoutes, is_url};

use crate::{OpsError, ops_error};

/// The dead-letter queue a lone `JOBS_QUEUE_URL` falls back on when its queue
/// has no redrive policy.
pub const DLQ_URL_ENV: &str = "JOBS_DLQ_URL";

/// A job queue and where its dead letters are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQueue {
    /// Its name in `JOBS_QUEUE_URLS`, else its SQS name.
    pub name: String,
    pub url: String,
    /// `None` when it has no redrive policy and none was given.
    pub dead_letters: Option<String>,
}

/// What the command line named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chosen {
    /// `--queue NAME|URL` or `--queue-url`.
    pub queue: Option<String>,
    /// `--dlq-url`: only with one queue.
    pub dlq_url: Option<String>,
}

/// The queues to cover, each with its dead-letter queue.
pub async fn job_queues(
    sqs: &aws_sdk_sqs::Client,
    chosen: &Chosen,
) -> Result<Vec<JobQueue>, String> {
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let routes = QueueRoutes::from_env().map_err(|e| e.to_string())?;
    let lone = given(std::env::var(QUEUE_URL_ENV).ok());
    let (named, from_map): (Vec<(String, String)>, bool) = match given(chosen.queue.clone()) {
        Some(queue) => {
            let url = match routes.url_of(&queue) {
                Some(url) => url.to_owned(),
                None if is_url(&queue) => queue.clone(),
                None => sqs
                    .get_queue_url()
                    .queue_name(&queue)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot find queue `{queue}`: {}",
                            producer::aws::describe(&e)
                        )
                    })?
                    .queue_url
                    .ok_or_else(|| format!("cannot find queue `{queue}`: sqs returned no URL"))?,
            };
            let name = routes
                .name_of(&url)
                .unwrap_or(queue_name_of(&url))
                .to_owned();
            (vec![(name, url)], false)
        }
        None if !routes.is_empty() => (
            routes
                .iter()
                .map(|(n, u)| (n.to_owned(), u.to_owned()))
                .collect(),
            true,
        ),
        None => match lone {
            Some(url) => (vec![(queue_name_of(&url).to_owned(), url)], false),
            None => {
                return Err(format!(
                    "no queue: pass `--queue NAME|URL`, or set `{QUEUE_URLS_ENV}` or `{QUEUE_URL_ENV}`"
                ));
            }
        },
    };
    let explicit_dlq = given(chosen.dlq_url.clone());
    if explicit_dlq.is_some() && named.len() > 1 {
        return Err(
            "`--dlq-url` names the dead letters of one queue: pass `--queue NAME` with it".into(),
        );
    }
    // `JOBS_DLQ_URL` pairs with a lone queue, never with every queue of the map.
    let fallback = if from_map {
        None
    } else {
        given(std::env::var(DLQ_URL_ENV).ok())
    };
    let mut queues = Vec::new();
    for (name, url) in named {
        let dead_letters = match &explicit_dlq {
            Some(dlq) => Some(dlq.clone()),
            None => dead_letter_queue_of(sqs, &url)
                .await
                .map_err(|e| e.to_string())?
                .or_else(|| fallback.clone()),
        };
        queues.push(JobQueue {
            name,
            url,
            dead_letters,
        });
    }
    Ok(queues)
}

/// The queue's dead-letter queue, from its `RedrivePolicy`; `None` without one.
pub async fn dead_letter_queue_of(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Option<String>, OpsError> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(ops_error("GetQueueAttributes", queue_url))?;
    let Some(arn) = output
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy))
        .and_then(|policy| serde_json::from_str::<serde_json::Value>(&policy).ok())
        .and_then(|policy| policy["deadLetterTargetArn"].as_str().map(str::to_owned))
    else {
        return Ok(None);
    };
    queue_url_of_arn(sqs, &arn).await.map(Some)
}

/// A queue's URL from its ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
pub async fn queue_url_of_arn(sqs: &aws_sdk_sqs::Client, arn: &str) -> Result<String, OpsError> {
    let mut parts = arn.split(':').skip(4);
    let (account, name) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    sqs.get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(ops_error("GetQueueUrl", arn))?
        .queue_url
        .ok_or_else(|| OpsError {
            operation: "GetQueueUrl",
            queue_url: arn.to_owned(),
            class: producer::aws::ErrorClass::Permanent,
            message: "sqs returned no URL".into(),
        })
}
