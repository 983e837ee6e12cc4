//! Sending jobs to SQS: validate everything first, then send.

use std::time::SystemTime;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
use futures::StreamExt as _;

use crate::aws::{ErrorClass, classify, describe};
use crate::contract::envelope::{Envelope, Job};
use crate::contract::pointer::{MAX_PAYLOAD_BYTES, PAYLOAD_SIZE, PayloadPointer, SCHEDULE_HORIZON};
use crate::contract::validate::{FieldError, MAX_DELAY_SECONDS, ValidationErrors, check_delay};

/// The environment variable read for the queue URL when none is given.
pub const QUEUE_URL_ENV: &str = "JOBS_QUEUE_URL";
/// SQS's default and largest message size (1 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_576;
/// Room kept in every message for the reason the handler attaches when it
/// dead-letters the message, so that a message that fits the queue always fits
/// its dead-letter queue too.
pub const DEAD_LETTER_HEADROOM_BYTES: usize = 4096;
/// SQS takes at most ten entries per `SendMessageBatch` call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// `SendMessageBatch` calls in flight at once, unless set otherwise.
pub const DEFAULT_SENDS_IN_FLIGHT: usize = 8;

/// Message attributes the producer sets (see [`crate::contract::attributes`]).
pub use crate::contract::attributes::{JOB_ID as ATTR_JOB_ID, JOB_KIND as ATTR_JOB_KIND};

/// Per-message options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Seconds before the message becomes visible, 0–900.
    pub delay_seconds: u32,
}

impl SendOptions {
    pub fn delayed(delay_seconds: u32) -> Self {
        SendOptions { delay_seconds }
    }
}

/// A job that passed every check, ready for SQS.
#[derive(Debug, Clone)]
struct Prepared {
    job_id: String,
    kind: String,
    /// The envelope, until it is stored; then the pointer to it.
    body: String,
    delay_seconds: u32,
    /// Its envelope goes to S3 and the message carries a pointer
    /// ([`crate::send::payloads`]); the message's body will be this long.
    offload: Option<usize>,
    /// Where the envelope was stored, and its size.
    stored: Option<(PayloadPointer, usize)>,
    /// The job's own time, when it has one.
    #[cfg(feature = "schedules")]
    not_before: Option<SystemTime>,
}

impl Prepared {
    /// When a job sent at `sent_at` is due, if it waits at all.
    #[cfg(feature = "schedules")]
    fn due_at(&self, sent_at: SystemTime) -> Option<SystemTime> {
        self.not_before.or_else(|| {
            (self.delay_seconds > 0)
                .then(|| sent_at + std::time::Duration::from_secs(u64::from(self.delay_seconds)))
        })
    }
}

impl Prepared {
    fn attributes(&self) -> Vec<(&'static str, MessageAttributeValue)> {
        let mut attributes = vec![
            (ATTR_JOB_ID, string_attribute(&self.job_id)),
            (ATTR_JOB_KIND, string_attribute(&self.kind)),
        ];
        if let Some((_, size)) = &self.stored {
            attributes.push((PAYLOAD_SIZE, number_attribute(*size as u64)));
        }
        attributes
    }

    /// Size as SQS counts it: the body plus each attribute's name, type and
    /// value; for an envelope that goes to S3, its pointer's.
    fn size(&self) -> usize {
        let attributes: usize = [
            (ATTR_JOB_ID, self.job_id.len()),
            (ATTR_JOB_KIND, self.kind.len()),
        ]
        .iter()
        .map(|(name, len)| name.len() + "String".len() + len)
        .sum();
        match self.offload {
            Some(pointer_len) => {
                let envelope_len = self
                    .stored
                    .as_ref()
                    .map_or(self.body.len(), |(_, size)| *size);
                pointer_len
                    + attributes
                    + PAYLOAD_SIZE.len()
                    + "Number".len()
                    + envelope_len.to_string().len()
            }
            None => self.body.len() + attributes,
        }
    }
}

/// What [`prepare`] needs to know of a payload store: envelopes over the
/// limit, or all of them, go to S3, and their pointers are this long.
#[derive(Debug, Clone, Copy)]
struct OffloadPlan {
    pointer_len: usize,
    always: bool,
}

/// Why a job was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// Nothing was sent: a job broke a rule. `index` is its place in the input.
    #[error("job {index} (id `{job_id}`) is invalid: {errors}")]
    Invalid {
        index: usize,
        job_id: String,
        errors: ValidationErrors,
    },
    #[error("sqs did not take the job: {message}")]
    Send { class: ErrorClass, message: String },
    #[error(
        "no queue: name one in the job's defaults or the call, or set `JOBS_QUEUE_URLS` \
         (with a `default`) or `{QUEUE_URL_ENV}`"
    )]
    NoQueue,
    #[error(transparent)]
    Routes(#[from] crate::send::routes::RoutesError),
    #[error("cannot find queue `{queue}`: {message}")]
    UnknownQueue {
        queue: String,
        class: ErrorClass,
        message: String,
    },
}

