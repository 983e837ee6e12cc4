//! The same batch logic as a long-polling loop, for running outside Lambda.
//!
//! It behaves like Lambda's SQS event source: receive up to ten messages, process
//! them, delete those that are settled, and leave the rest to come back after
//! their visibility timeout, so the queue's redrive policy applies as on Lambda.

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use producer::aws::{ErrorClass, classify, describe};
use producer::send::queue::QUEUE_URL_ENV;
use tokio::sync::watch;

use crate::batch::{Delivery, Handler, Settings};
use crate::runner::Runner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    pub queue_url: String,
    /// Long-poll wait per receive, 0–20 seconds.
    pub wait_seconds: i32,
    /// Messages per receive, 1–10.
    pub max_messages: i32,
}

impl WorkerSettings {
    pub fn new(queue_url: impl Into<String>) -> Self {
        WorkerSettings {
            queue_url: queue_url.into(),
            wait_seconds: 20,
            max_messages: 10,
        }
    }
}

/// Counts since the worker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub batches: u64,
    pub done: u64,
    /// Jobs whose `perform` found nothing to do.
    pub skipped: u64,
    pub dead_lettered: u64,
    pub retried: u64,
    pub rescheduled: u64,
    pub duplicates: u64,
    pub cancelled: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot receive from `{queue_url}`: {message}")]
    Receive { queue_url: String, message: String },
}

/// A sender of this channel stops the worker: send `true`, or drop it.
pub fn shutdown_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Receives and processes batches until `shutdown` fires. A batch in hand is
/// always finished (processed and deleted) before returning.
pub async fn run(
    handler: &Handler,
    sqs: &aws_sdk_sqs::Client,
    settings: &WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<WorkerStats, WorkerError> {
    let mut stats = WorkerStats::default();
    let mut receive_failures = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let receive = sqs
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(settings.max_messages)
            .wait_time_seconds(settings.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send();
        let received = tokio::select! {
            // Nothing has been received yet: stopping here loses nothing.
            _ = shutdown.changed() => break,
            received = receive => received,
        };
        let messages = match received {
            Ok(output) => {
                receive_failures = 0;
                output.messages.unwrap_or_default()
            }
            Err(err) if classify(&err) == ErrorClass::Permanent => {
                return Err(WorkerError::Receive {
                    queue_url: settings.queue_url.clone(),
                    message: describe(&err),
                });
            }
            Err(err) => {
                receive_failures += 1;
                let pause = Duration::from_millis(250 * 2u64.pow(receive_failures.min(5)));
                tracing::warn!(error = %describe(&err), pause_ms = pause.as_millis() as u64, "receive failed; trying again");
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if messages.is_empty() {
            continue;
        }
        let deliveries: Vec<Delivery> = messages
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(Delivery {
                    message_id: m.message_id?,
                    receipt_handle: Some(m.receipt_handle?),
                    queue_url: Some(settings.queue_url.clone()),
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect();
        let processed = handler.process_batch(deliveries).await;
        stats.batches += 1;
        let mut settled = Vec::new();
        for p in &processed {
            match &p.outcome {
                crate::batch::Outcome::Done => stats.done += 1,
                crate::batch::Outcome::Skipped { .. } => stats.skipped += 1,
                crate::batch::Outcome::DeadLettered { .. } => stats.dead_lettered += 1,
                crate::batch::Outcome::Retry { .. } => stats.retried += 1,
                crate::batch::Outcome::Rescheduled { .. } => stats.rescheduled += 1,
                crate::batch::Outcome::Duplicate => stats.duplicates += 1,
                crate::batch::Outcome::Cancelled => stats.cancelled += 1,
            }
            if p.outcome.is_settled() {
                settled.push(&p.delivery);
            }
        }
        delete(sqs, &settings.queue_url, &settled).await;
    }
    tracing::info!(
        batches = stats.batches,
        done = stats.done,
        skipped = stats.skipped,
        dead_lettered = stats.dead_lettered,
        retried = stats.retried,
        "worker stopped"
    );
    Ok(stats)
}

/// Deletes settled messages, ten per call. A message that cannot be deleted
/// comes back and runs again: SQS delivers at least once.
async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, settled: &[&Delivery]) {
    for chunk in settled.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(d.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        match sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => {
                for failed in output.failed {
                    tracing::error!(entry = %failed.id, code = %failed.code, "delete failed; the message will run again");
                }
            }
            Err(err) => {
                tracing::error!(error = %describe(&err), count = chunk.len(), "delete failed; the messages will run again");
            }
        }
    }
}

/// The worker process: settings from the environment (`JOBS_QUEUE_URL`,
/// `JOBS_DLQ_URL`, the optional `JOBS_*`), then [`run`] until SIGTERM or
/// Ctrl-C, which finish the batch in hand.
pub async fn main<S: Send + Sync + 'static>(
    runner: Runner<S>,
    config: &aws_config::SdkConfig,
) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => return fail(&e.to_string()),
    };
    let Some(queue_url) = std::env::var(QUEUE_URL_ENV).ok().filter(|u| !u.is_empty()) else {
        return fail(&format!("`{QUEUE_URL_ENV}` is not set"));
    };
    let mut worker = WorkerSettings::new(queue_url);
    if let Some(wait) = std::env::var(WAIT_SECONDS_ENV)
        .ok()
        .and_then(|w| w.parse().ok())
    {
        worker.wait_seconds = wait;
    }
    let sqs = aws_sdk_sqs::Client::new(config);
    let handler = runner.handler(config, settings);

    let (stop, stopped) = shutdown_channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested; finishing the batch in hand");
        let _ = stop.send(true);
    });
    match run(&handler, &sqs, &worker, stopped).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// Long-poll wait per receive, 0–20 seconds (default 20).
pub const WAIT_SECONDS_ENV: &str = "JOBS_WAIT_SECONDS";

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

fn fail(message: &str) -> ExitCode {
    tracing::error!(error = message, "worker cannot run");
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
