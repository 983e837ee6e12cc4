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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName,
};
use producer::aws::{ErrorClass, classify, describe};
use producer::contract::attributes::PAUSED_TAG;
use producer::send::queue::QUEUE_URL_ENV;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::batch::{Delivery, Handler, Outcome, Settings, SettingsError};

/// A queue the worker serves: its name (for logs), URL and weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedQueue {
    pub name: String,
    pub url: String,
    /// Its share of the job slots when every queue has a backlog (weighted order).
    pub weight: u32,
}

impl ServedQueue {
    pub fn new(name: impl Into<String>, url: impl Into<String>, weight: u32) -> Self {
        ServedQueue {
            name: name.into(),
            url: url.into(),
            weight: weight.max(1),
        }
    }
}

/// How the worker chooses among its queues when a job slot frees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueOrder {
    /// Every queue is long-polled at once, each into a buffer of its own; a
    /// free slot takes the next job by the queues' weights (smooth weighted
    /// round robin: shares, not chances), from the queues that have one.
    #[default]
    Weighted,
    /// The first queue is long-polled; a later queue is received from only
    /// when a slot is free and every queue before it was just found empty by
    /// a short receive (`WaitTimeSeconds=0`), and what it gives starts at once.
    Strict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// The queues served, highest priority first (strict order).
    pub queues: Vec<ServedQueue>,
    pub order: QueueOrder,
    /// Long-poll wait per receive, 0–20 seconds.
    pub wait_seconds: i32,
    /// Messages per receive, 1–10.
    pub max_messages: i32,
    /// Receives in flight at once per long-polled queue; `None`: two, or one
    /// per ten job slots if more.
    pub receives_in_flight: Option<usize>,
    /// How long a settled message waits for others to be deleted with it. At
    /// 200 jobs a second (the local emulator's pace) one settles every 5 ms,
    /// so a 5 ms wait made about one `DeleteMessageBatch` call per job, each a
    /// request the queue must serve. A message whose delete waits stays
    /// hidden meanwhile: the wait costs only that much of its visibility timeout.
    pub delete_linger: Duration,
    /// The queues' visibility timeout, which the heartbeat keeps renewing for
    /// a running job; `None` reads it from the queues when the worker starts
    /// (the shortest of them).
    pub visibility_timeout: Option<Duration>,
    /// The longest pause between short receives of the later queues in strict
    /// order while every queue is empty.
    pub strict_idle_pause: Duration,
    /// How often job metrics are sent (`JOBS_METRICS_INTERVAL_SECONDS`).
    pub metrics_interval: Duration,
    /// How often the queues' tags are read for a pause (`JOBS_PAUSE_CHECK_SECONDS`).
    pub pause_check: Duration,
}

impl WorkerSettings {
    pub const RECEIVES_ENV: &str = "JOBS_RECEIVES_IN_FLIGHT";
    /// `mailers=3,default=1` (weighted) or `mailers,default`: names of
    /// `JOBS_QUEUE_URLS`, or URLs.
    pub const QUEUES_ENV: &str = "JOBS_QUEUES";
    /// `weighted` (the default) or `strict`.
    pub const ORDER_ENV: &str = "JOBS_QUEUE_ORDER";
    pub const PAUSE_CHECK_ENV: &str = "JOBS_PAUSE_CHECK_SECONDS";
    /// A pause is seen within this long: one `ListQueueTags` per queue each time.
    pub const DEFAULT_PAUSE_CHECK: Duration = Duration::from_secs(10);

    /// One queue.
    pub fn new(queue_url: impl Into<String>) -> Self {
        let url = queue_url.into();
        let name = producer::send::queue::queue_name_of(&url).to_owned();
        WorkerSettings::for_queues(vec![ServedQueue::new(name, url, 1)], QueueOrder::Weighted)
    }

    /// Several queues, highest priority first.
    pub fn for_queues(queues: Vec<ServedQueue>, order: QueueOrder) -> Self {
        WorkerSettings {
            queues,
            order,
            wait_seconds: 20,
            max_messages: 10,
            receives_in_flight: None,
            delete_linger: Duration::from_millis(50),
            visibility_timeout: None,
            strict_idle_pause: Duration::from_secs(1),
            metrics_interval: crate::metrics::DEFAULT_INTERVAL,
            pause_check: Self::DEFAULT_PAUSE_CHECK,
        }
    }