/// A job SQS took: its id, which cancels, shows or redrives it (`jobs cancel
/// ID`, `jobs dlq show ID`), and the id of the message that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub job_id: String,
    pub message_id: String,
}

/// One job of a batch that SQS accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentJob {
    pub index: usize,
    pub job_id: String,
    pub kind: String,
    pub message_id: String,
}

/// One job that SQS did not accept, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    pub index: usize,
    pub job_id: String,
    pub kind: String,
    pub code: String,
    pub message: String,
    /// SQS's own word: the entry itself was wrong, so resending it as is will fail again.
    pub sender_fault: bool,
}

/// What happened to each job of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub sent: Vec<SentJob>,
    pub failed: Vec<FailedJob>,
}

impl BatchReport {
    pub fn all_sent(&self) -> bool {
        self.failed.is_empty()
    }

    fn merge(&mut self, other: BatchReport) {
        self.sent.extend(other.sent);
        self.failed.extend(other.failed);
    }
}

/// A job queue on SQS.
#[derive(Debug, Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    max_message_bytes: usize,
    sends_in_flight: usize,
    #[cfg(feature = "schedules")]
    schedules: Option<crate::send::schedules::ScheduleBook>,
    #[cfg(feature = "large")]
    payloads: Option<crate::send::payloads::PayloadStore>,
}

