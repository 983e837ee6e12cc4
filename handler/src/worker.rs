//! The same job logic as a long-polling loop, for running outside Lambda.
//!
//! It behaves like Lambda's SQS event source, pipelined: several receives are in
//! flight at once, each filling a small buffer of received messages (room for as
//! many as there are job slots, taken ten at a time, so receives stay full);
//! each job starts from that buffer as soon as a slot is free (one bound on
//! running jobs, across batches); each message is deleted as soon as its job is
//! settled (deletes gathered for a few milliseconds into one call); and a job
//! that runs long keeps its message hidden with a heartbeat. A message left on
//! the queue comes back after its visibility timeout, so the queue's redrive
//! policy applies as on Lambda.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use producer::aws::{ErrorClass, classify, describe};
use producer::send::queue::QUEUE_URL_ENV;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::batch::{Delivery, Handler, Outcome, Settings, SettingsError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    pub queue_url: String,
    /// Long-poll wait per receive, 0–20 seconds.
    pub wait_seconds: i32,
    /// Messages per receive, 1–10.
    pub max_messages: i32,
    /// Receives in flight at once; `None`: two, or one per ten job slots if more.
    pub receives_in_flight: Option<usize>,
    /// How long a settled message waits for others to be deleted with it. At
    /// 200 jobs a second (the local emulator's pace) one settles every 5 ms,
    /// so a 5 ms wait made about one `DeleteMessageBatch` call per job, each a
    /// request the queue must serve. A message whose delete waits stays
    /// hidden meanwhile: the wait costs only that much of its visibility timeout.
    pub delete_linger: Duration,
    /// The queue's visibility timeout, which the heartbeat keeps renewing for a
    /// running job; `None` reads it from the queue when the worker starts.
    pub visibility_timeout: Option<Duration>,
}

impl WorkerSettings {
    pub const RECEIVES_ENV: &str = "JOBS_RECEIVES_IN_FLIGHT";

    pub fn new(queue_url: impl Into<String>) -> Self {
        WorkerSettings {
            queue_url: queue_url.into(),
            wait_seconds: 20,
            max_messages: 10,
            receives_in_flight: None,
            delete_linger: Duration::from_millis(50),
            visibility_timeout: None,
        }
    }

    /// The worker's settings from the environment: the queue (`JOBS_QUEUE_URL`,
    /// required here), `JOBS_WAIT_SECONDS` and `JOBS_RECEIVES_IN_FLIGHT`.
    pub fn from_env(settings: &Settings) -> Result<Self, SettingsError> {
        let queue_url = settings
            .queue_url
            .clone()
            .ok_or(SettingsError::Missing(QUEUE_URL_ENV))?;
        let mut worker = WorkerSettings::new(queue_url);
        if let Ok(wait) = std::env::var(WAIT_SECONDS_ENV)
            && !wait.is_empty()
        {
            worker.wait_seconds = wait
                .parse()
                .ok()
                .filter(|seconds| (0..=20).contains(seconds))
                .ok_or(SettingsError::NotAWait(WAIT_SECONDS_ENV, wait))?;
        }
        if let Ok(n) = std::env::var(Self::RECEIVES_ENV)
            && !n.is_empty()
        {
            worker.receives_in_flight = Some(
                n.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(SettingsError::NotAPositiveNumber(Self::RECEIVES_ENV, n))?,
            );
        }
        Ok(worker)
    }

    fn receives_for(&self, concurrency: usize) -> usize {
        self.receives_in_flight
            .unwrap_or_else(|| concurrency.div_ceil(10).max(2))
            .max(1)
    }
}

/// Counts since the worker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Receives that brought at least one message.
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

impl WorkerStats {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Done => self.done += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::DeadLettered { .. } => self.dead_lettered += 1,
            Outcome::Retry { .. } => self.retried += 1,
            Outcome::Rescheduled { .. } => self.rescheduled += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
    }
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

/// What the receive loops and the jobs share.
struct Pipeline {
    handler: Handler,
    sqs: aws_sdk_sqs::Client,
    settings: WorkerSettings,
    /// One permit per running job: the bound across batches.
    slots: Arc<Semaphore>,
    /// One permit per received message not yet started: the buffer's bound.
    room: Arc<Semaphore>,
    /// Messages per receive: ten, or fewer when the buffer is smaller.
    per_receive: u32,
    settled: mpsc::UnboundedSender<String>,
    stats: Mutex<WorkerStats>,
}

