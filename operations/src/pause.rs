//! Pausing a queue: a `jobs:paused` tag on it, which the worker reads (it
//! receives nothing more from the queue and finishes what it holds), and on
//! Lambda its event source mapping disabled, so no function is invoked for it.
//! Resuming undoes both.

use std::collections::HashMap;

use producer::contract::attributes::PAUSED_TAG;

use crate::queues::JobQueue;
use crate::{OpsError, ops_error};

/// The variable that names each queue's Lambda event source mapping:
/// `{"mailers": UUID, "default": UUID}` (the stack's `EventSourceIds` output).
pub const EVENT_SOURCES_ENV: &str = "JOBS_EVENT_SOURCE_IDS";

/// Reads `JOBS_EVENT_SOURCE_IDS`; empty when unset.
pub fn event_sources_from(value: Option<&str>) -> Result<HashMap<String, String>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(HashMap::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            format!("`{EVENT_SOURCES_ENV}` must be a JSON object of queue names to event source ids: {e}")
        }),
    }
}

/// A queue's pause, as its tag says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseState {
    Running,
    /// Paused, with the tag's value (when, as the console wrote it).
    Paused {
        since: String,
    },
}

/// Whether a queue is paused (`sqs:ListQueueTags`).
pub async fn state(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<PauseState, OpsError> {
    let output = sqs
        .list_queue_tags()
        .queue_url(queue_url)
        .send()
        .await
        .map_err(ops_error("ListQueueTags", queue_url))?;
    Ok(match output.tags().and_then(|tags| tags.get(PAUSED_TAG)) {
        Some(since) => PauseState::Paused {
            since: since.clone(),
        },
        None => PauseState::Running,
    })
}

/// Pauses a queue: tags it, then disables its event source mapping when it
/// has one. Returns what was done, for the operator.
pub async fn pause(
    sqs: &aws_sdk_sqs::Client,
    lambda: &aws_sdk_lambda::Client,
    queue: &JobQueue,
    event_source: Option<&str>,
) -> Result<String, OpsError> {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    sqs.tag_queue()
        .queue_url(&queue.url)
        .tags(PAUSED_TAG, &now)
        .send()
        .await
        .map_err(ops_error("TagQueue", &queue.url))?;
    let mut done = format!(
        "paused `{}`: workers receive nothing more from it",
        queue.name
    );
    if let Some(id) = event_source {
        set_event_source(lambda, id, false, &queue.url).await?;
        done.push_str(&format!(", and its Lambda event source `{id}` is disabled"));
    }
    Ok(done)
}

/// Resumes a queue: enables its event source mapping when it has one, then
/// removes the tag.
pub async fn resume(
    sqs: &aws_sdk_sqs::Client,
    lambda: &aws_sdk_lambda::Client,
    queue: &JobQueue,
    event_source: Option<&str>,
) -> Result<String, OpsError> {
    let mut done = format!("resumed `{}`", queue.name);
    if let Some(id) = event_source {
        set_event_source(lambda, id, true, &queue.url).await?;
        done.push_str(&format!(", and its Lambda event source `{id}` is enabled"));
    }
    sqs.untag_queue()
        .queue_url(&queue.url)
        .tag_keys(PAUSED_TAG)
        .send()
        .await
        .map_err(ops_error("UntagQueue", &queue.url))?;
    Ok(done)
}

async fn set_event_source(
    lambda: &aws_sdk_lambda::Client,
    id: &str,
    enabled: bool,
    queue_url: &str,
) -> Result<(), OpsError> {
    lambda
        .update_event_source_mapping()
        .uuid(id)
        .enabled(enabled)
        .send()
        .await
        .map_err(ops_error("UpdateEventSourceMapping", queue_url))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::update_event_source_mapping::{
        UpdateEventSourceMappingError, UpdateEventSourceMappingOutput,
    };
    use aws_sdk_sqs::operation::tag_queue::TagQueueOutput;
    use aws_sdk_sqs::operation::untag_queue::UntagQueueOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn queue() -> JobQueue {
        JobQueue {
            name: "mailers".into(),
            url: "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-mailers".into(),
            dead_letters: None,
        }
    }

    #[test]
    fn event_source_ids_are_a_json_object() {
        assert!(event_sources_from(None).unwrap().is_empty());
        let ids = event_sources_from(Some(r#"{"mailers": "a1b2"}"#)).unwrap();
        assert_eq!(ids["mailers"], "a1b2");
        let bad = event_sources_from(Some("mailers=a1b2")).unwrap_err();
        assert!(bad.contains("`JOBS_EVENT_SOURCE_IDS`"), "{bad}");
    }

    #[tokio::test]
    async fn on_lambda_a_pause_disables_the_event_source_and_a_resume_enables_it() {
        let tagged = mock!(aws_sdk_sqs::Client::tag_queue)
            .match_requests(|r| {
                r.queue_url() == Some(queue().url.as_str())
                    && r.tags().is_some_and(|t| t.contains_key(PAUSED_TAG))
            })
            .then_output(|| TagQueueOutput::builder().build());
        let untagged = mock!(aws_sdk_sqs::Client::untag_queue)
            .match_requests(|r| r.tag_keys() == [PAUSED_TAG])
            .then_output(|| UntagQueueOutput::builder().build());
        let disabled = mock!(aws_sdk_lambda::Client::update_event_source_mapping)
            .match_requests(|r| r.uuid() == Some("esm-1") && r.enabled() == Some(false))
            .then_output(|| {
                UpdateEventSourceMappingOutput::builder()
                    .state("Disabling")
                    .build()
            });
        let enabled = mock!(aws_sdk_lambda::Client::update_event_source_mapping)
            .match_requests(|r| r.uuid() == Some("esm-1") && r.enabled() == Some(true))
            .then_output(|| {
                UpdateEventSourceMappingOutput::builder()
                    .state("Enabling")
                    .build()
            });
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&tagged, &untagged]);
        let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&disabled, &enabled]);

        let paused = pause(&sqs, &lambda, &queue(), Some("esm-1")).await.unwrap();
        assert!(
            paused.contains("event source `esm-1` is disabled"),
            "{paused}"
        );
        assert_eq!(
            (
                tagged.num_calls(),
                disabled.num_calls(),
                enabled.num_calls()
            ),
            (1, 1, 0)
        );
        let resumed = resume(&sqs, &lambda, &queue(), Some("esm-1"))
            .await
            .unwrap();
        assert!(
            resumed.contains("event source `esm-1` is enabled"),
            "{resumed}"
        );
        assert_eq!((untagged.num_calls(), enabled.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_refused_event_source_update_is_reported_and_the_tag_stays() {
        let tagged =
            mock!(aws_sdk_sqs::Client::tag_queue).then_output(|| TagQueueOutput::builder().build());
        let untagged = mock!(aws_sdk_sqs::Client::untag_queue)
            .then_output(|| UntagQueueOutput::builder().build());
        let denied = || {
            mock!(aws_sdk_lambda::Client::update_event_source_mapping).then_error(|| {
                UpdateEventSourceMappingError::generic(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .message("not allowed")
                        .build(),
                )
            })
        };
        let (refused, refused_again) = (denied(), denied());
        let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&tagged, &untagged]);
        let lambda = mock_client!(aws_sdk_lambda, [&refused, &refused_again]);
        let error = pause(&sqs, &lambda, &queue(), Some("esm-1"))
            .await
            .unwrap_err();
        assert_eq!(error.operation, "UpdateEventSourceMapping");
        assert_eq!(tagged.num_calls(), 1, "the workers are paused all the same");
        // A resume that cannot enable the event source leaves the queue paused.
        assert!(
            resume(&sqs, &lambda, &queue(), Some("esm-1"))
                .await
                .is_err()
        );
        assert_eq!(untagged.num_calls(), 0);
    }
}