impl Queue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Queue {
            sqs,
            url: url.into(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            sends_in_flight: DEFAULT_SENDS_IN_FLIGHT,
            #[cfg(feature = "schedules")]
            schedules: None,
            #[cfg(feature = "large")]
            payloads: None,
        }
    }

    /// Stores envelopes over the queue's limit (or all of them, see
    /// [`PayloadStore::always`](crate::send::payloads::PayloadStore::always))
    /// in S3 and sends pointers to them (feature `large`).
    #[cfg(feature = "large")]
    pub fn with_payloads(mut self, payloads: Option<crate::send::payloads::PayloadStore>) -> Self {
        self.payloads = payloads;
        self
    }

    fn offload_plan(&self, job_id: &str) -> Option<OffloadPlan> {
        #[cfg(feature = "large")]
        if let Some(store) = &self.payloads {
            return Some(OffloadPlan {
                pointer_len: store.pointer_len(job_id),
                always: store.stores_every_envelope(),
            });
        }
        let _ = job_id;
        None
    }

    /// Stores the envelope of a job that goes through S3, and points to it.
    async fn store_payload(&self, job: Prepared) -> Result<Prepared, (ErrorClass, String)> {
        #[cfg(feature = "large")]
        if let (Some(store), Some(_)) = (&self.payloads, job.offload) {
            let pointer = store.store(&job.job_id, &job.body).await?;
            let size = job.body.len();
            return Ok(Prepared {
                body: pointer.to_body(),
                stored: Some((pointer, size)),
                ..job
            });
        }
        Ok(job)
    }

    /// Removes the stored envelope of a job whose message was not sent.
    async fn unstore_payload(&self, job: &Prepared) {
        #[cfg(feature = "large")]
        if let (Some(store), Some((pointer, _))) = (&self.payloads, &job.stored) {
            store.remove(pointer).await;
        }
        let _ = job;
    }

    /// Lists every job sent with a time or a delay in the ledger, for the
    /// console (see [`crate::send::schedules`]).
    #[cfg(feature = "schedules")]
    pub fn with_schedules(
        mut self,
        schedules: Option<crate::send::schedules::ScheduleBook>,
    ) -> Self {
        self.schedules = schedules;
        self
    }

    /// Lists those of `sent` that wait, when schedules are listed.
    #[cfg(feature = "schedules")]
    async fn list_scheduled<'a>(
        &self,
        sent: impl IntoIterator<Item = &'a Prepared>,
        sent_at: SystemTime,
    ) {
        let Some(book) = &self.schedules else { return };
        let jobs: Vec<_> = sent
            .into_iter()
            .filter_map(|job| {
                Some(crate::send::schedules::ScheduledJob {
                    job_id: &job.job_id,
                    kind: &job.kind,
                    queue_url: &self.url,
                    body: &job.body,
                    due_at: job.due_at(sent_at)?,
                })
            })
            .collect();
        if !jobs.is_empty() {
            book.record(&jobs).await;
        }
    }

    /// How many `SendMessageBatch` calls [`Queue::enqueue_all`] and
    /// [`Queue::send_checked`] keep in flight (at least one).
    pub fn with_sends_in_flight(mut self, sends_in_flight: usize) -> Self {
        self.sends_in_flight = sends_in_flight.max(1);
        self
    }

    /// For a queue whose `MaximumMessageSize` is below SQS's 1 MiB.
    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks a job and the send options and measures the message, without sending.
    pub fn check(&self, envelope: &Envelope, options: SendOptions) -> Result<(), ValidationErrors> {
        self.prepare(envelope, options).map(drop)
    }

    fn prepare(
        &self,
        envelope: &Envelope,
        options: SendOptions,
    ) -> Result<Prepared, ValidationErrors> {
        prepare(
            envelope,
            options,
            self.max_message_bytes,
            self.offload_plan(&envelope.id),
        )
    }

    /// Sends one job; returns its id and the SQS message id. A refused job's
    /// staged file (an upload's `source` with `staged`) is removed with it.
    pub async fn enqueue(
        &self,
        envelope: &Envelope,
        options: SendOptions,
    ) -> Result<Sent, EnqueueError> {
        let sent = self.enqueue_one(envelope, options).await;
        if sent.is_err() {
            self.remove_staged([envelope]).await;
        }
        sent
    }

    async fn enqueue_one(
        &self,
        envelope: &Envelope,
        options: SendOptions,
    ) -> Result<Sent, EnqueueError> {
        let prepared = self
            .prepare(envelope, options)
            .map_err(|errors| EnqueueError::Invalid {
                index: 0,
                job_id: envelope.id.clone(),
                errors,
            })?;
        let prepared = self
            .store_payload(prepared)
            .await
            .map_err(|(class, message)| EnqueueError::Send { class, message })?;
        let mut request = self
            .sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(&prepared.body)
            .delay_seconds(delay_as_i32(prepared.delay_seconds));
        for (name, value) in prepared.attributes() {
            request = request.message_attributes(name, value);
        }
        #[cfg(feature = "schedules")]
        let sent_at = SystemTime::now();
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => {
                self.unstore_payload(&prepared).await;
                return Err(EnqueueError::Send {
                    class: classify(&err),
                    message: describe(&err),
                });
            }
        };
        #[cfg(feature = "schedules")]
        self.list_scheduled([&prepared], sent_at).await;
        Ok(Sent {
            job_id: prepared.job_id,
            message_id: output.message_id.unwrap_or_default(),
        })
    }

    /// Sends a job to run at `at`, however far ahead: the message waits up to
    /// SQS's 15 minutes, and the handler carries it forward from there until due.
    pub async fn enqueue_at(
        &self,
        envelope: &Envelope,
        at: SystemTime,
    ) -> Result<Sent, EnqueueError> {
        let (scheduled, options) = schedule(envelope, at, SystemTime::now());
        self.enqueue(&scheduled, options).await
    }

    /// Sends many jobs with `SendMessageBatch`, ten per call. Every job is checked
    /// before the first call, so an invalid one means nothing was sent. After
    /// that, each job's fate is reported on its own: SQS can accept some entries
    /// of a call and refuse others.
    /// Staged files of jobs that were not sent are removed.
    pub async fn enqueue_all(
        &self,
        jobs: &[(Envelope, SendOptions)],
    ) -> Result<BatchReport, EnqueueError> {
        let mut prepared = Vec::with_capacity(jobs.len());
        for (index, (envelope, options)) in jobs.iter().enumerate() {
            match self.prepare(envelope, *options) {
                Ok(job) => prepared.push((index, job)),
                Err(errors) => {
                    self.remove_staged(jobs.iter().map(|(e, _)| e)).await;
                    return Err(EnqueueError::Invalid {
                        index,
                        job_id: envelope.id.clone(),
                        errors,
                    });
                }
            }
        }
        let mut report = BatchReport::default();
        self.send_prepared(prepared, |chunk| report.merge(chunk))
            .await;
        report.sent.sort_by_key(|s| s.index);
        report.failed.sort_by_key(|f| f.index);
        self.remove_staged(
            report
                .failed
                .iter()
                .filter_map(|failed| jobs.get(failed.index).map(|(e, _)| e)),
        )
        .await;
        Ok(report)
    }

    /// Removes the staged files of jobs that were not sent.
    async fn remove_staged<'a>(&self, envelopes: impl IntoIterator<Item = &'a Envelope>) {
        #[cfg(feature = "large")]
        if let Some(store) = &self.payloads {
            for envelope in envelopes {
                store.remove_staged(envelope).await;
            }
        }
        #[cfg(not(feature = "large"))]
        let _ = envelopes;
    }

    /// An upload job for a file: its bytes inline when its message fits the
    /// queue, else the file staged in the payload bucket (streamed, see
    /// [`PayloadStore::stage_file`](crate::send::payloads::PayloadStore::stage_file))
    /// for the job to copy. Without a payload bucket, a file too large is
    /// read inline all the same and refused at send, naming `JOBS_PAYLOAD_BUCKET`.
    #[cfg(feature = "large")]
    pub async fn upload_job_for_file(
        &self,
        bucket: &str,
        key: &str,
        path: &std::path::Path,
    ) -> Result<crate::UploadJob, crate::send::payloads::StageError> {
        let read_error = |source| crate::send::payloads::StageError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        match &self.payloads {
            Some(store) if !fits_inline(size, self.max_message_bytes) => Ok(
                crate::UploadJob::from_source(bucket, key, store.stage_file(path).await?),
            ),
            _ => {
                let bytes = std::fs::read(path).map_err(read_error)?;
                Ok(crate::UploadJob::from_bytes(bucket, key, &bytes))
            }
        }
    }

    /// Sends jobs as an iterator yields them, each with its index, ten per call
    /// and several calls in flight, so that any number of jobs goes out in
    /// constant memory. `each` hears what became of every call, in the order
    /// of the jobs. The jobs must have been checked ([`Queue::check`]) before:
    /// one that fails its check here (its input changed since) is reported as
    /// failed and not sent.
    pub async fn send_checked<I>(&self, jobs: I, each: impl FnMut(BatchReport))
    where
        I: IntoIterator<Item = (usize, Envelope, SendOptions)>,
    {
        let mut refused = Vec::new();
        let prepared = jobs.into_iter().filter_map(|(index, envelope, options)| {
            match self.prepare(&envelope, options) {
                Ok(job) => Some((index, job)),
                Err(errors) => {
                    refused.push(FailedJob {
                        index,
                        job_id: envelope.id.clone(),
                        kind: envelope.kind().to_owned(),
                        code: "Invalid".into(),
                        message: errors.to_string(),
                        sender_fault: true,
                    });
                    None
                }
            }
        });
        let mut each = each;
        self.send_prepared(prepared, &mut each).await;
        if !refused.is_empty() {
            each(BatchReport {
                sent: Vec::new(),
                failed: refused,
            });
        }
    }

    async fn send_prepared(
        &self,
        prepared: impl IntoIterator<Item = (usize, Prepared)>,
        mut each: impl FnMut(BatchReport),
    ) {
        let chunks = Chunks {
            jobs: prepared.into_iter(),
            carried: None,
            max_bytes: self.max_message_bytes,
        };
        let mut reports = futures::stream::iter(chunks)
            .map(|chunk| self.send_chunk(chunk))
            .buffered(self.sends_in_flight);
        while let Some(report) = reports.next().await {
            each(report);
        }
    }

    async fn send_chunk(&self, chunk: Vec<(usize, Prepared)>) -> BatchReport {
        let mut report = BatchReport::default();
        let mut stored = Vec::with_capacity(chunk.len());
        for (index, job) in chunk {
            let (job_id, kind) = (job.job_id.clone(), job.kind.clone());
            match self.store_payload(job).await {
                Ok(job) => stored.push((index, job)),
                Err((class, message)) => report.failed.push(FailedJob {
                    index,
                    job_id,
                    kind,
                    code: "PayloadNotStored".into(),
                    message,
                    sender_fault: class == ErrorClass::Permanent,
                }),
            }
        }
        let chunk = stored;
        if chunk.is_empty() {
            return report;
        }
        let mut entries = Vec::with_capacity(chunk.len());
        for (index, job) in &chunk {
            let mut entry = SendMessageBatchRequestEntry::builder()
                // Batch entry ids only need to be unique within the call.
                .id(index.to_string())
                .message_body(&job.body)
                .delay_seconds(delay_as_i32(job.delay_seconds));
            for (name, value) in job.attributes() {
                entry = entry.message_attributes(name, value);
            }
            match entry.build() {
                Ok(entry) => entries.push(entry),
                Err(e) => report.failed.push(FailedJob {
                    index: *index,
                    job_id: job.job_id.clone(),
                    kind: job.kind.clone(),
                    code: "ConstructionFailure".into(),
                    message: e.to_string(),
                    sender_fault: true,
                }),
            }
        }
        #[cfg(feature = "schedules")]
        let sent_at = SystemTime::now();
        let result = self
            .sqs
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await;
        let job_of = |entry_id: &str| {
            let index = entry_id.parse::<usize>().ok()?;
            chunk
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(index, job)| (*index, job.job_id.clone(), job.kind.clone()))
        };
        match result {
            Ok(output) => {
                for ok in output.successful {
                    if let Some((index, job_id, kind)) = job_of(&ok.id) {
                        report.sent.push(SentJob {
                            index,
                            job_id,
                            kind,
                            message_id: ok.message_id,
                        });
                    }
                }
                for failed in output.failed {
                    if let Some((index, job_id, kind)) = job_of(&failed.id) {
                        report.failed.push(FailedJob {
                            index,
                            job_id,
                            kind,
                            code: failed.code,
                            message: failed.message.unwrap_or_default(),
                            sender_fault: failed.sender_fault,
                        });
                    }
                }
                #[cfg(feature = "schedules")]
                self.list_scheduled(
                    chunk
                        .iter()
                        .filter(|(index, _)| report.sent.iter().any(|s| s.index == *index))
                        .map(|(_, job)| job),
                    sent_at,
                )
                .await;
                // SQS answers for every entry; one it left out is reported rather than assumed sent.
                for (index, job) in &chunk {
                    let answered = report.sent.iter().any(|s| s.index == *index)
                        || report.failed.iter().any(|f| f.index == *index);
                    if !answered {
                        report.failed.push(FailedJob {
                            index: *index,
                            job_id: job.job_id.clone(),
                            kind: job.kind.clone(),
                            code: "NoAnswer".into(),
                            message: "sqs did not report on this entry".into(),
                            sender_fault: false,
                        });
                    }
                }
            }
            Err(err) => {
                let message = describe(&err);
                let sender_fault = classify(&err) == ErrorClass::Permanent;
                for (index, job) in &chunk {
                    report.failed.push(FailedJob {
                        index: *index,
                        job_id: job.job_id.clone(),
                        kind: job.kind.clone(),
                        code: err.code().unwrap_or("RequestFailed").to_owned(),
                        message: message.clone(),
                        sender_fault,
                    });
                }
            }
        }
        for (index, job) in &chunk {
            if report.failed.iter().any(|f| f.index == *index) {
                self.unstore_payload(job).await;
            }
        }
        report
    }
}

