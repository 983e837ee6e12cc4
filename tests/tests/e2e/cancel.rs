//! `jobs cancel` stops a job that has not run: a scheduled one at its next leg,
//! a due one when it is claimed. A job that ran cannot be cancelled.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use handler::Settings;
use integration_tests::{LocalAws, run_jobs, run_worker_until, unique_suffix};
use producer::SendOptions;
use producer::send::queue::schedule;

fn cancel(local: &LocalAws, job_id: &str, table: Option<&str>) -> Result<std::process::Output> {
    let mut env = Vec::new();
    if let Some(table) = table {
        env.push(("JOBS_IDEMPOTENCY_TABLE", table));
    }
    run_jobs(local, &env, &["cancel".to_owned(), job_id.to_owned()])
}

#[tokio::test]
async fn a_cancelled_job_never_runs_and_a_job_that_ran_cannot_be_cancelled() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cancel", 3, 30).await?;
    let marker = unique_suffix();
    let queue = local.queue(&queues.url);
    let now = SystemTime::now();
    let at = now + Duration::from_secs(6);

    // Two jobs for the same time, sent with a shorter first delay so the handler
    // sees them before they are due; one more, due at once.
    let (scheduled, _) = schedule(
        &local.text_mail(format!("cancel {marker} scheduled")),
        at,
        now,
    );
    let (control, _) = schedule(
        &local.text_mail(format!("cancel {marker} control")),
        at,
        now,
    );
    let due = local.text_mail(format!("cancel {marker} due"));
    for envelope in [&scheduled, &control] {
        queue.enqueue(envelope, SendOptions::delayed(1)).await?;
    }
    queue.enqueue(&due, SendOptions::default()).await?;

    for job in [&scheduled, &due] {
        let output = cancel(&local, &job.id, None)?;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            format!("cancelled job {}: it will not run", job.id)
        );
    }

    let handler = local
        .handler_with(
            local.ses.clone(),
            Settings {
                max_delay_seconds: 2,
                ..Settings::new(&queues.dlq_url)
            },
        )
        .with_ledger(local.ledger(Duration::from_secs(30))?);
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            let control_sent = !local
                .mails_with(&format!("cancel {marker} control"))?
                .is_empty();
            let empty = local.queue_depth(&queues.url).await? == 0;
            Ok((control_sent && empty).then_some(()))
        },
    )
    .await?;
    assert_eq!(stats.cancelled, 2, "{stats:?}");
    assert_eq!(stats.done, 1, "{stats:?}");
    let mails: Vec<String> = local
        .mails_with(&format!("cancel {marker}"))?
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(mails, [format!("cancel {marker} control")]);
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);

    let again = cancel(&local, &scheduled.id, None)?;
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("was already cancelled"));

    let too_late = cancel(&local, &control.id, None)?;
    assert_eq!(too_late.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&too_late.stderr).contains("has already run"),
        "{}",
        String::from_utf8_lossy(&too_late.stderr)
    );

    let no_ledger = cancel(&local, &control.id, Some(""))?;
    assert_eq!(no_ledger.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_ledger.stderr).contains("JOBS_IDEMPOTENCY_TABLE"));
    Ok(())
}
