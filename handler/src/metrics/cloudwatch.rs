//! The worker's job metrics, sent with `PutMetricData` once an interval: one
//! call per interval (and per [`MAX_DATA_PER_CALL`] data), however many jobs ran.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use tokio::sync::watch;

use super::{JobMetrics, Key, Tally, name};

/// `PutMetricData` takes at most 1,000 metric data per call.
pub const MAX_DATA_PER_CALL: usize = 1000;

/// Where the worker sends its metrics, and how often.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub interval: Duration,
}

impl Publisher {
    pub fn new(cloudwatch: aws_sdk_cloudwatch::Client, interval: Duration) -> Self {
        Publisher {
            cloudwatch,
            interval: interval.max(Duration::from_secs(1)),
        }
    }

    /// Sends the tallies every interval until `stop` turns true, then once more.
    pub async fn run(self, metrics: Arc<JobMetrics>, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => self.send(&metrics).await,
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
            }
        }
        self.send(&metrics).await;
    }

    /// Sends what was counted since the last send. Metrics that CloudWatch did
    /// not take are logged as lost; jobs are never held up by them.
    pub async fn send(&self, metrics: &JobMetrics) {
        let tallies = metrics.take();
        if tallies.is_empty() {
            return;
        }
        let data = metric_data(&tallies, SystemTime::now());
        for chunk in data.chunks(MAX_DATA_PER_CALL) {
            if let Err(e) = self
                .cloudwatch
                .put_metric_data()
                .namespace(metrics.namespace())
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
            {
                tracing::warn!(
                    namespace = metrics.namespace(),
                    lost = chunk.len(),
                    error = %producer::aws::describe(&e),
                    "cannot send job metrics"
                );
            }
        }
    }
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The metric data of some tallies: per queue, kind and outcome a count and a
/// statistic set of durations; per queue and outcome a count (`QueueJobs`).
pub fn metric_data(tallies: &BTreeMap<Key, Tally>, at: SystemTime) -> Vec<MetricDatum> {
    let timestamp = DateTime::from(at);
    let mut by_outcome: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut data = Vec::new();
    for (key, tally) in tallies {
        if tally.count() == 0 {
            continue;
        }
        *by_outcome.entry((&key.queue, key.outcome)).or_default() += tally.count();
        let dimensions = vec![
            dimension(name::QUEUE, &key.queue),
            dimension(name::KIND, &key.kind),
            dimension(name::OUTCOME, key.outcome),
        ];
        data.push(
            MetricDatum::builder()
                .metric_name(name::JOBS)
                .set_dimensions(Some(dimensions.clone()))
                .timestamp(timestamp)
                .value(tally.count() as f64)
                .unit(StandardUnit::Count)
                .build(),
        );
        data.push(
            MetricDatum::builder()
                .metric_name(name::DURATION)
                .set_dimensions(Some(dimensions))
                .timestamp(timestamp)
                .statistic_values(
                    StatisticSet::builder()
                        .sample_count(tally.count() as f64)
                        .sum(tally.sum())
                        .minimum(tally.min())
                        .maximum(tally.max())
                        .build(),
                )
                .unit(StandardUnit::Milliseconds)
                .build(),
        );
    }
    for ((queue, outcome), count) in by_outcome {
        data.push(
            MetricDatum::builder()
                .metric_name(name::QUEUE_JOBS)
                .dimensions(dimension(name::QUEUE, queue))
                .dimensions(dimension(name::OUTCOME, outcome))
                .timestamp(timestamp)
                .value(count as f64)
                .unit(StandardUnit::Count)
                .build(),
        );
    }
    data
}