/// Jobs gathered into `SendMessageBatch` calls: at most ten entries, and at most
/// the queue's maximum size in all, which SQS also applies to a whole batch.
struct Chunks<I> {
    jobs: I,
    /// The job that did not fit the last call: it opens the next.
    carried: Option<(usize, Prepared)>,
    max_bytes: usize,
}

impl<I: Iterator<Item = (usize, Prepared)>> Iterator for Chunks<I> {
    type Item = Vec<(usize, Prepared)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut chunk = Vec::with_capacity(MAX_BATCH_ENTRIES);
        let mut bytes = 0;
        while let Some(job) = self.carried.take().or_else(|| self.jobs.next()) {
            let size = job.1.size();
            if !chunk.is_empty()
                && (chunk.len() == MAX_BATCH_ENTRIES || bytes + size > self.max_bytes)
            {
                self.carried = Some(job);
                break;
            }
            bytes += size;
            chunk.push(job);
        }
        (!chunk.is_empty()).then_some(chunk)
    }
}

/// Checks a job as [`Queue::check`] does, for a queue of `max_message_bytes`,
/// without a client.
pub fn check(
    envelope: &Envelope,
    options: SendOptions,
    max_message_bytes: usize,
) -> Result<(), ValidationErrors> {
    prepare(envelope, options, max_message_bytes, None).map(drop)
}