    /// The worker's settings from the environment: the queues (`JOBS_QUEUES`
    /// from `JOBS_QUEUE_URLS`; without it every queue of that map; without
    /// the map `JOBS_QUEUE_URL`), `JOBS_QUEUE_ORDER`, `JOBS_WAIT_SECONDS` and
    /// `JOBS_RECEIVES_IN_FLIGHT`.
    pub fn from_env(settings: &Settings) -> Result<Self, SettingsError> {
        let order = match std::env::var(Self::ORDER_ENV).as_deref() {
            Err(_) | Ok("") | Ok("weighted") => QueueOrder::Weighted,
            Ok("strict") => QueueOrder::Strict,
            Ok(other) => {
                return Err(SettingsError::Invalid(
                    Self::ORDER_ENV,
                    format!("must be `weighted` or `strict`, not `{other}`"),
                ));
            }
        };
        let queues = match std::env::var(Self::QUEUES_ENV) {
            Ok(spec) if !spec.trim().is_empty() => parse_queues(&spec, &settings.routes, order)
                .map_err(|problem| SettingsError::Invalid(Self::QUEUES_ENV, problem))?,
            _ if !settings.routes.is_empty() => settings
                .routes
                .iter()
                .map(|(name, url)| ServedQueue::new(name, url, 1))
                .collect(),
            _ => {
                let url = settings
                    .queue_url
                    .clone()
                    .ok_or(SettingsError::Missing(QUEUE_URL_ENV))?;
                WorkerSettings::new(url).queues
            }
        };
        let mut worker = WorkerSettings::for_queues(queues, order);
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
        if let Ok(seconds) = std::env::var(Self::PAUSE_CHECK_ENV)
            && !seconds.is_empty()
        {
            worker.pause_check =
                Duration::from_secs(seconds.parse().ok().filter(|n| *n > 0).ok_or(
                    SettingsError::NotAPositiveNumber(Self::PAUSE_CHECK_ENV, seconds),
                )?);
        }
        if let Ok(seconds) = std::env::var(crate::metrics::INTERVAL_ENV)
            && !seconds.is_empty()
        {
            worker.metrics_interval =
                Duration::from_secs(seconds.parse().ok().filter(|n| *n > 0).ok_or(
                    SettingsError::NotAPositiveNumber(crate::metrics::INTERVAL_ENV, seconds),
                )?);
        }
        Ok(worker)
    }

    fn receives_for(&self, concurrency: usize) -> usize {
        self.receives_in_flight
            .unwrap_or_else(|| concurrency.div_ceil(10).max(2))
            .max(1)
    }
}

/// Where the worker sends job metrics: a CloudWatch client (the `cloudwatch`
/// feature); without the feature there is no such client, only `None`.
#[cfg(feature = "cloudwatch")]
pub type MetricsClient = aws_sdk_cloudwatch::Client;
#[cfg(not(feature = "cloudwatch"))]
pub type MetricsClient = std::convert::Infallible;

/// The most a queue's weight may be.
const MAX_WEIGHT: u32 = 1000;

/// Reads `mailers=3,default=1` or `mailers,default` (names of `routes`, or URLs).
pub fn parse_queues(
    spec: &str,
    routes: &producer::send::routes::QueueRoutes,
    order: QueueOrder,
) -> Result<Vec<ServedQueue>, String> {
    let mut queues: Vec<ServedQueue> = Vec::new();
    for entry in spec.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(format!("an empty entry in `{spec}`"));
        }
        // A URL has no `=`; a weight follows the last one.
        let (queue, weight) = match entry.rsplit_once('=') {
            Some((queue, weight)) => {
                let weight: u32 = weight
                    .trim()
                    .parse()
                    .ok()
                    .filter(|w| (1..=MAX_WEIGHT).contains(w))
                    .ok_or_else(|| {
                        format!("queue `{queue}`: the weight must be a whole number from 1 to {MAX_WEIGHT}, not `{weight}`")
                    })?;
                if order == QueueOrder::Strict {
                    return Err(format!(
                        "queue `{queue}` has a weight, which strict order does not use: list the queues in order, highest first"
                    ));
                }
                (queue.trim(), weight)
            }
            None => (entry, 1),
        };
        let url = routes.url_of(queue).ok_or_else(|| {
            format!("queue `{queue}` is not in `JOBS_QUEUE_URLS` (name one of it, or give a URL)")
        })?;
        if queues.iter().any(|q| q.url == url) {
            return Err(format!("queue `{queue}` is listed twice"));
        }
        let name = routes
            .name_of(url)
            .unwrap_or_else(|| producer::send::queue::queue_name_of(url));
        queues.push(ServedQueue::new(name, url, weight));
    }
    Ok(queues)
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
    /// Jobs of a kind this handler does not run, retried within their grace period.
    pub unknown_kind: u64,
    pub rescheduled: u64,
    pub duplicates: u64,
    pub cancelled: u64,
    /// Jobs not started by their `expires_at`, dropped.
    pub expired: u64,
    /// Jobs whose `perform` asked to come back later.
    pub snoozed: u64,
}

