//! What SQS counts on the queues, and the age of the oldest job (from CloudWatch):
//! `jobs stats`.

use aws_sdk_sqs::types::QueueAttributeName;

use crate::{OpsError, ops_error};

/// What SQS counts on a job queue and its dead-letter queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub queued: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub dead: u64,
}

/// The counts of a queue and, when it has one, of its dead-letter queue
/// (`dead` is 0 without one).
pub async fn stats(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    dlq_url: Option<&str>,
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
    let (dead_visible, dead_hidden, dead_delayed) = match dlq_url {
        Some(dlq_url) => counts(dlq_url).await?,
        None => (0, 0, 0),
    };
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

    let queue_name = producer::send::queue::queue_name_of(queue_url);
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
