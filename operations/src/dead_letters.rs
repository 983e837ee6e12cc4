//! The dead letters and their reasons, and sending them back: the retries and
//! dead views of a job dashboard, as library calls behind `jobs dlq …`.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName,
};
use producer::contract::attributes::{
    ERROR_CLASS, ERROR_CODE, ERROR_MESSAGE, FAILED_AT, JOB_ID, JOB_KIND, RECEIVE_COUNT, SOURCE,
    parse_source,
};
use producer::contract::envelope::Envelope;
use producer::contract::pointer::{PayloadPointer, is_payload_size_attribute};
use producer::send::queue::{number_attribute, string_attribute};

use producer::aws::ErrorClass;

use crate::served::Served;
use crate::{OpsError, ops_error};

/// How long listed dead letters stay hidden while a listing reads the queue;
/// they are made visible again as soon as it is done.
const LISTING_HIDE_SECONDS: i32 = 30;

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
    /// Deliveries before it was dead-lettered (`jobs.receive_count`), when recorded.
    pub attempts: String,
    pub body: String,
    /// The queue it failed on (`jobs.source`), when the handler recorded it.
    pub source_queue: Option<String>,
    /// Where its body says its envelope is stored, when its body is an
    /// Extended Client pointer; `body` is then the pointer. Only a pointer
    /// the stack [holds](Served::holds) is followed: [`stored_body`] reads it.
    pub payload: Option<PayloadPointer>,
    /// The pointer's size attribute as sent (`ExtendedPayloadSize`, or the
    /// older name), kept so that a redriven pointer is still one to every reader.
    payload_size: Option<(String, String)>,
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
        let payload_size = message.message_attributes.as_ref().and_then(|attributes| {
            attributes
                .iter()
                .find(|(name, _)| is_payload_size_attribute(name))
                .map(|(name, value)| {
                    (
                        name.clone(),
                        value.string_value().unwrap_or_default().to_owned(),
                    )
                })
        });
        let or = |found: String, fallback: Option<String>| {
            if found.is_empty() {
                fallback.unwrap_or_default()
            } else {
                found
            }
        };
        Some(DeadLetter {
            job_id: or(attribute(JOB_ID), decoded.as_ref().map(|e| e.id.clone())),
            kind: or(
                attribute(JOB_KIND),
                decoded.as_ref().map(|e| e.kind().to_owned()),
            ),
            // A message moved by the redrive policy carries no reason of ours.
            error_class: or(attribute(ERROR_CLASS), Some("transient".into())),
            error_code: or(attribute(ERROR_CODE), Some("max_receive_count".into())),
            reason: or(
                attribute(ERROR_MESSAGE),
                Some("moved by the queue's redrive policy after maxReceiveCount deliveries".into()),
            ),
            failed_at: attribute(FAILED_AT),
            attempts: attribute(RECEIVE_COUNT),
            source_queue: parse_source(&attribute(SOURCE)).0.map(str::to_owned),
            payload: PayloadPointer::from_body(&body),
            payload_size,
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
    /// The dead letters of one kind that failed with one error code.
    Group {
        kind: String,
        error_code: String,
    },
    /// A job id or an SQS message id.
    Id(String),
}

impl Selection {
    fn matches(&self, letter: &DeadLetter) -> bool {
        match self {
            Selection::All => true,
            Selection::Kind(kind) => &letter.kind == kind,
            Selection::Group { kind, error_code } => {
                &letter.kind == kind && &letter.error_code == error_code
            }
            Selection::Id(id) => &letter.job_id == id || &letter.message_id == id,
        }
    }
}

/// What a redrive did, or would do in a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redrive {
    /// Job ids sent back (or that would be, in a dry run).
    pub moved: Vec<String>,
    /// Dead letters left in the queue because the queue they name is not one
    /// this stack serves: each job id (or message id) with the reason.
    pub refused: Vec<(String, String)>,
    /// Dead letters read that the selection left alone.
    pub left: usize,
    /// Set when SQS moves everything itself (`StartMessageMoveTask`).
    pub move_task: Option<String>,
}