/// As [`check`], for a queue whose envelopes over the limit go to `store`.
#[cfg(feature = "large")]
pub(crate) fn check_through(
    envelope: &Envelope,
    options: SendOptions,
    max_message_bytes: usize,
    store: Option<&crate::send::payloads::PayloadStore>,
) -> Result<(), ValidationErrors> {
    let plan = store.map(|store| OffloadPlan {
        pointer_len: store.pointer_len(&envelope.id),
        always: store.stores_every_envelope(),
    });
    prepare(envelope, options, max_message_bytes, plan).map(drop)
}

/// Whether an upload of `size` bytes fits inline in a message of the queue:
/// its base64 (a third more), with room for the rest of the envelope.
pub fn fits_inline(size: u64, max_message_bytes: usize) -> bool {
    const ENVELOPE_ROOM: u64 = 8 * 1024;
    size.div_ceil(3) * 4 + ENVELOPE_ROOM
        <= max_message_bytes.saturating_sub(DEAD_LETTER_HEADROOM_BYTES) as u64
}

/// Checks a job and its send options and measures its message, as SQS will.
fn prepare(
    envelope: &Envelope,
    options: SendOptions,
    max_message_bytes: usize,
    offload: Option<OffloadPlan>,
) -> Result<Prepared, ValidationErrors> {
    let mut errors = match envelope.validate() {
        Ok(()) => Vec::new(),
        Err(ValidationErrors(errors)) => errors,
    };
    if let Err(e) = check_delay(options.delay_seconds) {
        errors.push(e);
    }
    let mut prepared = Prepared {
        job_id: envelope.id.clone(),
        kind: envelope.kind().to_owned(),
        body: envelope.to_json(),
        delay_seconds: options.delay_seconds,
        offload: None,
        stored: None,
        #[cfg(feature = "schedules")]
        not_before: envelope.due_at(),
    };
    let limit = max_message_bytes.saturating_sub(DEAD_LETTER_HEADROOM_BYTES);
    let offloaded = offload.filter(|plan| plan.always || prepared.size() > limit);
    if offloaded.is_some() && prepared.body.len() as u64 > MAX_PAYLOAD_BYTES {
        errors.push(FieldError::new(
            largest_field(&envelope.job),
            format!(
                "makes the envelope {} bytes; one stored in S3 may have {MAX_PAYLOAD_BYTES} (2 GB, as the SQS Extended Client's)",
                prepared.body.len()
            ),
        ));
    }
    // Stored envelopes and staged files expire with the payload bucket's
    // lifecycle rule: their jobs may not wait past the horizon.
    if (offloaded.is_some() || envelope.staged_source().is_some())
        && let Some(due) = envelope.due_at()
        && due > SystemTime::now() + SCHEDULE_HORIZON
    {
        errors.push(FieldError::new(
            "not_before",
            format!(
                "is more than {} days ahead; a job whose envelope or file goes through S3 may be scheduled at most that far, \
                 or what it stored could expire before it runs",
                SCHEDULE_HORIZON.as_secs() / 86_400
            ),
        ));
    }
    if let Some(plan) = offloaded {
        prepared.offload = Some(plan.pointer_len);
    }
    if prepared.size() > limit {
        errors.push(FieldError::new(
            largest_field(&envelope.job),
            format!(
                "makes the message {} bytes; the queue takes {} (its maximum of {} less {} kept for dead-letter reasons){}",
                prepared.size(),
                limit,
                max_message_bytes,
                DEAD_LETTER_HEADROOM_BYTES,
                if offload.is_some() {
                    ""
                } else {
                    "; a larger job goes through S3 when a payload bucket is set (`JOBS_PAYLOAD_BUCKET`, feature `large`)"
                }
            ),
        ));
    }
    if errors.is_empty() {
        Ok(prepared)
    } else {
        Err(ValidationErrors(errors))
    }
}

