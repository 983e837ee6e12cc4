//! `jobs stats`: what SQS counts on each queue and its dead-letter queue, and
//! the oldest job's age from CloudWatch.

use std::process::ExitCode;
use std::time::SystemTime;

use super::Output;
use super::output::{Stopped, print_json};
use super::queues::{QueueArgs, job_queues};

pub(super) async fn stats(
    sqs: &aws_sdk_sqs::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    args: &QueueArgs,
    output: Output,
) -> Result<ExitCode, Stopped> {
    let queues = job_queues(sqs, args).await?;
    let mut rows = Vec::new();
    for queue in &queues {
        let stats = crate::stats::stats(sqs, &queue.url, queue.dead_letters.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        // The counts stand on their own; the age is extra, so it never fails the command.
        let oldest = crate::stats::oldest_age(cloudwatch, &queue.url).await;
        rows.push((queue, stats, oldest));
    }
    if output == Output::Json {
        let queues: Vec<_> = rows
            .iter()
            .map(|(queue, stats, oldest)| {
                let (age, measured_at, why_unknown) = match oldest {
                    Ok(Some(oldest)) => (
                        Some(oldest.age.as_secs()),
                        Some(humantime::format_rfc3339_seconds(oldest.measured_at).to_string()),
                        None,
                    ),
                    Ok(None) => (None, None, Some("no CloudWatch reading".to_owned())),
                    Err(e) => (None, None, Some(e.to_string())),
                };
                serde_json::json!({
                    "queue": queue.name,
                    "url": queue.url,
                    "dead_letter_url": queue.dead_letters,
                    "queued": stats.queued,
                    "in_flight": stats.in_flight,
                    "delayed": stats.delayed,
                    "dead": stats.dead,
                    "oldest_age_seconds": age,
                    "oldest_measured_at": measured_at,
                    "oldest_unknown_because": why_unknown,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "queues": queues }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows
        .iter()
        .map(|(q, ..)| q.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    outln!(
        "{:width$}  {:>8}  {:>9}  {:>8}  {:>8}  oldest",
        "queue",
        "queued",
        "in flight",
        "delayed",
        "dead"
    )?;
    for (queue, stats, oldest) in &rows {
        let dead = match (&queue.dead_letters, stats.dead) {
            (None, _) => "-".to_owned(),
            (Some(_), dead) => dead.to_string(),
        };
        let oldest = match oldest {
            Ok(Some(oldest)) => {
                let whole_seconds = std::time::Duration::from_secs(oldest.age.as_secs());
                let taken = SystemTime::now()
                    .duration_since(oldest.measured_at)
                    .map_or(0, |d| d.as_secs());
                format!(
                    "{} (CloudWatch, {taken}s ago)",
                    humantime::format_duration(whole_seconds)
                )
            }
            Ok(None) => format!(
                "unknown (no CloudWatch reading in the last {} minutes)",
                crate::stats::OLDEST_AGE_LOOKBACK.as_secs() / 60
            ),
            Err(e) => format!("unknown ({e})"),
        };
        outln!(
            "{:width$}  {:>8}  {:>9}  {:>8}  {:>8}  {oldest}",
            queue.name,
            stats.queued,
            stats.in_flight,
            stats.delayed,
            dead
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
