//! A job delivered twice takes effect once; an id names one job only; a crashed
//! delivery's lease holds the job until it runs out, then the job runs; of
//! many claims at once, one wins.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use handler::batch::dead_letter_attributes as attr;
use handler::ledger::{Claim, epoch_seconds, payload_sha256};
use handler::{Backoff, Settings};
use integration_tests::{LocalAws, attribute, run_worker_until, unique_suffix};
use producer::{Job, SendOptions};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_job_delivered_twice_takes_effect_once() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("twice", 3, 5).await?;
    let marker = unique_suffix();
    let envelope = local.text_mail(format!("twice {marker}"));
    for _ in 0..2 {
        local
            .sqs
            .send_message()
            .queue_url(&queues.url)
            .message_body(envelope.to_json())
            .send()
            .await?;
    }
    let handler = local
        .handler(&queues.dlq_url, None)
        .with_ledger(local.ledger(Duration::from_secs(30))?);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok(
            (local.queue_depth(&queues.url).await? == 0 && !local.mails_with(&marker)?.is_empty())
                .then_some(()),
        )
    })
    .await?;
    assert_eq!(
        local.mails_with(&marker)?.len(),
        1,
        "one mail for two deliveries"
    );
    assert_eq!((stats.done, stats.duplicates), (1, 1), "{stats:?}");
    Ok(())
}

#[tokio::test]
async fn an_id_used_again_for_a_different_job_is_refused() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("conflict", 3, 5).await?;
    let marker = unique_suffix();
    let first = local
        .text_mail(format!("first {marker}"))
        .with_id(format!("order-{marker}"));
    let mut second = first.clone();
    if let Job::Mail(m) = &mut second.job {
        m.subject = format!("second {marker}");
    }
    let handler = local
        .handler(&queues.dlq_url, None)
        .with_ledger(local.ledger(Duration::from_secs(30))?);
    local
        .queue(&queues.url)
        .enqueue(&first, SendOptions::default())
        .await?;
    run_worker_until(handler.clone(), &local, &queues.url, WAIT, || async {
        Ok((!local.mails_with(&format!("first {marker}"))?.is_empty()).then_some(()))
    })
    .await?;
    local
        .queue(&queues.url)
        .enqueue(&second, SendOptions::default())
        .await?;
    run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? > 0).then_some(()))
    })
    .await?;
    let dead = local.drain(&queues.dlq_url).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attribute(&dead[0], attr::ERROR_CODE).as_deref(),
        Some("id_conflict")
    );
    assert!(
        local.mails_with(&format!("second {marker}"))?.is_empty(),
        "the second job was not sent"
    );
    Ok(())
}

#[tokio::test]
async fn a_crashed_deliverys_lease_holds_the_job_until_it_runs_out() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("lease", 10, 5).await?;
    let marker = unique_suffix();
    let envelope = local.text_mail(format!("lease {marker}"));
    // What a delivery leaves when it dies mid-send: an in-progress claim whose
    // lease has a few seconds to run.
    let lease_until = epoch_seconds(SystemTime::now()) + 4;
    local
        .dynamodb
        .put_item()
        .table_name(local.env.get("JOBS_IDEMPOTENCY_TABLE")?)
        .item("job_id", AttributeValue::S(envelope.id.clone()))
        .item("state", AttributeValue::S("in_progress".into()))
        .item(
            "payload_sha256",
            AttributeValue::S(payload_sha256(&envelope)),
        )
        .item("token", AttributeValue::S("the-delivery-that-died".into()))
        .item("lease_until", AttributeValue::N(lease_until.to_string()))
        .item(
            "expires_at",
            AttributeValue::N((lease_until + 3600).to_string()),
        )
        .send()
        .await?;
    local
        .queue(&queues.url)
        .enqueue(&envelope, SendOptions::default())
        .await?;
    let handler = local
        .handler_with(
            local.ses.clone(),
            Settings {
                backoff: Some(Backoff {
                    base_seconds: 1,
                    max_seconds: 1,
                }),
                ..Settings::new(&queues.dlq_url)
            },
        )
        .with_ledger(local.ledger(Duration::from_secs(30))?);
    let mut sent_at = None;
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || {
        let found = local.mails_with(&marker).map(|m| !m.is_empty());
        if matches!(found, Ok(true)) && sent_at.is_none() {
            sent_at = Some(epoch_seconds(SystemTime::now()));
        }
        async move { Ok(found?.then_some(())) }
    })
    .await?;
    assert!(
        stats.retried >= 1,
        "the live lease sent the job back: {stats:?}"
    );
    assert!(
        sent_at.unwrap_or_default() >= lease_until,
        "sent while the lease held"
    );
    assert_eq!(local.mails_with(&marker)?.len(), 1);
    Ok(())
}

/// The claim is one conditional write, so of many deliveries claiming a job at
/// the same moment exactly one is granted; the others find it busy. (DynamoDB
/// applies each conditional write atomically; the local moto must too.)
#[tokio::test]
async fn of_many_claims_at_once_exactly_one_is_granted() -> Result<()> {
    const CLAIMS: usize = 16;
    let local = LocalAws::connect().await?;
    let ledger = local.ledger(Duration::from_secs(30))?;
    for round in 0..5 {
        let job_id = format!("claimed-at-once-{round}-{}", unique_suffix());
        let mut claims = tokio::task::JoinSet::new();
        for _ in 0..CLAIMS {
            let (ledger, job_id) = (ledger.clone(), job_id.clone());
            claims.spawn(async move {
                ledger
                    .claim(handler::ledger::ClaimFor {
                        job_id: &job_id,
                        payload_sha256: "same-payload",
                        kind: "mail",
                        queue: "default",
                    })
                    .await
            });
        }
        let mut outcomes = Vec::with_capacity(CLAIMS);
        while let Some(claim) = claims.join_next().await {
            outcomes.push(claim??);
        }
        let granted = outcomes
            .iter()
            .filter(|c| matches!(c, Claim::Granted { .. }))
            .count();
        assert_eq!(granted, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|c| matches!(c, Claim::Granted { .. } | Claim::Busy { .. })),
            "{outcomes:?}"
        );
    }
    Ok(())
}