/// A received message waiting for a job slot, with its place in the buffer.
type Received = (Delivery, OwnedSemaphorePermit);

/// Receives and runs jobs until `shutdown` fires. Every job in hand is finished
/// (run, settled and its message deleted) before returning; a receive still in
/// flight is dropped, which loses nothing (nothing was received yet).
pub async fn run(
    handler: &Handler,
    sqs: &aws_sdk_sqs::Client,
    settings: &WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<WorkerStats, WorkerError> {
    let visibility_timeout = match settings.visibility_timeout {
        Some(timeout) => Some(timeout),
        None => visibility_timeout_of(sqs, &settings.queue_url).await?,
    };
    let concurrency = handler.settings().concurrency.max(1);
    let (settled, to_delete) = mpsc::unbounded_channel();
    let deleter = tokio::spawn(delete_settled(
        sqs.clone(),
        settings.queue_url.clone(),
        to_delete,
        settings.delete_linger,
    ));
    let pipeline = Arc::new(Pipeline {
        handler: handler.clone().with_visibility_timeout(visibility_timeout),
        sqs: sqs.clone(),
        settings: settings.clone(),
        slots: Arc::new(Semaphore::new(concurrency)),
        room: Arc::new(Semaphore::new(concurrency)),
        per_receive: settings.max_messages.clamp(1, 10).min(concurrency as i32) as u32,
        settled,
        stats: Mutex::default(),
    });

    let (stop, stopped) = watch::channel(false);
    let (ready, mut waiting) = mpsc::channel::<Received>(concurrency);
    let mut receivers = JoinSet::new();
    for _ in 0..settings.receives_for(concurrency) {
        receivers.spawn(receive_loop(
            Arc::clone(&pipeline),
            stopped.clone(),
            ready.clone(),
        ));
    }
    drop(ready);
    // Starts each received job as soon as a slot frees. It ends when every
    // receive loop has ended and the buffer is empty: what was received runs.
    let starter = {
        let pipeline = Arc::clone(&pipeline);
        tokio::spawn(async move {
            while let Some((delivery, place)) = waiting.recv().await {
                let Ok(slot) = Arc::clone(&pipeline.slots).acquire_owned().await else {
                    break;
                };
                drop(place);
                tokio::spawn(run_job(Arc::clone(&pipeline), delivery, slot));
            }
        })
    };
    let mut failure = None;
    tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => {}
        Some(Ok(Err(e))) = receivers.join_next() => failure = Some(e),
    }
    let _ = stop.send(true);
    while let Some(joined) = receivers.join_next().await {
        if let Ok(Err(e)) = joined {
            failure.get_or_insert(e);
        }
    }
    let _ = starter.await;
    // Every running job holds a slot until its message is settled: holding them
    // all means nothing is in hand.
    let all_settled = pipeline.slots.acquire_many(concurrency as u32).await;
    drop(all_settled);
    let stats = *pipeline.stats.lock().unwrap_or_else(|e| e.into_inner());
    drop(pipeline);
    let _ = deleter.await;
    tracing::info!(
        batches = stats.batches,
        done = stats.done,
        skipped = stats.skipped,
        dead_lettered = stats.dead_lettered,
        retried = stats.retried,
        "worker stopped"
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// The queue's visibility timeout, for the heartbeat. Without it a job slower
/// than the timeout could run twice, so the worker says so and goes on.
async fn visibility_timeout_of(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Option<Duration>, WorkerError> {
    let read = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await;
    match read {
        Ok(output) => Ok(output
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout).cloned())
            .and_then(|seconds| seconds.parse().ok())
            .map(Duration::from_secs)),
        Err(err) if classify(&err) == ErrorClass::Permanent => Err(WorkerError::Receive {
            queue_url: queue_url.to_owned(),
            message: describe(&err),
        }),
        Err(err) => {
            tracing::warn!(error = %describe(&err),
                "cannot read the queue's visibility timeout; jobs run without a heartbeat");
            Ok(None)
        }
    }
}

/// One receive after another, each when the buffer has room for a full one.
async fn receive_loop(
    pipeline: Arc<Pipeline>,
    mut stopped: watch::Receiver<bool>,
    ready: mpsc::Sender<Received>,
) -> Result<(), WorkerError> {
    let settings = &pipeline.settings;
    let mut receive_failures = 0u32;
    loop {
        let mut places = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
            places = Arc::clone(&pipeline.room).acquire_many_owned(pipeline.per_receive) => match places {
                Ok(places) => places,
                Err(_) => return Ok(()),
            },
        };
        let receive = pipeline
            .sqs
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(pipeline.per_receive as i32)
            .wait_time_seconds(settings.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send();
        let received = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
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
                drop(places);
                receive_failures += 1;
                let pause = Duration::from_millis(250 * 2u64.pow(receive_failures.min(5)));
                tracing::warn!(error = %describe(&err), pause_ms = pause.as_millis() as u64, "receive failed; trying again");
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return Ok(()),
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if messages.is_empty() {
            continue;
        }
        pipeline
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .batches += 1;
        for message in messages {
            let (Some(delivery), Some(place)) =
                (delivery_of(message, &settings.queue_url), places.split(1))
            else {
                continue;
            };
            // The channel holds as many as the buffer has room for: never waits.
            if ready.send((delivery, place)).await.is_err() {
                return Ok(());
            }
        }
    }
}

fn delivery_of(message: Message, queue_url: &str) -> Option<Delivery> {
    let receive_count = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Some(Delivery {
        message_id: message.message_id?,
        receipt_handle: Some(message.receipt_handle?),
        queue_url: Some(queue_url.to_owned()),
        queue_arn: None,
        body: message.body.unwrap_or_default(),
        receive_count,
    })
}

/// Runs one job in its slot and hands its message to the deleter once settled;
/// the slot frees when this returns.
async fn run_job(pipeline: Arc<Pipeline>, delivery: Delivery, slot: OwnedSemaphorePermit) {
    let outcome = pipeline.handler.process(&delivery).await;
    pipeline
        .stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .count(&outcome);
    if outcome.is_settled()
        && let Some(receipt_handle) = delivery.receipt_handle
    {
        // The deleter outlives every job: it stops only when all senders are gone.
        let _ = pipeline.settled.send(receipt_handle);
    }
    drop(slot);
}

/// Most delete calls in flight at once.
const DELETES_IN_FLIGHT: usize = 4;

/// Deletes settled messages, up to ten per call, waiting at most `linger` for
/// a call to fill. Returns when every sender is gone and all is deleted. A
/// message that cannot be deleted comes back and runs again: SQS delivers at
/// least once, and the ledger (when on) makes the second run a no-op.
async fn delete_settled(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    mut settled: mpsc::UnboundedReceiver<String>,
    linger: Duration,
) {
    let mut calls = JoinSet::new();
    while let Some(first) = settled.recv().await {
        let mut receipts = vec![first];
        let gathered = tokio::time::sleep(linger);
        tokio::pin!(gathered);
        while receipts.len() < 10 {
            tokio::select! {
                more = settled.recv() => match more {
                    Some(receipt) => receipts.push(receipt),
                    None => break,
                },
                () = &mut gathered => break,
            }
        }
        while calls.len() >= DELETES_IN_FLIGHT {
            calls.join_next().await;
        }
        calls.spawn(delete(sqs.clone(), queue_url.clone(), receipts));
    }
    while calls.join_next().await.is_some() {}
}

async fn delete(sqs: aws_sdk_sqs::Client, queue_url: String, receipts: Vec<String>) {
    let entries: Vec<_> = receipts
        .into_iter()
        .enumerate()
        .filter_map(|(i, receipt)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(receipt)
                .build()
                .ok()
        })
        .collect();
    let count = entries.len();
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
            tracing::error!(error = %describe(&err), count, "delete failed; the messages will run again");
        }
    }
}

/// Long-poll wait per receive, 0–20 seconds (default 20).
pub const WAIT_SECONDS_ENV: &str = "JOBS_WAIT_SECONDS";

/// Completes on SIGTERM or Ctrl-C: the worker binaries' shutdown.
pub async fn signal() {
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
    tracing::info!("stop requested; finishing the jobs in hand");
}
