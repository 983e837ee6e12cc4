//! Looking after the queues: counts, the dead letters and their reasons, and
//! sending dead letters back — the retries, dead and scheduled views of a job
//! dashboard, as library calls behind `jobs stats` and `jobs dlq …` — and
//! cancelling a job that has not run (`jobs cancel`, in [`cancel`]), and checking
//! that the account has what the jobs need (`jobs doctor`, in [`doctor`]).

pub mod cancel;
pub mod doctor;

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName,
};

use crate::aws::{ErrorClass, classify, describe};
use crate::contract::envelope::Envelope;
use crate::send::queue::{ATTR_JOB_ID, ATTR_JOB_KIND, string_attribute};

/// The dead-letter attributes the handler sets (see the handler crate).
const ATTR_ERROR_CLASS: &str = "jobs.error.class";
const ATTR_ERROR_CODE: &str = "jobs.error.code";
const ATTR_ERROR_MESSAGE: &str = "jobs.error.message";
const ATTR_FAILED_AT: &str = "jobs.failed_at";

/// How long listed dead letters stay hidden while a listing reads the queue;
/// they are made visible again as soon as it is done.
const LISTING_HIDE_SECONDS: i32 = 30;

#[derive(Debug, thiserror::Error)]
#[error("{operation} on `{queue_url}` failed: {message}")]
pub struct OpsError {
    pub operation: &'static str,
    pub queue_url: String,
    pub class: ErrorClass,
    pub message: String,
}

fn ops_error<E>(
    operation: &'static str,
    queue_url: &str,
) -> impl FnOnce(
    aws_sdk_sqs::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> OpsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let queue_url = queue_url.to_owned();
    move |e| OpsError {
        operation,
        queue_url,
        class: classify(&e),
        message: describe(&e),
    }
}

/// What SQS counts on a job queue and its dead-letter queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub queued: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub dead: u64,
}

pub async fn stats(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    dlq_url: &str,
) -> Result<Stats, OpsError> {
    let counts = |url: &str| {
        let url = url.to_owned();
        async move {
            let output = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .map_err(ops_error("GetQueueAttributes", &url))?;
            let attributes = output.attributes.unwrap_or_default();
            let count = |name: QueueAttributeName| {
                attributes
                    .get(&name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            Ok::<_, OpsError>((
                count(QueueAttributeName::ApproximateNumberOfMessages),
                count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
                count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
            ))
        }
    };
    let (queued, in_flight, delayed) = counts(queue_url).await?;
    let (dead_visible, dead_hidden, dead_delayed) = counts(dlq_url).await?;
    Ok(Stats {
        queued,
        in_flight,
        delayed,
        dead: dead_visible + dead_hidden + dead_delayed,
    })
}

/// The age of the oldest message on a queue, as SQS reports it to CloudWatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldestAge {
    pub age: std::time::Duration,
    /// When CloudWatch took the reading (SQS reports once a minute).
    pub measured_at: std::time::SystemTime,
}

/// How far back [`oldest_age`] looks for a reading.
pub const OLDEST_AGE_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The newest reading of `AWS/SQS` `ApproximateAgeOfOldestMessage` for the
/// queue: SQS has no API call for the age itself. `None` when CloudWatch has
/// no reading from the last [`OLDEST_AGE_LOOKBACK`] (an idle queue, or an emulator).
pub async fn oldest_age(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue_url: &str,
) -> Result<Option<OldestAge>, OpsError> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};

    let queue_name = crate::send::queue::queue_name_of(queue_url);
    let now = std::time::SystemTime::now();
    let output = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(
            Dimension::builder()
                .name("QueueName")
                .value(queue_name)
                .build(),
        )
        .start_time(DateTime::from(now - OLDEST_AGE_LOOKBACK))
        // A minute ahead, so the minute now running is counted too.
        .end_time(DateTime::from(now + std::time::Duration::from_secs(60)))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(ops_error("GetMetricStatistics", queue_url))?;
    Ok(output
        .datapoints()
        .iter()
        .filter_map(|point| {
            let measured_at = std::time::SystemTime::try_from(*point.timestamp()?).ok()?;
            let seconds = point.maximum()?;
            (seconds.is_finite() && seconds >= 0.0).then(|| OldestAge {
                age: std::time::Duration::from_secs_f64(seconds),
                measured_at,
            })
        })
        .max_by_key(|reading| reading.measured_at))
}