/// Sends the selected dead letters back, bodies unchanged: each to the queue
/// it failed on (its `jobs.source`) when `served` has it, else to `queue_url`.
/// A letter naming a queue the stack does not serve stays where it is, in
/// [`Redrive::refused`]: a message's attributes are its sender's word.
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
    served: &Served,
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
    let (chosen, left) = take(sqs, dlq_url, selection, limit).await?;
    let mut result = Redrive {
        left,
        ..Redrive::default()
    };
    let mut sendable = Vec::new();
    let mut refused = Vec::new();
    for letter in chosen {
        let destination = match letter.source_queue.as_deref() {
            Some(named) => served.queue(named).map(str::to_owned),
            None => Ok(queue_url.to_owned()),
        };
        match destination {
            Ok(destination) => sendable.push((letter, destination)),
            Err(why) => {
                result
                    .refused
                    .push((letter.name().to_owned(), why.to_string()));
                refused.push(letter);
            }
        }
    }
    release(sqs, dlq_url, &refused).await;
    let (chosen, destinations): (Vec<DeadLetter>, Vec<String>) = sendable.into_iter().unzip();
    if dry_run {
        result.moved = chosen.iter().map(|l| l.job_id.clone()).collect();
        release(sqs, dlq_url, &chosen).await;
        return Ok(result);
    }
    for (letter, destination) in chosen.iter().zip(&destinations) {
        let destination = destination.as_str();
        let mut send = sqs
            .send_message()
            .queue_url(destination)
            .message_body(&letter.body);
        if !letter.job_id.is_empty() {
            send = send.message_attributes(JOB_ID, string_attribute(&letter.job_id));
        }
        if !letter.kind.is_empty() {
            send = send.message_attributes(JOB_KIND, string_attribute(&letter.kind));
        }
        if let Some((name, size)) = &letter.payload_size {
            let size = size
                .parse()
                .map(number_attribute)
                .unwrap_or_else(|_| string_attribute(size));
            send = send.message_attributes(name, size);
        }
        if let Err(e) = send.send().await {
            release(sqs, dlq_url, &chosen).await;
            return Err(ops_error("SendMessage", destination)(e));
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

/// Reads up to `limit` dead letters and keeps the selected ones hidden; the
/// others are made visible again at once. Returns the selected and how many
/// were left.
async fn take(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    selection: &Selection,
    limit: usize,
) -> Result<(Vec<DeadLetter>, usize), OpsError> {
    let letters = receive_dead_letters(sqs, dlq_url, limit).await?;
    let (chosen, others): (Vec<DeadLetter>, Vec<DeadLetter>) =
        letters.into_iter().partition(|l| selection.matches(l));
    release(sqs, dlq_url, &others).await;
    Ok((chosen, others.len()))
}

/// What a delete or a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Job ids (or message ids, for a message with no job id) deleted.
    pub jobs: Vec<String>,
    /// Stored envelopes deleted with their pointer messages.
    pub stored_bodies: usize,
    /// Stored envelopes whose message is gone but that S3 did not delete,
    /// each with S3's answer; the bucket's lifecycle rule removes them later.
    pub bodies_left: Vec<String>,
    /// Pointers outside the payload bucket whose messages were deleted: what
    /// they point at was left alone.
    pub pointers_outside: Vec<String>,
}

impl Deleted {
    fn count(&mut self, letter: &DeadLetter) {
        self.jobs.push(letter.name().to_owned());
    }
}

impl DeadLetter {
    /// Its job id, or its message id when it has none.
    pub fn name(&self) -> &str {
        if self.job_id.is_empty() {
            &self.message_id
        } else {
            &self.job_id
        }
    }
}

/// The most of a stored envelope read for display.
pub const SHOWN_STORED_BYTES: usize = 4 * 1024 * 1024;

/// A dead letter's stored envelope, as far as it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredBody {
    /// The message carries its envelope itself.
    Inline,
    /// Its pointer is not into the payload bucket: the message's word alone,
    /// never followed. The text says so.
    Outside(String),
    /// Read from the payload bucket: the first [`SHOWN_STORED_BYTES`] at most,
    /// `cut` when there was more.
    Read { text: String, cut: bool },
}

