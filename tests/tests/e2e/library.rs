//! The Rust library's typed jobs: defaults per job type, overrides per call,
//! queues by name.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use aws_sdk_sqs::types::QueueAttributeName;
use integration_tests::{LocalAws, unique_suffix};
use producer::{EnqueueError, EnqueueOptions, Envelope, JobType, Jobs};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct NightlyReport {
    bucket: String,
    key: String,
}

impl JobType for NightlyReport {
    const KIND: &'static str = "nightly_report";
    fn defaults() -> EnqueueOptions {
        EnqueueOptions::default().delay_seconds(300)
    }
}

#[tokio::test]
async fn a_job_type_carries_defaults_that_a_call_can_override() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("library", 3, 5).await?;
    let queue_name = producer::send::queue::queue_name_of(&queues.url).to_owned();
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queue_name);
    let report = NightlyReport {
        bucket: local.bucket.clone(),
        key: format!("tests/{}/nightly.txt", unique_suffix()),
    };

    let first = jobs.enqueue(&report).await?;
    assert!(!first.message_id.is_empty() && !first.job_id.is_empty());
    let delayed = local
        .queue_attribute(
            &queues.url,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        )
        .await?;
    assert_eq!(delayed, "1", "the type's default delay applies");

    let id = format!("nightly-{}", unique_suffix());
    let second = jobs
        .enqueue_with(&report, EnqueueOptions::default().delay_seconds(0).id(&id))
        .await?;
    assert_ne!(first, second);
    let received = local.receive(&queues.url, 5).await?;
    let messages = received;
    assert_eq!(messages.len(), 1, "only the undelayed one is visible");
    assert_eq!(
        messages[0].message_id.as_deref(),
        Some(second.message_id.as_str())
    );
    let envelope = Envelope::decode(messages[0].body().unwrap_or_default())?;
    assert_eq!(envelope.id, id);
    assert_eq!(second.job_id, id, "enqueue gives the job's id back");

    let missing = jobs
        .enqueue_with(
            &report,
            EnqueueOptions::default().queue(format!("no-such-queue-{}", unique_suffix())),
        )
        .await
        .expect_err("an unknown queue name");
    assert!(
        matches!(missing, EnqueueError::UnknownQueue { .. }),
        "{missing}"
    );
    let nowhere = Jobs::new(local.sqs.clone())
        .enqueue(&report)
        .await
        .expect_err("no queue at all");
    assert!(matches!(nowhere, EnqueueError::NoQueue), "{nowhere}");
    Ok(())
}

#[tokio::test]
async fn enqueue_with_after_delays_the_job() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("library-after", 3, 5).await?;
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    let report = NightlyReport {
        bucket: local.bucket.clone(),
        key: "tests/after.txt".into(),
    };
    let enqueued = SystemTime::now();
    let started = Instant::now();
    let wait = Duration::from_secs(4);
    let message_id = jobs
        .enqueue_with(
            &report,
            // The type's 300 s default delay gives way to the call's time.
            EnqueueOptions::default().after(wait),
        )
        .await?
        .message_id;
    assert!(
        local.receive(&queues.url, 1).await?.is_empty(),
        "not visible before its time"
    );
    let message = loop {
        let mut received = local.receive(&queues.url, 2).await?;
        if let Some(message) = received.pop() {
            break message;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the job never came"
        );
    };
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "visible after {:?}",
        started.elapsed()
    );
    assert_eq!(message.message_id.as_deref(), Some(message_id.as_str()));
    let envelope = Envelope::decode(message.body().unwrap_or_default())?;
    assert_eq!(envelope.kind(), "nightly_report");
    let due = envelope.due_at().expect("the job carries its time");
    let off = due
        .duration_since(enqueued + wait)
        .unwrap_or_else(|e| e.duration());
    assert!(
        off < Duration::from_secs(1),
        "due {off:?} away from its time"
    );
    Ok(())
}