/// A message in the dead-letter queue, decoded as far as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub job_id: String,
    pub kind: String,
    pub error_class: String,
    pub error_code: String,
    pub reason: String,
    pub failed_at: String,
    pub body: String,
    receipt_handle: String,
}

impl DeadLetter {
    fn from_message(message: Message) -> Option<DeadLetter> {
        let attribute = |name: &str| {
            message
                .message_attributes
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(|v| v.string_value())
                .unwrap_or_default()
                .to_owned()
        };
        let body = message.body.clone().unwrap_or_default();
        let decoded = Envelope::decode(&body).ok();
        let or = |found: String, fallback: Option<String>| {
            if found.is_empty() {
                fallback.unwrap_or_default()
            } else {
                found
            }
        };
        Some(DeadLetter {
            job_id: or(
                attribute(ATTR_JOB_ID),
                decoded.as_ref().map(|e| e.id.clone()),
            ),
            kind: or(
                attribute(ATTR_JOB_KIND),
                decoded.as_ref().map(|e| e.kind().to_owned()),
            ),
            // A message moved by the redrive policy carries no reason of ours.
            error_class: or(attribute(ATTR_ERROR_CLASS), Some("transient".into())),
            error_code: or(attribute(ATTR_ERROR_CODE), Some("max_receive_count".into())),
            reason: or(
                attribute(ATTR_ERROR_MESSAGE),
                Some("moved by the queue's redrive policy after maxReceiveCount deliveries".into()),
            ),
            failed_at: attribute(ATTR_FAILED_AT),
            message_id: message.message_id?,
            receipt_handle: message.receipt_handle?,
            body,
        })
    }
}

/// Reads up to `limit` dead letters without removing them: they are hidden
/// while being read, then made visible again.
pub async fn list_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, OpsError> {
    let letters = receive_dead_letters(sqs, dlq_url, limit).await?;
    release(sqs, dlq_url, &letters).await;
    Ok(letters)
}

async fn receive_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, OpsError> {
    let mut letters: Vec<DeadLetter> = Vec::new();
    while letters.len() < limit {
        let want = (limit - letters.len()).min(10) as i32;
        let output = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(want)
            .visibility_timeout(LISTING_HIDE_SECONDS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(ops_error("ReceiveMessage", dlq_url))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        letters.extend(messages.into_iter().filter_map(DeadLetter::from_message));
    }
    Ok(letters)
}

/// Makes messages read by a listing visible again at once.
async fn release(sqs: &aws_sdk_sqs::Client, dlq_url: &str, letters: &[DeadLetter]) {
    for chunk in letters.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&l.receipt_handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        // If this fails they reappear after LISTING_HIDE_SECONDS anyway.
        let _ = sqs
            .change_message_visibility_batch()
            .queue_url(dlq_url)
            .set_entries(Some(entries))
            .send()
            .await;
    }
}

/// Dead letters grouped by kind and error code, with their job ids.
pub fn group(letters: &[DeadLetter]) -> BTreeMap<(String, String), Vec<&DeadLetter>> {
    let mut groups: BTreeMap<(String, String), Vec<&DeadLetter>> = BTreeMap::new();
    for letter in letters {
        groups
            .entry((letter.kind.clone(), letter.error_code.clone()))
            .or_default()
            .push(letter);
    }
    groups
}

/// Which dead letters to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Kind(String),
    /// A job id or an SQS message id.
    Id(String),
}

