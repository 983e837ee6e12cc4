//! The doctor's checks against the local AWS: a healthy setup, then one with its
//! dead-letter queue gone and a ledger table that does not exist.

use anyhow::Result;
use integration_tests::{LocalAws, unique_suffix};
use operations::doctor::{self, DoctorClients, DoctorInput, Report, Status, name};

/// The local AWS's clients: SQS, S3 and STS on LocalStack, SES v2 and DynamoDB on moto.
fn clients(local: &LocalAws) -> DoctorClients {
    DoctorClients {
        sqs: local.sqs.clone(),
        s3: local.s3.clone(),
        sesv2: local.ses.clone(),
        dynamodb: local.dynamodb.clone(),
        ..DoctorClients::new(&local.config)
    }
}

fn input(local: &LocalAws, queue_url: &str, dlq_url: &str, table: &str) -> DoctorInput {
    DoctorInput {
        queues: Vec::new(),
        queue_url: Some(queue_url.to_owned()),
        dlq_url: Some(dlq_url.to_owned()),
        table: Some(table.to_owned()),
        bucket: Some(local.bucket.clone()),
        sender: Some(local.sender.clone()),
        // The fresh queue's visibility timeout is 30 s: 6 × 5 s.
        function_timeout_seconds: Some(5),
    }
}

fn status_of(report: &Report, check: &str) -> Status {
    report
        .get(check)
        .unwrap_or_else(|| panic!("no `{check}` check in\n{report}"))
        .status
}

#[tokio::test]
async fn the_local_stack_is_healthy() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("doctor-ok", 3, 30).await?;
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?;
    let report = doctor::check(
        &clients(&local),
        &input(&local, &queues.url, &queues.dlq_url, table),
    )
    .await;
    println!("{report}\n{}", serde_json::to_string_pretty(&report)?);

    assert!(report.healthy(), "{report}");
    assert_eq!(
        report.checks.iter().map(|c| c.name).collect::<Vec<_>>(),
        [
            name::CREDENTIALS,
            name::REGION,
            name::QUEUE,
            name::DEAD_LETTER_QUEUE,
            name::REDRIVE_POLICY,
            name::VISIBILITY_TIMEOUT,
            name::LEDGER_TABLE,
            name::LEDGER_TTL,
            name::UPLOAD_BUCKET,
            name::SES_IDENTITY,
            name::SES_DKIM,
            name::SES_SENDING,
        ],
        "{report}"
    );
    for check in &report.checks {
        match check.status {
            Status::Ok => {}
            Status::Unchecked => assert!(
                !check.detail.is_empty(),
                "`{}` is unchecked without a reason:\n{report}",
                check.name
            ),
            Status::Problem => unreachable!("a healthy report has no problem"),
        }
        assert!(check.fix.is_none(), "`{}` has a fix:\n{report}", check.name);
    }
    // What LocalStack itself serves is checked for real, not waved through.
    for check in [
        name::CREDENTIALS,
        name::REGION,
        name::QUEUE,
        name::DEAD_LETTER_QUEUE,
        name::REDRIVE_POLICY,
        name::VISIBILITY_TIMEOUT,
        name::LEDGER_TABLE,
        name::LEDGER_TTL,
        name::UPLOAD_BUCKET,
    ] {
        assert_eq!(status_of(&report, check), Status::Ok, "{check}:\n{report}");
    }
    let redrive = &report.get(name::REDRIVE_POLICY).expect("checked").detail;
    assert!(redrive.contains("after 3 deliveries"), "{report}");

    let json = serde_json::to_value(&report)?;
    assert_eq!(json["healthy"], true, "{json}");
    assert_eq!(json["checks"][0]["name"], "credentials", "{json}");
    assert_eq!(json["checks"][0]["status"], "ok", "{json}");
    assert!(json["checks"][0]["fix"].is_null(), "{json}");
    Ok(())
}

#[tokio::test]
async fn a_missing_dead_letter_queue_and_table_are_named_with_their_fixes() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("doctor-bad", 3, 30).await?;
    local
        .sqs
        .delete_queue()
        .queue_url(&queues.dlq_url)
        .send()
        .await?;
    let table = format!("no-such-ledger-{}", unique_suffix());
    let report = doctor::check(
        &clients(&local),
        &input(&local, &queues.url, &queues.dlq_url, &table),
    )
    .await;
    println!("{report}");

    assert!(!report.healthy(), "{report}");
    let problems: Vec<&str> = report.problems().map(|c| c.name).collect();
    assert_eq!(
        problems,
        [name::DEAD_LETTER_QUEUE, name::LEDGER_TABLE],
        "{report}"
    );

    let dlq = report.get(name::DEAD_LETTER_QUEUE).expect("checked");
    assert!(
        dlq.detail.contains(&queues.dlq_url) && dlq.detail.contains("does not exist"),
        "{report}"
    );
    let fix = dlq.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("`--dlq-url`") && fix.contains("DeadLetterQueueUrl"),
        "{report}"
    );

    let ledger = report.get(name::LEDGER_TABLE).expect("checked");
    assert!(ledger.detail.contains(&format!("`{table}`")), "{report}");
    let fix = ledger.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("`--table`") && fix.contains("JOBS_IDEMPOTENCY_TABLE"),
        "{report}"
    );

    // What depends on the missing pieces is left unchecked, with the reason;
    // the rest is still checked.
    assert_eq!(
        status_of(&report, name::REDRIVE_POLICY),
        Status::Unchecked,
        "{report}"
    );
    assert_eq!(
        status_of(&report, name::LEDGER_TTL),
        Status::Unchecked,
        "{report}"
    );
    assert_eq!(status_of(&report, name::QUEUE), Status::Ok, "{report}");
    assert_eq!(
        status_of(&report, name::UPLOAD_BUCKET),
        Status::Ok,
        "{report}"
    );

    let text = report.to_string();
    assert!(
        text.contains("✗ dead-letter queue") && text.contains("✗ ledger table"),
        "{text}"
    );
    assert!(text.contains("fix: pass the queue's URL as"), "{text}");
    let json = serde_json::to_value(&report)?;
    assert_eq!(json["healthy"], false, "{json}");
    Ok(())
}
