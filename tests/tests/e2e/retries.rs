//! Backoff with jitter, the queue's own `maxReceiveCount`, calls that never answer, and jobs scheduled past SQS's
//! 15-minute delay.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use handler::{Backoff, Delivery, Handler, Outcome, Settings};
use integration_tests::fault_proxy::{FaultProxy, Protocol};
use integration_tests::{LocalAws, run_worker_until, unique_suffix};
use producer::SendOptions;

#[tokio::test]
async fn backoff_brings_a_failed_job_back_before_the_visibility_timeout() -> Result<()> {
    let local = LocalAws::connect().await?;
    // A minute of visibility: without backoff three deliveries take over two minutes.
    let queues = local.fresh_queues("backoff", 3, 60).await?;
    let envelope = local.text_mail(format!("backoff {}", unique_suffix()));
    local
        .queue(&queues.url)
        .enqueue(&envelope, SendOptions::default())
        .await?;
    let handler = local.handler_with(
        local.unreachable_ses(),
        Settings {
            backoff: Some(Backoff {
                base_seconds: 1,
                max_seconds: 2,
            }),
            ..Settings::new(&queues.dlq_url)
        },
    );
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(45),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? > 0).then_some(())) },
    )
    .await?;
    // Without `JOBS_MAX_RECEIVE_COUNT` the handler read the queue's count (3)
    // from its redrive policy: the third failure is its own dead letter, with
    // the reason, not a bare move by SQS.
    assert_eq!(
        (stats.retried, stats.dead_lettered),
        (2, 1),
        "two deliveries failed and backed off, the third dead-lettered: {stats:?}"
    );
    let letters = local.drain(&queues.dlq_url).await?;
    let reason = integration_tests::attribute(
        &letters[0],
        handler::batch::dead_letter_attributes::ERROR_MESSAGE,
    )
    .unwrap_or_default();
    assert!(reason.starts_with("gave up after 3 deliveries"), "{reason}");
    Ok(())
}

#[tokio::test]
async fn a_job_due_later_than_the_longest_delay_is_carried_forward_and_runs_on_time() -> Result<()>
{
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("schedule", 3, 30).await?;
    let marker = unique_suffix();
    let due = SystemTime::now() + Duration::from_secs(10);
    let mut envelope = local.text_mail(format!("scheduled {marker}"));
    envelope.not_before = Some(humantime::format_rfc3339_millis(due).to_string());
    // Sent at once, as a far-off job's last leg would be; the handler may delay
    // at most 2 s at a time here, so it must carry the job forward several times.
    local
        .queue(&queues.url)
        .enqueue(&envelope, SendOptions::default())
        .await?;
    let handler = local.handler_with(
        local.ses.clone(),
        Settings {
            max_delay_seconds: 2,
            ..Settings::new(&queues.dlq_url)
        },
    );
    let mut seen_at = None;
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(60),
        || {
            let found = local.mails_with(&marker).map(|m| !m.is_empty());
            if matches!(found, Ok(true)) && seen_at.is_none() {
                seen_at = Some(SystemTime::now());
            }
            async move { Ok(found?.then_some(())) }
        },
    )
    .await?;
    let seen_at = seen_at.expect("seen");
    assert!(seen_at >= due, "ran before its time");
    assert!(
        seen_at <= due + Duration::from_secs(10),
        "ran long after its time"
    );
    assert!(
        stats.rescheduled >= 2,
        "carried forward in legs of 2 s: {stats:?}"
    );
    assert_eq!(stats.done, 1);
    assert_eq!(local.mails_with(&marker)?.len(), 1);
    assert_eq!(local.queue_depth(&queues.url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_call_that_never_answers_is_cut_off_and_the_job_retried() -> Result<()> {
    let local = LocalAws::connect().await?;
    let silent = FaultProxy::start(
        local.env.get("AWS_ENDPOINT_URL_SESV2")?,
        Protocol::RestJson,
        0,
    )
    .await?;
    silent.hold();
    // Built as the binaries build it, from one configuration: with no queue and
    // no ledger, SES is the only service this handler calls.
    let config = local.config.to_builder().endpoint_url(silent.url()).build();
    let handler = Handler::new(
        &config,
        Settings {
            backoff: None,
            call_timeout: Duration::from_secs(1),
            ..Settings::new("http://unused-dead-letter-queue")
        },
    );
    let delivery = Delivery {
        message_id: "hung-1".into(),
        receipt_handle: None,
        queue_url: None,
        queue_arn: None,
        body: local.text_mail("never answered").to_json(),
        receive_count: 1,
        sent_at: None,
        job_id: None,
        payload_size: None,
        snoozed_until: None,
    };
    let outcome = tokio::time::timeout(Duration::from_secs(60), handler.process(&delivery))
        .await
        .context("the SES call was never cut off")?;
    silent.release();
    let Outcome::Retry { reason } = outcome else {
        bail!("a call that never answers is transient: {outcome:?}");
    };
    assert!(reason.contains("timeout"), "{reason}");
    assert!(silent.held() >= 1, "the call reached the silent proxy");
    Ok(())
}