impl Selection {
    fn matches(&self, letter: &DeadLetter) -> bool {
        match self {
            Selection::All => true,
            Selection::Kind(kind) => &letter.kind == kind,
            Selection::Id(id) => &letter.job_id == id || &letter.message_id == id,
        }
    }
}

/// What a redrive did, or would do in a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redrive {
    /// Job ids sent back (or that would be, in a dry run).
    pub moved: Vec<String>,
    /// Dead letters read that the selection left alone.
    pub left: usize,
    /// Set when SQS moves everything itself (`StartMessageMoveTask`).
    pub move_task: Option<String>,
}

/// Sends the selected dead letters back to the job queue, bodies unchanged.
/// Each is sent before it is deleted from the dead-letter queue, so a failure
/// part-way leaves a message in both queues, never in neither. Reads at most
/// `limit` messages.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    queue_url: &str,
    selection: &Selection,
    dry_run: bool,
    limit: usize,
) -> Result<Redrive, OpsError> {
    if *selection == Selection::All
        && !dry_run
        && let Some(task) = start_move_task(sqs, dlq_url, queue_url).await?
    {
        return Ok(Redrive {
            move_task: Some(task),
            ..Redrive::default()
        });
    }
    let letters = receive_dead_letters(sqs, dlq_url, limit).await?;
    let (chosen, others): (Vec<DeadLetter>, Vec<DeadLetter>) =
        letters.into_iter().partition(|l| selection.matches(l));
    let mut result = Redrive {
        left: others.len(),
        ..Redrive::default()
    };
    release(sqs, dlq_url, &others).await;
    if dry_run {
        result.moved = chosen.iter().map(|l| l.job_id.clone()).collect();
        release(sqs, dlq_url, &chosen).await;
        return Ok(result);
    }
    for letter in &chosen {
        let mut send = sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(&letter.body);
        if !letter.job_id.is_empty() {
            send = send.message_attributes(ATTR_JOB_ID, string_attribute(&letter.job_id));
        }
        if !letter.kind.is_empty() {
            send = send.message_attributes(ATTR_JOB_KIND, string_attribute(&letter.kind));
        }
        if let Err(e) = send.send().await {
            release(sqs, dlq_url, &chosen).await;
            return Err(ops_error("SendMessage", queue_url)(e));
        }
        sqs.delete_message()
            .queue_url(dlq_url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
            .map_err(ops_error("DeleteMessage", dlq_url))?;
        result.moved.push(letter.job_id.clone());
    }
    Ok(result)
}

/// Asks SQS to move every dead letter back (`StartMessageMoveTask`). `None`
/// when the service does not offer it (moto, for one), so the caller moves them.
async fn start_move_task(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    queue_url: &str,
) -> Result<Option<String>, OpsError> {
    let arn = |url: &str| {
        let url = url.to_owned();
        async move {
            sqs.get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(ops_error("GetQueueAttributes", &url))
                .map(|o| {
                    o.attributes
                        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
                        .unwrap_or_default()
                })
        }
    };
    let (source, destination) = (arn(dlq_url).await?, arn(queue_url).await?);
    match sqs
        .start_message_move_task()
        .source_arn(source)
        .destination_arn(destination)
        .send()
        .await
    {
        Ok(output) => Ok(Some(output.task_handle.unwrap_or_default())),
        Err(e)
            if e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 500 | 501)) =>
        {
            Ok(None)
        }
        Err(e) => Err(ops_error("StartMessageMoveTask", dlq_url)(e)),
    }
}

/// Deletes every message in the dead-letter queue (SQS may take up to a minute).
pub async fn purge(sqs: &aws_sdk_sqs::Client, dlq_url: &str) -> Result<(), OpsError> {
    sqs.purge_queue()
        .queue_url(dlq_url)
        .send()
        .await
        .map_err(ops_error("PurgeQueue", dlq_url))?;
    Ok(())
}
