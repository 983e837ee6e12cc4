//! Job metrics: how many jobs ended in each outcome, and how long they took,
//! per queue and job kind.
//!
//! The handler tallies each job as it ends. On Lambda the tallies of an
//! invocation are written as CloudWatch embedded-metric-format lines (no API
//! call: CloudWatch Logs extracts the metrics); the worker sends them with
//! `PutMetricData` once an interval ([`cloudwatch`], the `cloudwatch` feature).
//!
//! Metrics (namespace `JOBS_METRICS_NAMESPACE`, default `Jobs`):
//! - `Jobs` (Count) and `Duration` (Milliseconds) by `Queue`, `Kind`, `Outcome`;
//! - `QueueJobs` (Count) by `Queue`, `Outcome`: the same jobs, per queue. A
//!   name of its own, so that a reader that matches dimensions loosely (as the
//!   local emulator does) never adds the two together.

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;

use std::collections::BTreeMap;
use std::sync::Mutex;

/// `off` (or `false`, `0`) turns job metrics off; they are on otherwise.
pub const METRICS_ENV: &str = "JOBS_METRICS";
/// The CloudWatch namespace of the job metrics.
pub const NAMESPACE_ENV: &str = "JOBS_METRICS_NAMESPACE";
pub const DEFAULT_NAMESPACE: &str = "Jobs";
/// How often the worker sends its tallies, unless `JOBS_METRICS_INTERVAL_SECONDS` says.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
pub const INTERVAL_ENV: &str = "JOBS_METRICS_INTERVAL_SECONDS";

/// Metric and dimension names, for the console and the dashboard too.
pub mod name {
    pub const JOBS: &str = "Jobs";
    pub const QUEUE_JOBS: &str = "QueueJobs";
    pub const DURATION: &str = "Duration";
    pub const QUEUE: &str = "Queue";
    pub const KIND: &str = "Kind";
    pub const OUTCOME: &str = "Outcome";
}

/// The kind recorded for a message whose kind this handler does not run: kinds
/// come from message bodies, and each distinct value would be a metric billed
/// by CloudWatch.
pub const UNKNOWN_KIND: &str = "unknown";

/// The embedded metric format allows at most this many values in one array.
pub const EMF_MAX_VALUES: usize = 100;

/// Whether job metrics are on, from `JOBS_METRICS`.
pub fn enabled_from(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("off" | "false" | "0" | "no")
    )
}

/// The namespace from `JOBS_METRICS_NAMESPACE`, else [`DEFAULT_NAMESPACE`].
pub fn namespace_from(value: Option<&str>) -> String {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned()
}

/// What one tally is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub queue: String,
    pub kind: String,
    pub outcome: &'static str,
}

/// The jobs of one key since the last take: their durations, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub durations_ms: Vec<f64>,
}

impl Tally {
    pub fn count(&self) -> usize {
        self.durations_ms.len()
    }
    pub fn sum(&self) -> f64 {
        self.durations_ms.iter().sum()
    }
    pub fn min(&self) -> f64 {
        self.durations_ms
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.durations_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// The tallies of jobs that ended since they were last taken.
#[derive(Debug)]
pub struct JobMetrics {
    namespace: String,
    /// A few keys at most (queues × kinds × outcomes), searched in place, so
    /// that counting a job allocates nothing once its key is there.
    tallies: Mutex<Vec<(Key, Tally)>>,
}

impl JobMetrics {
    pub fn new(namespace: impl Into<String>) -> Self {
        JobMetrics {
            namespace: namespace.into(),
            tallies: Mutex::default(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Counts one job that ended.
    pub fn record(&self, queue: &str, kind: &str, outcome: &'static str, duration_ms: f64) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let found = tallies
            .iter_mut()
            .find(|(k, _)| k.outcome == outcome && k.queue == queue && k.kind == kind);
        match found {
            Some((_, tally)) => tally.durations_ms.push(duration_ms),
            None => tallies.push((
                Key {
                    queue: queue.to_owned(),
                    kind: kind.to_owned(),
                    outcome,
                },
                Tally {
                    durations_ms: vec![duration_ms],
                },
            )),
        }
    }

    /// Takes what was counted since the last take.
    pub fn take(&self) -> BTreeMap<Key, Tally> {
        std::mem::take(&mut *self.tallies.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect()
    }

    /// Writes what was counted since the last take as embedded-metric-format
    /// lines, one per write, each ending in a newline.
    pub fn write_emf(
        &self,
        out: &mut impl std::io::Write,
        timestamp_ms: u64,
    ) -> std::io::Result<()> {
        for line in emf_lines(&self.namespace, &self.take(), timestamp_ms) {
            out.write_all(format!("{line}\n").as_bytes())?;
        }
        out.flush()
    }
}

/// The embedded-metric-format documents for some tallies: one per key and
/// per [`EMF_MAX_VALUES`] durations, each its own JSON object with the `_aws`
/// metadata CloudWatch Logs reads.
pub fn emf_lines(
    namespace: &str,
    tallies: &BTreeMap<Key, Tally>,
    timestamp_ms: u64,
) -> Vec<String> {
    use serde_json::json;

    let metadata = json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [[name::QUEUE, name::KIND, name::OUTCOME]],
                "Metrics": [
                    { "Name": name::JOBS, "Unit": "Count" },
                    { "Name": name::DURATION, "Unit": "Milliseconds" },
                ],
            },
            {
                "Namespace": namespace,
                "Dimensions": [[name::QUEUE, name::OUTCOME]],
                "Metrics": [{ "Name": name::QUEUE_JOBS, "Unit": "Count" }],
            },
        ],
    });
    let mut lines = Vec::new();
    for (key, tally) in tallies {
        for durations in tally.durations_ms.chunks(EMF_MAX_VALUES) {
            let document = json!({
                "_aws": metadata,
                name::QUEUE: key.queue,
                name::KIND: key.kind,
                name::OUTCOME: key.outcome,
                name::JOBS: durations.len(),
                name::QUEUE_JOBS: durations.len(),
                name::DURATION: durations,
            });
            lines.push(document.to_string());
        }
    }
    lines
}

#[cfg(test)]
mod tests;