impl WorkerStats {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Done => self.done += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::DeadLettered { .. } => self.dead_lettered += 1,
            Outcome::Retry { .. } => self.retried += 1,
            Outcome::UnknownKind { .. } => self.unknown_kind += 1,
            Outcome::Rescheduled { .. } => self.rescheduled += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Snoozed { .. } => self.snoozed += 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot receive from `{queue_url}`: {message}")]
    Receive { queue_url: String, message: String },
    #[error("no queue to serve")]
    NoQueue,
}

/// A sender of this channel stops the worker: send `true`, or drop it.
pub fn shutdown_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// What the receive loops, the starter and the jobs share.
struct Pipeline {
    handler: Handler,
    sqs: aws_sdk_sqs::Client,
    settings: WorkerSettings,
    /// One permit per running job: the bound across batches and queues.
    slots: Arc<Semaphore>,
    /// Per queue, one permit per received message not yet started: each
    /// queue has a buffer of its own, so an empty queue's long poll never
    /// holds another queue's room.
    room: Vec<Arc<Semaphore>>,
    /// Messages per receive: ten, or fewer when the buffer is smaller.
    per_receive: u32,
    buffers: Buffers,
    /// Per queue, where settled messages go to be deleted.
    settled: Vec<mpsc::UnboundedSender<String>>,
    stats: Mutex<WorkerStats>,
    /// Strict order: no feed looks at the later queues before this, after
    /// one found every queue empty.
    quiet_until: Mutex<tokio::time::Instant>,
    /// Strict order: the pause after the next feed that finds every queue empty.
    idle_pause: Mutex<Duration>,
    /// A feed's receive that cannot succeed, for the starter to report.
    feed_failure: Mutex<Option<WorkerError>>,
    /// Per queue, whether it is paused (its `jobs:paused` tag), as last read.
    paused: watch::Sender<Vec<bool>>,
    /// Per queue, whether its tags could not be read the last time.
    tags_unreadable: Mutex<Vec<bool>>,
}

impl Pipeline {
    fn is_paused(&self, queue: usize) -> bool {
        self.paused.borrow().get(queue).copied().unwrap_or(false)
    }
}

/// A received message waiting for a job slot, with its place in its buffer.
type Received = (Delivery, OwnedSemaphorePermit);

/// The received messages of every queue, and the weighted order's state.
struct Buffers {
    inner: Mutex<BufferState>,
    /// Wakes the starter (its only waiter) when a message is buffered or the
    /// receive loops are done.
    changed: Notify,
}

struct BufferState {
    queues: Vec<VecDeque<Received>>,
    weights: Vec<i64>,
    /// Smooth weighted round robin's running credit per queue.
    credit: Vec<i64>,
    /// Set once every receive loop has ended: what is buffered is all there is.
    closed: bool,
}

// Moved once per job taken from the buffers; boxing the delivery would cost
// an allocation per job instead.
#[allow(clippy::large_enum_variant)]
enum Picked {
    Job(usize, Received),
    Empty { closed: bool },
}