/// A queue's name: the last part of its URL.
pub fn queue_name_of(queue_url: &str) -> &str {
    queue_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// A `Number` message attribute.
pub fn number_attribute(value: u64) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(value.to_string())
        .build()
        .expect("data_type is set, the only required field")
}

/// A `String` message attribute.
pub fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set, the only required field")
}

/// The envelope stamped with `not_before = at`, and the first leg's delay: the
/// time left, rounded up, at most 900 seconds.
pub fn schedule(envelope: &Envelope, at: SystemTime, now: SystemTime) -> (Envelope, SendOptions) {
    let mut scheduled = envelope.clone();
    scheduled.not_before = Some(humantime::format_rfc3339_millis(at).to_string());
    let wait = at.duration_since(now).unwrap_or_default();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let delay_seconds = seconds.min(u64::from(MAX_DELAY_SECONDS)) as u32;
    (scheduled, SendOptions { delay_seconds })
}

fn delay_as_i32(delay_seconds: u32) -> i32 {
    // Validated to 0..=900 before any send.
    i32::try_from(delay_seconds).unwrap_or(i32::MAX)
}

/// The field to blame when a message is too large.
fn largest_field(job: &Job) -> &'static str {
    match job {
        Job::Upload(_) => "job.body_base64",
        Job::Http(http) if http.body.as_ref().is_some_and(|b| b.base64.is_some()) => {
            "job.body.base64"
        }
        Job::Http(_) => "job.body.text",
        Job::Custom(_) => "job",
        Job::Mail(mail) if mail.template.is_some() => "job.template.data",
        Job::Mail(mail) => {
            let text = mail.text.as_deref().map_or(0, str::len);
            let html = mail.html.as_deref().map_or(0, str::len);
            if html > text { "job.html" } else { "job.text" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::envelope::{MailJob, UploadJob};
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn mail(i: usize) -> Envelope {
        Envelope::new(Job::Mail(MailJob {
            from: "shop@example.com".into(),
            to: vec![format!("user{i}@example.com")],
            subject: format!("hello {i}"),
            text: Some("hi".into()),
            ..MailJob::default()
        }))
    }

    fn unused_client() -> aws_sdk_sqs::Client {
        let rule = mock!(aws_sdk_sqs::Client::send_message).then_output(|| {
            aws_sdk_sqs::operation::send_message::SendMessageOutput::builder().build()
        });
        mock_client!(aws_sdk_sqs, [&rule])
    }

    #[tokio::test]
    async fn an_invalid_job_anywhere_means_nothing_is_sent() {
        let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_output(|| {
            SendMessageBatchOutput::builder()
                .build()
                .expect("valid output")
        });
        let sqs = mock_client!(aws_sdk_sqs, [&rule]);
        let queue = Queue::new(sqs, "http://queue");
        let mut jobs: Vec<_> = (0..15).map(|i| (mail(i), SendOptions::default())).collect();
        jobs[12].1.delay_seconds = 901;
        let err = queue.enqueue_all(&jobs).await.expect_err("refused");
        match err {
            EnqueueError::Invalid { index, errors, .. } => {
                assert_eq!(index, 12);
                assert_eq!(errors.fields().collect::<Vec<_>>(), ["delay_seconds"]);
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn too_large_names_the_field() {
        let queue = Queue::new(unused_client(), "http://queue").with_max_message_bytes(20_000);
        let upload = Envelope::new(Job::Upload(UploadJob::from_bytes(
            "bucket",
            "k",
            &[7u8; 5000],
        )));
        assert!(queue.check(&upload, SendOptions::default()).is_ok());
        let upload = Envelope::new(Job::Upload(UploadJob::from_bytes(
            "bucket",
            "k",
            &[7u8; 12_000],
        )));
        let errors = queue
            .check(&upload, SendOptions::default())
            .expect_err("too large");
        assert_eq!(errors.fields().collect::<Vec<_>>(), ["job.body_base64"]);
        assert!(errors.to_string().contains("20000"), "{errors}");
        assert!(
            errors.to_string().contains("JOBS_PAYLOAD_BUCKET"),
            "the error says how larger jobs can go: {errors}"
        );
    }

    /// A job over the queue's limit goes through S3 with a payload store: its
    /// envelope stored, a pointer and its size sent. When SQS then refuses the
    /// message, the stored envelope is removed: nothing is left half-sent.
    #[cfg(feature = "large")]
    #[tokio::test]
    async fn a_large_job_goes_through_s3_and_a_refused_one_leaves_no_envelope() {
        use crate::contract::pointer::PayloadPointer;
        use crate::send::payloads::PayloadStore;
        use aws_smithy_types::retry::RetryConfig;

        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let delete = mock!(aws_sdk_s3::Client::delete_object).then_output(|| {
            aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build()
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&put, &delete]);
        let pointer_sent = mock!(aws_sdk_sqs::Client::send_message)
            .match_requests(|request| {
                let pointer = PayloadPointer::from_body(request.message_body().unwrap_or_default());
                let size = request
                    .message_attributes()
                    .and_then(|a| a.get(PAYLOAD_SIZE))
                    .and_then(|v| v.string_value());
                pointer.is_some_and(|p| p.bucket == "payloads" && p.key.starts_with("payloads/"))
                    && size.is_some_and(|size| size.parse::<usize>().is_ok_and(|n| n > 16_000))
            })
            .then_output(|| {
                aws_sdk_sqs::operation::send_message::SendMessageOutput::builder()
                    .message_id("m-1")
                    .build()
            });
        let refused = refused_send();
        let sqs = mock_client!(
            aws_sdk_sqs,
            RuleMode::Sequential,
            [&pointer_sent, &refused],
            |b| b.retry_config(RetryConfig::disabled())
        );
        let queue = Queue::new(sqs, "http://queue")
            .with_max_message_bytes(20_000)
            .with_payloads(Some(PayloadStore::new(s3, "payloads")));
        let upload = Envelope::new(Job::Upload(UploadJob::from_bytes(
            "bucket",
            "k",
            &[7u8; 12_000],
        )));
        assert!(queue.check(&upload, SendOptions::default()).is_ok());
        let sent = queue
            .enqueue(&upload, SendOptions::default())
            .await
            .expect("sent through s3");
        assert_eq!(sent.message_id, "m-1");
        assert_eq!((put.num_calls(), delete.num_calls()), (1, 0));

        let error = queue
            .enqueue(&upload, SendOptions::default())
            .await
            .expect_err("sqs refused the message");
        assert!(matches!(error, EnqueueError::Send { .. }), "{error}");
        assert_eq!(
            (put.num_calls(), delete.num_calls()),
            (2, 1),
            "the refused message's envelope was removed"
        );
    }

    /// A stored envelope expires with the payload bucket's lifecycle rule, so
    /// a job that would wait past the horizon is refused before anything is
    /// stored or sent; a small job is not held to it.
    #[cfg(feature = "large")]
    #[test]
    fn a_stored_job_may_be_scheduled_at_most_the_horizon_ahead() {
        use crate::send::payloads::{PayloadStore, SCHEDULE_HORIZON};
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        );
        let store = PayloadStore::new(s3, "payloads");
        let day = std::time::Duration::from_secs(86_400);
        let big = Envelope::new(Job::Upload(UploadJob::from_bytes(
            "bucket",
            "k",
            &[7u8; 12_000],
        )));
        let small = mail(1);
        // A staged file expires with the same rule; a source of the
        // application's own does not.
        let source = |staged| {
            Envelope::new(Job::Upload(UploadJob::from_source(
                "bucket",
                "k",
                crate::UploadSource {
                    bucket: "payloads".into(),
                    key: "payloads/staged/1".into(),
                    size: 50 << 20,
                    crc64nvme: "8D6X85qSMno=".into(),
                    staged,
                },
            )))
        };
        let (staged, own) = (source(true), source(false));
        let now = SystemTime::now();
        for (job, at, stored, refused) in [
            (&big, now + SCHEDULE_HORIZON - day, true, false),
            (&big, now + SCHEDULE_HORIZON + day, true, true),
            (&small, now + SCHEDULE_HORIZON + day, false, false),
            (&staged, now + SCHEDULE_HORIZON - day, true, false),
            (&staged, now + SCHEDULE_HORIZON + day, true, true),
            (&own, now + SCHEDULE_HORIZON + day, false, false),
        ] {
            let (scheduled, options) = schedule(job, at, now);
            let checked = check_through(&scheduled, options, 20_000, Some(&store));
            assert_eq!(checked.is_err(), refused, "stored {stored}: {checked:?}");
            if let Err(errors) = checked {
                assert_eq!(errors.fields().collect::<Vec<_>>(), ["not_before"]);
                assert!(errors.to_string().contains("14 days"), "{errors}");
            }
        }
    }

    /// A staged file belongs to its job: when the job is refused, by its
    /// checks or by SQS, the file goes; when it is sent, the file stays for
    /// the handler.
    #[cfg(feature = "large")]
    #[tokio::test]
    async fn a_refused_jobs_staged_file_is_removed() {
        use aws_smithy_types::retry::RetryConfig;

        use crate::send::payloads::PayloadStore;

        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| {
                r.bucket() == Some("payloads") && r.key() == Some("payloads/staged/1")
            })
            .then_output(|| {
                aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build()
            });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&delete]);
        let sent = mock!(aws_sdk_sqs::Client::send_message).then_output(|| {
            aws_sdk_sqs::operation::send_message::SendMessageOutput::builder()
                .message_id("m-1")
                .build()
        });
        let refused = refused_send();
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&sent, &refused], |b| b
            .retry_config(RetryConfig::disabled()));
        let queue =
            Queue::new(sqs, "http://queue").with_payloads(Some(PayloadStore::new(s3, "payloads")));
        let staged = Envelope::new(Job::Upload(UploadJob::from_source(
            "bucket",
            "k",
            crate::UploadSource {
                bucket: "payloads".into(),
                key: "payloads/staged/1".into(),
                size: 50 << 20,
                crc64nvme: "8D6X85qSMno=".into(),
                staged: true,
            },
        )));
        queue
            .enqueue(&staged, SendOptions::default())
            .await
            .expect("sent");
        assert_eq!(delete.num_calls(), 0, "a sent job keeps its file");
        queue
            .enqueue(&staged, SendOptions::default())
            .await
            .expect_err("sqs refused it");
        assert_eq!(delete.num_calls(), 1, "a refused one does not");
        let mut invalid = staged.clone();
        invalid.id = "not an id".into();
        let error = queue
            .enqueue(&invalid, SendOptions::default())
            .await
            .expect_err("invalid");
        assert!(matches!(error, EnqueueError::Invalid { .. }), "{error}");
        assert_eq!(delete.num_calls(), 2, "nor one its checks refused");
    }

    /// A `SendMessage` that SQS refuses as the sender's fault.
    #[cfg(feature = "large")]
    fn refused_send() -> aws_smithy_mocks::Rule {
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;

        mock!(aws_sdk_sqs::Client::send_message).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(400).expect("status"),
                SdkBody::from(r#"{"__type":"InvalidMessageContents","message":"refused"}"#),
            )
        })
    }

    #[test]
    fn a_schedule_waits_at_most_fifteen_minutes_per_leg_and_carries_its_time() {
        use std::time::Duration;
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_839_660);
        let job = mail(1);
        let (scheduled, options) = schedule(&job, now + Duration::from_secs(3 * 3600), now);
        assert_eq!(options.delay_seconds, 900);
        assert_eq!(
            scheduled.not_before.as_deref(),
            Some("2026-11-28T07:21:00.000Z")
        );
        assert_eq!(
            scheduled.due_at(),
            Some(now + Duration::from_secs(3 * 3600))
        );
        assert!(scheduled.validate().is_ok());
        let (_, options) = schedule(&job, now + Duration::from_millis(90_500), now);
        assert_eq!(options.delay_seconds, 91, "rounded up: never early");
        let (_, options) = schedule(&job, now - Duration::from_secs(5), now);
        assert_eq!(options.delay_seconds, 0);
    }

    #[tokio::test]
    async fn batches_go_ten_at_a_time_and_failures_are_reported_per_entry() {
        let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(|input| {
            let mut output = SendMessageBatchOutput::builder();
            for entry in input.entries() {
                // Refuse every entry whose id ends in 3.
                if entry.id().ends_with('3') {
                    output = output.failed(
                        BatchResultErrorEntry::builder()
                            .id(entry.id())
                            .code("InternalError")
                            .sender_fault(false)
                            .message("try again")
                            .build()
                            .expect("valid entry"),
                    );
                } else {
                    output = output.successful(
                        SendMessageBatchResultEntry::builder()
                            .id(entry.id())
                            .message_id(format!("m-{}", entry.id()))
                            .md5_of_message_body("x")
                            .build()
                            .expect("valid entry"),
                    );
                }
            }
            output.build().expect("valid output")
        });
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
        let queue = Queue::new(sqs, "http://queue");
        let jobs: Vec<_> = (0..25).map(|i| (mail(i), SendOptions::default())).collect();
        let report = queue.enqueue_all(&jobs).await.expect("valid");
        assert_eq!(rule.num_calls(), 3, "25 jobs take three calls");
        let failed: Vec<usize> = report.failed.iter().map(|f| f.index).collect();
        assert_eq!(failed, [3, 13, 23]);
        assert_eq!(report.sent.len(), 22);
        assert_eq!(report.failed[0].job_id, jobs[3].0.id);
        assert_eq!(report.failed[0].code, "InternalError");
        assert!(!report.all_sent());
    }
}