/// Reads a pointer message's stored envelope from the payload bucket, at
/// most [`SHOWN_STORED_BYTES`] of it, streamed; a pointer anywhere else is
/// not followed.
pub async fn stored_body(
    s3: &aws_sdk_s3::Client,
    letter: &DeadLetter,
    served: &Served,
) -> Result<StoredBody, OpsError> {
    let Some(pointer) = &letter.payload else {
        return Ok(StoredBody::Inline);
    };
    if !served.holds(pointer) {
        return Ok(StoredBody::Outside(served.outside(pointer)));
    }
    let mut object = s3
        .get_object()
        .bucket(&pointer.bucket)
        .key(&pointer.key)
        .send()
        .await
        .map_err(ops_error("GetObject", &pointer.url()))?;
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Some(chunk) = object.body.next().await {
        let chunk = chunk.map_err(|e| OpsError {
            operation: "GetObject",
            queue_url: pointer.url(),
            class: ErrorClass::Transient,
            message: format!("the stored envelope could not be read: {e}"),
        })?;
        let room = SHOWN_STORED_BYTES - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(StoredBody::Read {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        cut,
    })
}

/// Deletes a pointer message's stored envelope, once the message is gone; a
/// pointer outside the payload bucket is left alone and counted.
async fn delete_stored(
    s3: &aws_sdk_s3::Client,
    letter: &DeadLetter,
    served: &Served,
    deleted: &mut Deleted,
) {
    let Some(pointer) = &letter.payload else {
        return;
    };
    if !served.holds(pointer) {
        deleted.pointers_outside.push(pointer.url());
        return;
    }
    match s3
        .delete_object()
        .bucket(&pointer.bucket)
        .key(&pointer.key)
        .send()
        .await
    {
        Ok(_) => deleted.stored_bodies += 1,
        Err(e) => deleted
            .bodies_left
            .push(ops_error("DeleteObject", &pointer.url())(e).to_string()),
    }
}

/// Deletes the selected dead letters for good (reading at most `limit`),
/// each pointer message with its stored envelope. The message goes first, so
/// a failure part-way never leaves a message whose envelope is gone; the rest
/// stay in the queue.
pub async fn delete(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    dlq_url: &str,
    selection: &Selection,
    limit: usize,
    served: &Served,
) -> Result<Deleted, OpsError> {
    let (chosen, _) = take(sqs, dlq_url, selection, limit).await?;
    let mut deleted = Deleted::default();
    for (i, letter) in chosen.iter().enumerate() {
        if let Err(e) = sqs
            .delete_message()
            .queue_url(dlq_url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
        {
            release(sqs, dlq_url, &chosen[i..]).await;
            return Err(ops_error("DeleteMessage", dlq_url)(e));
        }
        deleted.count(letter);
        delete_stored(s3, letter, served, &mut deleted).await;
    }
    Ok(deleted)
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

/// How long messages read by a purge stay hidden before their deletion.
const PURGE_HIDE_SECONDS: i32 = 60;

/// Deletes every dead letter, each pointer message with its stored envelope,
/// reading the queue until it answers empty. `PurgeQueue` would be quicker
/// but cannot say which envelopes were stored, and would leave them. Messages
/// another reader holds hidden at the time are not deleted. `progress` is
/// called with the count so far after each batch.
pub async fn purge(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    dlq_url: &str,
    served: &Served,
    mut progress: impl FnMut(usize),
) -> Result<Deleted, OpsError> {
    let mut deleted = Deleted::default();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(PURGE_HIDE_SECONDS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(ops_error("ReceiveMessage", dlq_url))?;
        let letters: Vec<DeadLetter> = output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(DeadLetter::from_message)
            .collect();
        if letters.is_empty() {
            return Ok(deleted);
        }
        let entries = letters
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&l.receipt_handle)
                    .build()
                    .ok()
            })
            .collect();
        let answer = sqs
            .delete_message_batch()
            .queue_url(dlq_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(ops_error("DeleteMessageBatch", dlq_url))?;
        if let Some(failed) = answer.failed.first() {
            return Err(OpsError {
                operation: "DeleteMessageBatch",
                queue_url: dlq_url.to_owned(),
                message: format!(
                    "sqs did not delete a dead letter: {} ({})",
                    failed.message.as_deref().unwrap_or("no reason given"),
                    failed.code
                ),
                class: if failed.sender_fault {
                    ErrorClass::Permanent
                } else {
                    ErrorClass::Transient
                },
            });
        }
        for letter in &letters {
            deleted.count(letter);
            delete_stored(s3, letter, served, &mut deleted).await;
        }
        progress(deleted.jobs.len());
    }
}