impl Buffers {
    fn new(queues: &[ServedQueue]) -> Self {
        Buffers {
            inner: Mutex::new(BufferState {
                queues: queues.iter().map(|_| VecDeque::new()).collect(),
                weights: queues.iter().map(|q| i64::from(q.weight.max(1))).collect(),
                credit: vec![0; queues.len()],
                closed: false,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BufferState> {
        lock(&self.inner)
    }

    fn push(&self, queue: usize, received: Received) {
        self.state().queues[queue].push_back(received);
        self.changed.notify_one();
    }

    fn close(&self) {
        self.state().closed = true;
        self.changed.notify_one();
    }

    /// The next job: in strict order the first queue's; weighted, by smooth
    /// weighted round robin among the queues that have one, so that under a
    /// backlog everywhere the starts follow the weights exactly.
    fn pick(&self, order: QueueOrder) -> Picked {
        let mut state = self.state();
        let ready: Vec<usize> = (0..state.queues.len())
            .filter(|&q| !state.queues[q].is_empty())
            .collect();
        let chosen = match (order, ready.as_slice()) {
            (_, []) => {
                return Picked::Empty {
                    closed: state.closed,
                };
            }
            (QueueOrder::Strict, [first, ..]) | (QueueOrder::Weighted, [first]) => *first,
            (QueueOrder::Weighted, _) => {
                let total: i64 = ready.iter().map(|&q| state.weights[q]).sum();
                for &q in &ready {
                    state.credit[q] += state.weights[q];
                }
                let best = ready
                    .iter()
                    .copied()
                    .max_by_key(|&q| (state.credit[q], std::cmp::Reverse(q)))
                    .unwrap_or(ready[0]);
                state.credit[best] -= total;
                best
            }
        };
        match state.queues[chosen].pop_front() {
            Some(received) => Picked::Job(chosen, received),
            None => Picked::Empty {
                closed: state.closed,
            },
        }
    }

    fn is_empty(&self, queue: usize) -> bool {
        self.state().queues[queue].is_empty()
    }
}

/// Receives and runs jobs until `shutdown` fires. Every job in hand is finished
/// (run, settled and its message deleted) before returning; a receive still in
/// flight is dropped, which loses nothing (nothing was received yet).
pub async fn run(
    handler: &Handler,
    sqs: &aws_sdk_sqs::Client,
    settings: &WorkerSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<WorkerStats, WorkerError> {
    run_with_metrics(handler, sqs, settings, shutdown, None).await
}

/// As [`run`], sending the handler's job metrics (when they are on) to
/// CloudWatch every `settings.metrics_interval`, and once more when it stops.
/// Without a client no metrics are counted.
pub async fn run_with_metrics(
    handler: &Handler,
    sqs: &aws_sdk_sqs::Client,
    settings: &WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
    metrics_to: Option<MetricsClient>,
) -> Result<WorkerStats, WorkerError> {
    if settings.queues.is_empty() {
        return Err(WorkerError::NoQueue);
    }
    let visibility_timeout = match settings.visibility_timeout {
        Some(timeout) => Some(timeout),
        None => {
            // The shortest, so the heartbeat beats in time on every queue.
            let mut shortest: Option<Duration> = None;
            for queue in &settings.queues {
                if let Some(timeout) = visibility_timeout_of(sqs, &queue.url).await? {
                    shortest = Some(shortest.map_or(timeout, |s| s.min(timeout)));
                }
            }
            shortest
        }
    };
    let concurrency = handler.settings().concurrency.max(1);
    let mut deleters = Vec::new();
    let mut settled = Vec::new();
    for queue in &settings.queues {
        let (sender, to_delete) = mpsc::unbounded_channel();
        settled.push(sender);
        deleters.push(tokio::spawn(delete_settled(
            sqs.clone(),
            queue.url.clone(),
            to_delete,
            settings.delete_linger,
        )));
    }
    let per_receive = settings.max_messages.clamp(1, 10).min(concurrency as i32) as u32;
    // One queue's buffer holds as many as there are job slots. Weighted over
    // several queues, each buffer holds two receives, so that one is on its
    // way while the other's messages wait: a buffer that ran dry while its
    // queue has a backlog would hand its share to the other queues.
    let buffer_depth = match (settings.order, settings.queues.len()) {
        (QueueOrder::Weighted, 2..) => concurrency.max(2 * per_receive as usize),
        _ => concurrency,
    };
    // Job metrics are counted only when they are sent somewhere.
    #[cfg(feature = "cloudwatch")]
    let metrics = metrics_to
        .zip(handler.metrics().cloned())
        .map(|(cloudwatch, metrics)| {
            let (stop, stopped) = watch::channel(false);
            let publisher =
                crate::metrics::cloudwatch::Publisher::new(cloudwatch, settings.metrics_interval);
            (stop, tokio::spawn(publisher.run(metrics, stopped)))
        });
    #[cfg(feature = "cloudwatch")]
    let counted = metrics.is_some();
    #[cfg(not(feature = "cloudwatch"))]
    let counted = metrics_to.is_some();
    let worker_handler = handler.clone().with_visibility_timeout(visibility_timeout);
    let pipeline = Arc::new(Pipeline {
        handler: if counted {
            worker_handler
        } else {
            worker_handler.without_metrics()
        },
        sqs: sqs.clone(),
        settings: settings.clone(),
        slots: Arc::new(Semaphore::new(concurrency)),
        room: settings
            .queues
            .iter()
            .map(|_| Arc::new(Semaphore::new(buffer_depth)))
            .collect(),
        per_receive,
        buffers: Buffers::new(&settings.queues),
        settled,
        stats: Mutex::default(),
        quiet_until: Mutex::new(tokio::time::Instant::now()),
        idle_pause: Mutex::new(Duration::from_millis(50)),
        feed_failure: Mutex::default(),
        paused: watch::channel(vec![false; settings.queues.len()]).0,
        tags_unreadable: Mutex::new(vec![false; settings.queues.len()]),
    });
    tracing::info!(
        queues = %settings.queues.iter().map(|q| format!("{}={}", q.name, q.weight)).collect::<Vec<_>>().join(","),
        order = ?settings.order,
        concurrency,
        metrics = %match pipeline.handler.metrics() {
            Some(metrics) => format!(
                "namespace {} every {}s",
                metrics.namespace(),
                settings.metrics_interval.as_secs()
            ),
            None => "off".to_owned(),
        },
        "worker started"
    );

    let (stop, stopped) = watch::channel(false);
    // Reads the pause of each queue before the first receive, then every
    // `pause_check`.
    read_pauses(&pipeline).await;
    let pause_watcher = tokio::spawn(watch_pauses(Arc::clone(&pipeline), stopped.clone()));
    let mut receivers = JoinSet::new();
    // In strict order only the first queue is long-polled; the starter
    // receives from the others when it may.
    let long_polled = match settings.order {
        QueueOrder::Weighted => settings.queues.len(),
        QueueOrder::Strict => 1,
    };
    for queue in 0..long_polled {
        for _ in 0..settings.receives_for(concurrency) {
            receivers.spawn(receive_loop(Arc::clone(&pipeline), queue, stopped.clone()));
        }
    }
    // Starts each received job as soon as a slot frees. It ends when every
    // receive loop has ended and the buffers are empty: what was received runs.
    let mut starter = tokio::spawn(start_jobs(Arc::clone(&pipeline), stopped.clone()));
    let mut failure = None;
    let mut starter_done = false;
    tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => {}
        Some(Ok(Err(e))) = receivers.join_next() => failure = Some(e),
        ended = &mut starter => {
            starter_done = true;
            if let Ok(Err(e)) = ended {
                failure = Some(e);
            }
        }
    }
    let _ = stop.send(true);
    while let Some(joined) = receivers.join_next().await {
        if let Ok(Err(e)) = joined {
            failure.get_or_insert(e);
        }
    }
    pipeline.buffers.close();
    pause_watcher.abort();
    if !starter_done && let Ok(Err(e)) = starter.await {
        failure.get_or_insert(e);
    }
    // Every running job holds a slot until its message is settled: holding them
    // all means nothing is in hand.
    let all_settled = pipeline.slots.acquire_many(concurrency as u32).await;
    drop(all_settled);
    let stats = *lock(&pipeline.stats);
    drop(pipeline);
    for deleter in deleters {
        let _ = deleter.await;
    }
    #[cfg(feature = "cloudwatch")]
    if let Some((stop, publisher)) = metrics {
        let _ = stop.send(true);
        let _ = publisher.await;
    }
    tracing::info!(
        batches = stats.batches,
        done = stats.done,
        skipped = stats.skipped,
        dead_lettered = stats.dead_lettered,
        retried = stats.retried,
        unknown_kind = stats.unknown_kind,
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

/// Makes received messages visible again at once. If that fails they come
/// back after the queue's visibility timeout all the same.
async fn put_back(sqs: &aws_sdk_sqs::Client, queue_url: &str, messages: Vec<Message>) {
    let entries: Vec<_> = messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .visibility_timeout(0)
                .build()
                .ok()
        })
        .collect();
    if let Err(e) = sqs
        .change_message_visibility_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        tracing::warn!(error = %describe(&e), "cannot put messages of a paused queue back; they come back after the visibility timeout");
    }
}

/// Reads each queue's tags once: a queue with the `jobs:paused` tag is paused.
/// A queue whose tags cannot be read keeps the state it had (the worker says
/// so once), so a missing permission never stops the jobs.
async fn read_pauses(pipeline: &Pipeline) {
    let mut states = pipeline.paused.borrow().clone();
    for (queue, served) in pipeline.settings.queues.iter().enumerate() {
        match pipeline
            .sqs
            .list_queue_tags()
            .queue_url(&served.url)
            .send()
            .await
        {
            Ok(output) => {
                lock(&pipeline.tags_unreadable)[queue] = false;
                let paused = output
                    .tags()
                    .is_some_and(|tags| tags.contains_key(PAUSED_TAG));
                if paused != states[queue] {
                    if paused {
                        tracing::info!(queue = %served.name, tag = PAUSED_TAG,
                            "queue paused: receiving nothing more from it; the jobs in hand finish");
                    } else {
                        tracing::info!(queue = %served.name, "queue resumed");
                    }
                    states[queue] = paused;
                }
            }
            Err(e) => {
                let already = std::mem::replace(&mut lock(&pipeline.tags_unreadable)[queue], true);
                if !already {
                    tracing::warn!(queue = %served.name, error = %describe(&e),
                        "cannot read the queue's tags to see whether it is paused (sqs:ListQueueTags); going on as before");
                }
            }
        }
    }
    pipeline.paused.send_if_modified(|current| {
        let changed = *current != states;
        *current = states;
        changed
    });
}

/// Reads the pauses every `pause_check` until the worker stops.
async fn watch_pauses(pipeline: Arc<Pipeline>, mut stopped: watch::Receiver<bool>) {
    loop {
        let stop = tokio::select! {
            stop = stopped.wait_for(|stop| *stop) => {
                drop(stop);
                true
            }
            () = tokio::time::sleep(pipeline.settings.pause_check) => false,
        };
        if stop {
            return;
        }
        read_pauses(&pipeline).await;
    }
}

/// One receive after another from one queue, each when its buffer has room
/// for a full one.
async fn receive_loop(
    pipeline: Arc<Pipeline>,
    queue: usize,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let settings = &pipeline.settings;
    let queue_url = &settings.queues[queue].url;
    let mut receive_failures = 0u32;
    let mut pauses = pipeline.paused.subscribe();
    loop {
        if pipeline.is_paused(queue) {
            // What was received before the pause still runs; nothing more is.
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return Ok(()),
                resumed = pauses.wait_for(|paused| !paused.get(queue).copied().unwrap_or(false)) => {
                    if resumed.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        let mut places = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
            places = Arc::clone(&pipeline.room[queue]).acquire_many_owned(pipeline.per_receive) => match places {
                Ok(places) => places,
                Err(_) => return Ok(()),
            },
        };
        let receive = receive(
            &pipeline,
            queue_url,
            pipeline.per_receive as i32,
            settings.wait_seconds,
        );
        let received = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
            received = receive => received,
        };
        let messages = match received {
            Ok(messages) => {
                receive_failures = 0;
                messages
            }
            Err(Failed::Permanent(e)) => return Err(e),
            Err(Failed::Transient(message)) => {
                drop(places);
                receive_failures += 1;
                let pause = Duration::from_millis(250 * 2u64.pow(receive_failures.min(5)));
                tracing::warn!(error = %message, queue = %settings.queues[queue].name, pause_ms = pause.as_millis() as u64, "receive failed; trying again");
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return Ok(()),
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if messages.is_empty() {
            continue;
        }
        if pipeline.is_paused(queue) {
            // A long poll under way when the pause was read: what it brought
            // goes back at once, unstarted.
            put_back(&pipeline.sqs, queue_url, messages).await;
            continue;
        }
        lock(&pipeline.stats).batches += 1;
        for message in messages {
            let (Some(delivery), Some(place)) = (delivery_of(message, queue_url), places.split(1))
            else {
                continue;
            };
            pipeline.buffers.push(queue, (delivery, place));
        }
    }
}

enum Failed {
    Permanent(WorkerError),
    Transient(String),
}

async fn receive(
    pipeline: &Pipeline,
    queue_url: &str,
    max_messages: i32,
    wait_seconds: i32,
) -> Result<Vec<Message>, Failed> {
    let received = pipeline
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max_messages)
        .wait_time_seconds(wait_seconds)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .message_attribute_names("All")
        .send()
        .await;
    match received {
        Ok(output) => Ok(output.messages.unwrap_or_default()),
        Err(err) if classify(&err) == ErrorClass::Permanent => {
            Err(Failed::Permanent(WorkerError::Receive {
                queue_url: queue_url.to_owned(),
                message: describe(&err),
            }))
        }
        Err(err) => Err(Failed::Transient(describe(&err))),
    }
}

/// Gives each free job slot the next job: from the buffers, or in strict
/// order from a later queue once every earlier one was just found empty.
async fn start_jobs(
    pipeline: Arc<Pipeline>,
    stopped: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let order = pipeline.settings.order;
    let feeds_later_queues = order == QueueOrder::Strict && pipeline.settings.queues.len() > 1;
    // Feeds in flight at once, as many as a long-polled queue's receives.
    let feeds = Arc::new(Semaphore::new(
        pipeline
            .settings
            .receives_for(pipeline.handler.settings().concurrency.max(1)),
    ));
    loop {
        let Ok(slot) = Arc::clone(&pipeline.slots).acquire_owned().await else {
            return Ok(());
        };
        loop {
            if let Some(failure) = lock(&pipeline.feed_failure).take() {
                return Err(failure);
            }
            // Made before looking, so a push in between still wakes it.
            let changed = pipeline.buffers.changed.notified();
            let closed = match pipeline.buffers.pick(order) {
                Picked::Job(queue, (delivery, place)) => {
                    drop(place);
                    tokio::spawn(run_job(Arc::clone(&pipeline), queue, delivery, slot));
                    break;
                }
                Picked::Empty { closed } => closed,
            };
            if closed {
                return Ok(());
            }
            if !feeds_later_queues || *stopped.borrow() {
                changed.await;
                continue;
            }
            // Every queue was found empty a moment ago: wait, unless the
            // first queue's receives bring a job meanwhile.
            let quiet_until = *lock(&pipeline.quiet_until);
            let feed = tokio::select! {
                () = changed => None,
                () = tokio::time::sleep_until(quiet_until) => {
                    tokio::select! {
                        biased;
                        // A job of the first queue goes first.
                        () = pipeline.buffers.changed.notified() => None,
                        feed = Arc::clone(&feeds).acquire_owned() => feed.ok(),
                    }
                }
            };
            let Some(feed) = feed else { continue };
            tokio::spawn(feed_job_slots(Arc::clone(&pipeline), slot, feed));
            break;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One feed in strict order: its slots get the jobs of the first queue that
/// has any; when every queue is empty, the feeds pause (50 ms, doubling to
/// the settings' longest) before the next looks again.
async fn feed_job_slots(
    pipeline: Arc<Pipeline>,
    slot: OwnedSemaphorePermit,
    feed: OwnedSemaphorePermit,
) {
    let current = *lock(&pipeline.idle_pause);
    match feed_in_order(&pipeline, slot).await {
        Ok(Fed::Started) => *lock(&pipeline.idle_pause) = Duration::from_millis(50),
        Ok(Fed::Nothing) => {}
        Ok(Fed::AllEmpty) => {
            *lock(&pipeline.idle_pause) = (current * 2).min(pipeline.settings.strict_idle_pause);
            *lock(&pipeline.quiet_until) = tokio::time::Instant::now() + current;
        }
        Err(failure) => {
            lock(&pipeline.feed_failure).get_or_insert(failure);
            // Wakes the starter to report it.
            pipeline.buffers.changed.notify_one();
        }
    }
    drop(feed);
}

/// Strict order, with a slot free and the first queue's buffer empty: short
/// receives (`WaitTimeSeconds=0`) of each queue in turn, as many messages as
/// there are free slots, and the first that gives any has its jobs started at
/// once: a message received here never waits in a buffer. The slots go
/// back free when every queue was empty, or when the first queue's receives
/// buffered a job meanwhile.
async fn feed_in_order(
    pipeline: &Arc<Pipeline>,
    slot: OwnedSemaphorePermit,
) -> Result<Fed, WorkerError> {
    let mut slots = vec![slot];
    while slots.len() < pipeline.per_receive as usize {
        match Arc::clone(&pipeline.slots).try_acquire_owned() {
            Ok(more) => slots.push(more),
            Err(_) => break,
        }
    }
    for (queue, served) in pipeline.settings.queues.iter().enumerate() {
        if !pipeline.buffers.is_empty(0) {
            // The first queue's receives brought a job: it goes first.
            return Ok(Fed::Nothing);
        }
        if pipeline.is_paused(queue) {
            continue;
        }
        let messages = match receive(pipeline, &served.url, slots.len() as i32, 0).await {
            Ok(messages) => messages,
            Err(Failed::Permanent(e)) => return Err(e),
            Err(Failed::Transient(message)) => {
                // Not known to be empty: the queues after it must wait.
                tracing::warn!(error = %message, queue = %served.name, "short receive failed; trying again");
                return Ok(Fed::AllEmpty);
            }
        };
        if messages.is_empty() {
            continue;
        }
        lock(&pipeline.stats).batches += 1;
        for message in messages {
            let (Some(delivery), Some(slot)) = (delivery_of(message, &served.url), slots.pop())
            else {
                continue;
            };
            tokio::spawn(run_job(Arc::clone(pipeline), queue, delivery, slot));
        }
        return Ok(Fed::Started);
    }
    Ok(Fed::AllEmpty)
}

/// What a feed did; the slots it did not fill are free again.
enum Fed {
    Started,
    /// Every queue was empty (or a receive failed): the feeds pause.
    AllEmpty,
    /// The first queue's receives buffered a job meanwhile.
    Nothing,
}

fn delivery_of(message: Message, queue_url: &str) -> Option<Delivery> {
    let system = |name: MessageSystemAttributeName| {
        message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&name))
            .cloned()
    };
    let receive_count = system(MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let sent_at = system(MessageSystemAttributeName::SentTimestamp)
        .and_then(|millis| Delivery::sent_timestamp(&millis));
    let attributes = Delivery::job_attributes(|name| {
        message
            .message_attributes
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(|a| a.string_value.clone())
    });
    Some(Delivery {
        message_id: message.message_id?,
        receipt_handle: Some(message.receipt_handle?),
        queue_url: Some(queue_url.to_owned()),
        queue_arn: None,
        body: message.body.unwrap_or_default(),
        receive_count,
        sent_at,
        job_id: attributes.job_id,
        payload_size: attributes.payload_size,
        snoozed_until: attributes.snoozed_until,
    })
}

/// Runs one job in its slot and hands its message to its queue's deleter once
/// settled; the slot frees when this returns.
async fn run_job(
    pipeline: Arc<Pipeline>,
    queue: usize,
    delivery: Delivery,
    slot: OwnedSemaphorePermit,
) {
    let outcome = pipeline.handler.process(&delivery).await;
    lock(&pipeline.stats).count(&outcome);
    if outcome.is_settled()
        && let Some(receipt_handle) = delivery.receipt_handle
    {
        // The deleter outlives every job: it stops only when all senders are gone.
        let _ = pipeline.settled[queue].send(receipt_handle);
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

#[cfg(test)]
mod tests {
    use super::*;
    use producer::send::routes::QueueRoutes;

    fn routes() -> QueueRoutes {
        QueueRoutes::from_pairs([
            ("mailers", "http://127.0.0.1:4566/000000000000/shop-mailers"),
            ("default", "http://127.0.0.1:4566/000000000000/shop-default"),
        ])
    }

    #[test]
    fn queues_are_read_with_their_weights_in_order() {
        let queues =
            parse_queues("mailers=3, default=1", &routes(), QueueOrder::Weighted).expect("valid");
        let read: Vec<_> = queues.iter().map(|q| (q.name.as_str(), q.weight)).collect();
        assert_eq!(read, [("mailers", 3), ("default", 1)]);
        assert!(queues[0].url.ends_with("/shop-mailers"));
        let strict = parse_queues("mailers,default", &routes(), QueueOrder::Strict).expect("valid");
        assert_eq!(strict[1].name, "default");
        let by_url =
            parse_queues("http://q/1/other=2", &routes(), QueueOrder::Weighted).expect("a URL");
        assert_eq!((by_url[0].name.as_str(), by_url[0].weight), ("other", 2));
    }

    #[test]
    fn a_bad_queue_list_names_the_queue_and_the_problem() {
        for (spec, order, said) in [
            (
                "mailers=3,reports=1",
                QueueOrder::Weighted,
                "queue `reports` is not in `JOBS_QUEUE_URLS`",
            ),
            (
                "mailers=0",
                QueueOrder::Weighted,
                "queue `mailers`: the weight must be a whole number from 1",
            ),
            ("mailers=x", QueueOrder::Weighted, "not `x`"),
            (
                "mailers=3,default",
                QueueOrder::Strict,
                "strict order does not use",
            ),
            ("mailers,mailers", QueueOrder::Weighted, "listed twice"),
            ("mailers,,default", QueueOrder::Weighted, "an empty entry"),
        ] {
            let err = parse_queues(spec, &routes(), order).expect_err(spec);
            assert!(err.contains(said), "{spec}: {err}");
        }
    }

    fn received(semaphore: &Arc<Semaphore>, id: usize) -> Received {
        let place = Arc::clone(semaphore).try_acquire_owned().expect("room");
        let delivery = Delivery {
            message_id: id.to_string(),
            receipt_handle: None,
            queue_url: None,
            queue_arn: None,
            body: String::new(),
            receive_count: 1,
            sent_at: None,
            job_id: None,
            payload_size: None,
            snoozed_until: None,
        };
        (delivery, place)
    }

    /// Under a backlog in every queue the starts follow the weights exactly,
    /// in every window of a few starts, not only on average.
    #[test]
    fn weighted_picks_follow_the_weights_and_strict_picks_the_first_queue() {
        let queues = [
            ServedQueue::new("mailers", "http://q/mailers", 3),
            ServedQueue::new("default", "http://q/default", 1),
        ];
        let room = Arc::new(Semaphore::new(2_000));
        let buffers = Buffers::new(&queues);
        for i in 0..500 {
            buffers.push(0, received(&room, i));
            buffers.push(1, received(&room, i));
        }
        let mut picks = Vec::new();
        for _ in 0..400 {
            match buffers.pick(QueueOrder::Weighted) {
                Picked::Job(queue, _) => picks.push(queue),
                Picked::Empty { .. } => panic!("both have a backlog"),
            }
        }
        assert_eq!(picks.iter().filter(|&&q| q == 0).count(), 300);
        for window in picks.chunks(4) {
            assert_eq!(window.iter().filter(|&&q| q == 1).count(), 1, "{window:?}");
        }
        // An empty queue's share goes to the others: no slot waits for it.
        let lone = Buffers::new(&queues);
        lone.push(1, received(&room, 0));
        assert!(matches!(lone.pick(QueueOrder::Weighted), Picked::Job(1, _)));
        assert!(matches!(
            lone.pick(QueueOrder::Weighted),
            Picked::Empty { closed: false }
        ));
        lone.close();
        assert!(matches!(
            lone.pick(QueueOrder::Weighted),
            Picked::Empty { closed: true }
        ));

        for _ in 0..20 {
            assert!(matches!(
                buffers.pick(QueueOrder::Strict),
                Picked::Job(0, _)
            ));
        }
    }
}
