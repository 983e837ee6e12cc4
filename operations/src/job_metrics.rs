//! The job metrics the handler sends to CloudWatch (namespace `Jobs` unless
//! `JOBS_METRICS_NAMESPACE` says), read back per minute from `QueueJobs`: the
//! console's chart.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::{OpsError, ops_error};

/// Outcomes counted as processed: the job ran, or had nothing left to do.
pub const PROCESSED: &[&str] = &["done", "skipped", "duplicate", "cancelled", "expired"];
/// Outcomes counted as failed: it will be retried (a kind no handler runs
/// yet among them), or went to the dead letters.
pub const FAILED: &[&str] = &["retry", "unknown_kind", "dead_lettered"];

/// One minute of a queue's jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Minute {
    /// Seconds since the epoch at the minute's start.
    pub start: u64,
    pub processed: f64,
    pub failed: f64,
}

/// The last `minutes` minutes of a queue's processed and failed jobs, oldest
/// first, every minute present (0 where nothing was recorded).
pub async fn per_minute(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    queue_name: &str,
    minutes: u64,
    now: SystemTime,
) -> Result<Vec<Minute>, OpsError> {
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let end = now_s - now_s % 60 + 60;
    let start = end - minutes * 60;
    let query = |id: String, outcome: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(namespace)
                            .metric_name("QueueJobs")
                            .dimensions(
                                Dimension::builder().name("Queue").value(queue_name).build(),
                            )
                            .dimensions(Dimension::builder().name("Outcome").value(outcome).build())
                            .build(),
                    )
                    .period(60)
                    .stat("Sum")
                    .build(),
            )
            .return_data(true)
            .build()
    };
    let queries: Vec<MetricDataQuery> = PROCESSED
        .iter()
        .enumerate()
        .map(|(i, o)| query(format!("p{i}"), o))
        .chain(
            FAILED
                .iter()
                .enumerate()
                .map(|(i, o)| query(format!("f{i}"), o)),
        )
        .collect();
    let mut series: BTreeMap<u64, Minute> = (0..minutes)
        .map(|m| {
            let start = start + m * 60;
            (
                start,
                Minute {
                    start,
                    ..Minute::default()
                },
            )
        })
        .collect();
    let mut next_token = None;
    loop {
        let output = cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(DateTime::from(UNIX_EPOCH + Duration::from_secs(start)))
            .end_time(DateTime::from(UNIX_EPOCH + Duration::from_secs(end)))
            .set_next_token(next_token)
            .send()
            .await
            .map_err(ops_error("GetMetricData", namespace))?;
        for result in output.metric_data_results() {
            let failed = result.id().is_some_and(|id| id.starts_with('f'));
            for (at, value) in result.timestamps().iter().zip(result.values()) {
                let at = u64::try_from(at.secs()).unwrap_or_default();
                if let Some(minute) = series.get_mut(&(at - at % 60)) {
                    if failed {
                        minute.failed += value;
                    } else {
                        minute.processed += value;
                    }
                }
            }
        }
        next_token = output.next_token;
        if next_token.is_none() {
            break;
        }
    }
    Ok(series.into_values().collect())
}
