//! Enqueue → SQS → handler → SES/S3, and what happens to failures.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use handler::Outcome;
use handler::batch::dead_letter_attributes as attr;
use handler::worker::WorkerStats;
use integration_tests::{LocalAws, attribute, eventually, run_worker_until, unique_suffix};
use producer::{Envelope, Job, MailJob, SendOptions, UploadJob};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn mail_is_sent_with_its_sender_recipients_subject_and_body() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("mail", 3, 5).await?;
    let marker = unique_suffix();
    let envelope = Envelope::new(Job::Mail(MailJob {
        from: format!("Shop <{}>", local.sender),
        to: vec!["ann@example.com".into(), "Bob <bob@example.com>".into()],
        cc: vec!["carol@example.com".into()],
        bcc: vec!["audit@example.com".into()],
        subject: format!("Your product is about to expire! {marker}"),
        text: Some(format!("Product 42 expires in 3 days. {marker}")),
        ..MailJob::default()
    }));
    local
        .queue(&queues.url)
        .enqueue(&envelope, SendOptions::default())
        .await?;

    let handler = local.handler(&queues.dlq_url, None);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((!local.mails_with(&marker)?.is_empty()).then_some(()))
    })
    .await?;

    let mails = local.mails_with(&marker)?;
    assert_eq!(mails.len(), 1, "exactly one mail: {mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.source, format!("Shop <{}>", local.sender));
    assert_eq!(mail.to, ["ann@example.com", "Bob <bob@example.com>"]);
    assert_eq!(mail.cc, ["carol@example.com"]);
    assert_eq!(mail.bcc, ["audit@example.com"]);
    assert_eq!(
        mail.subject,
        format!("Your product is about to expire! {marker}")
    );
    assert_eq!(mail.body, format!("Product 42 expires in 3 days. {marker}"));
    assert_eq!(stats.done, 1);
    assert_eq!(
        local.queue_depth(&queues.url).await?,
        0,
        "the message was deleted"
    );
    assert!(local.drain(&queues.dlq_url).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_html_mail_is_sent() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("html", 3, 5).await?;
    let marker = unique_suffix();
    let html = format!("<h1>Welcome</h1><p>{marker}</p>");
    let envelope = Envelope::new(Job::Mail(MailJob {
        from: local.sender.clone(),
        to: vec!["ann@example.com".into()],
        subject: format!("Welcome {marker}"),
        html: Some(html.clone()),
        ..MailJob::default()
    }));
    local
        .queue(&queues.url)
        .enqueue(&envelope, SendOptions::default())
        .await?;
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        WAIT,
        || async { Ok((!local.mails_with(&marker)?.is_empty()).then_some(())) },
    )
    .await?;
    assert_eq!(local.mails_with(&marker)?[0].body, html);
    Ok(())
}

#[tokio::test]
async fn upload_is_stored_with_its_bytes_type_and_metadata() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("upload", 3, 5).await?;
    let key = format!("tests/{}/report.csv", unique_suffix());
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let mut upload = UploadJob::from_bytes(&local.bucket, &key, &bytes);
    upload.content_type = Some("text/csv".into());
    upload.metadata.insert("owner".into(), "ann".into());
    upload
        .metadata
        .insert("report-month".into(), "2026-11".into());
    local
        .queue(&queues.url)
        .enqueue(&Envelope::new(Job::Upload(upload)), SendOptions::default())
        .await?;

    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        WAIT,
        || async { Ok(local.object_exists(&key).await?.then_some(())) },
    )
    .await?;

    let object = local
        .s3
        .get_object()
        .bucket(&local.bucket)
        .key(&key)
        .send()
        .await?;
    assert_eq!(object.content_type(), Some("text/csv"));
    let metadata = object.metadata().cloned().unwrap_or_default();
    assert_eq!(metadata.get("owner").map(String::as_str), Some("ann"));
    assert_eq!(
        metadata.get("report-month").map(String::as_str),
        Some("2026-11")
    );
    let stored = object.body.collect().await?.into_bytes();
    assert_eq!(stored.as_ref(), bytes.as_slice());
    Ok(())
}

#[tokio::test]
async fn s3_refuses_bytes_that_do_not_match_the_sha256() -> Result<()> {
    let local = LocalAws::connect().await?;
    let key = format!("tests/{}/corrupt.bin", unique_suffix());
    let mut upload = UploadJob::from_bytes(&local.bucket, &key, b"the bytes that were sent");
    // The digest of other bytes: what a corrupted body looks like to S3.
    upload.sha256 = producer::contract::envelope::sha256_hex(b"the bytes that were meant");
    // Written without the handler's own check of the digest: S3's is tested.
    let sent = handler::Upload::new(&local.bucket, &key, upload.body()?);
    let meant = producer::contract::envelope::sha256_base64(b"the bytes that were meant");
    let err = handler::effects::put_object(&local.s3, sent, meant)
        .await
        .expect_err("S3 must refuse a body that does not match its checksum");
    assert_eq!(err.class(), producer::aws::ErrorClass::Permanent, "{err}");
    assert!(!local.object_exists(&key).await?, "nothing may be stored");

    // Through the pipeline the handler refuses it before S3, with the field named.
    let queues = local.fresh_queues("sha", 3, 5).await?;
    let body = Envelope::new(Job::Upload(upload)).to_json();
    local
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(&body)
        .send()
        .await?;
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        WAIT,
        || async { Ok((local.queue_depth(&queues.dlq_url).await? > 0).then_some(())) },
    )
    .await?;
    let dead = local.drain(&queues.dlq_url).await?;
    assert_eq!(dead.len(), 1);
    let reason = attribute(&dead[0], attr::ERROR_MESSAGE).unwrap_or_default();
    assert!(reason.contains("job.sha256"), "{reason}");
    assert!(!local.object_exists(&key).await?);
    Ok(())
}

#[tokio::test]
async fn a_delayed_job_is_not_delivered_before_its_delay() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("delay", 3, 5).await?;
    let delay = 6;
    let sent_at = Instant::now();
    let envelope = Envelope::new(Job::Upload(UploadJob::from_bytes(
        &local.bucket,
        "tests/delayed.txt",
        b"later",
    )));
    local
        .queue(&queues.url)
        .enqueue(&envelope, SendOptions::delayed(delay))
        .await?;

    let early = local.receive(&queues.url, 2).await?;
    assert!(
        sent_at.elapsed() < Duration::from_secs(delay.into()),
        "the early look came too late to mean anything"
    );
    assert!(early.is_empty(), "delivered before its delay");

    let message = eventually("the delayed message", Duration::from_secs(30), || async {
        let output = local.receive(&queues.url, 5).await?;
        Ok(output.into_iter().next())
    })
    .await?;
    assert!(sent_at.elapsed() >= Duration::from_secs(delay.into()));
    assert_eq!(
        Envelope::decode(message.body().unwrap_or_default())?.id,
        envelope.id
    );
    Ok(())
}

#[tokio::test]
async fn a_mixed_batch_sends_the_good_and_dead_letters_the_permanent_failures() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("mixed", 3, 5).await?;
    let marker = unique_suffix();
    let key = format!("tests/{marker}/mixed.txt");
    let good_mail = local.text_mail(format!("mixed {marker}"));
    let good_upload = Envelope::new(Job::Upload(UploadJob::from_bytes(
        &local.bucket,
        &key,
        b"good",
    )));
    let unknown_kind = integration_tests::fax_body(&good_mail);
    let mut bad_address = good_mail.clone().with_id(format!("bad-address-{marker}"));
    if let Job::Mail(m) = &mut bad_address.job {
        m.to = vec!["ann-at-example.com".into()];
    }
    let mut february_30 = good_mail.clone().with_id(format!("february-30-{marker}"));
    february_30.created_at = "2026-02-30T00:00:00Z".into();
    // Sent raw, as another language's producer would, since ours refuses the bad ones.
    let bodies = [
        good_mail.to_json(),
        "{\"version\":1,\"id\":".to_owned(),
        unknown_kind,
        bad_address.to_json(),
        good_upload.to_json(),
        february_30.to_json(),
    ];
    for body in &bodies {
        local
            .sqs
            .send_message()
            .queue_url(&queues.url)
            .message_body(body)
            .send()
            .await?;
    }

    let stats = run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        WAIT,
        || async {
            let mail_sent = !local.mails_with(&marker)?.is_empty();
            let stored = local.object_exists(&key).await?;
            let drained = local.queue_depth(&queues.url).await? == 0;
            Ok((mail_sent && stored && drained).then_some(()))
        },
    )
    .await?;
    assert_eq!(
        (stats.done, stats.dead_lettered, stats.retried),
        (2, 4, 0),
        "{stats:?}"
    );
    assert_eq!(
        local.mails_with(&marker)?.len(),
        1,
        "the bad address was not sent"
    );

    let dead = local.drain(&queues.dlq_url).await?;
    let mut found: Vec<(String, String, String)> = dead
        .iter()
        .map(|m| {
            (
                attribute(m, attr::ERROR_CODE).unwrap_or_default(),
                attribute(m, attr::ERROR_CLASS).unwrap_or_default(),
                m.body().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (
            "invalid_job".to_owned(),
            "permanent".to_owned(),
            bodies[3].clone(),
        ),
        (
            "malformed_json".to_owned(),
            "permanent".to_owned(),
            bodies[1].clone(),
        ),
        (
            "unknown_kind".to_owned(),
            "permanent".to_owned(),
            bodies[2].clone(),
        ),
        (
            "invalid_job".to_owned(),
            "permanent".to_owned(),
            bodies[5].clone(),
        ),
    ];
    expected.sort();
    assert_eq!(
        found, expected,
        "exactly the four poison messages, bodies unchanged"
    );
    for message in &dead {
        for name in [
            attr::ERROR_MESSAGE,
            attr::RECEIVE_COUNT,
            attr::HANDLER_VERSION,
            attr::FAILED_AT,
            attr::SOURCE,
        ] {
            ensure!(
                attribute(message, name).is_some_and(|v| !v.is_empty()),
                "dead letter lacks {name}"
            );
        }
    }
    let bad_address_reason = dead
        .iter()
        .find(|m| m.body() == Some(bodies[3].as_str()))
        .and_then(|m| attribute(m, attr::ERROR_MESSAGE))
        .unwrap_or_default();
    assert!(
        bad_address_reason.contains("job.to[0]"),
        "{bad_address_reason}"
    );
    let impossible_date_reason = dead
        .iter()
        .find(|m| m.body() == Some(bodies[5].as_str()))
        .and_then(|m| attribute(m, attr::ERROR_MESSAGE))
        .unwrap_or_default();
    assert!(
        impossible_date_reason.contains("`created_at`"),
        "{impossible_date_reason}"
    );
    // Even a job of an unknown kind can be found by its id.
    let unknown = dead
        .iter()
        .find(|m| m.body() == Some(bodies[2].as_str()))
        .context("the unknown kind")?;
    assert_eq!(attribute(unknown, attr::JOB_ID), Some(good_mail.id.clone()));
    assert_eq!(attribute(unknown, attr::JOB_KIND).as_deref(), Some("fax"));
    Ok(())
}

/// Runs `envelope` through a worker until the job queue is empty and its
/// dead-letter queue holds it; returns the worker's counts and the dead letter.
async fn dead_after_retries(
    local: &LocalAws,
    envelope: &Envelope,
    ses: aws_sdk_sesv2::Client,
    handler_knows_max: bool,
) -> Result<(WorkerStats, aws_sdk_sqs::types::Message)> {
    let max_receive_count = 2;
    let queues = local
        .fresh_queues("transient", max_receive_count, 1)
        .await?;
    local
        .queue(&queues.url)
        .enqueue(envelope, SendOptions::default())
        .await?;
    let handler = local.handler_with_ses(
        ses,
        &queues.dlq_url,
        handler_knows_max.then_some(max_receive_count),
    );
    let stats = run_worker_until(handler, local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? > 0
            && local.queue_depth(&queues.url).await? == 0)
            .then_some(()))
    })
    .await?;
    let mut dead = local.drain(&queues.dlq_url).await?;
    assert_eq!(dead.len(), 1);
    let message = dead.remove(0);
    assert_eq!(
        Envelope::decode(message.body().unwrap_or_default())?.id,
        envelope.id
    );
    Ok((stats, message))
}

#[tokio::test]
async fn a_job_that_keeps_failing_transiently_reaches_the_dlq_after_max_receive_count() -> Result<()>
{
    let local = LocalAws::connect().await?;

    // Told the queue's maxReceiveCount (`JOBS_MAX_RECEIVE_COUNT`), or reading
    // it from the queue's redrive policy, the handler moves the job itself on
    // the last delivery and says why, rather than leaving it to SQS.
    let envelope = local.text_mail(format!("never reaches SES {}", unique_suffix()));
    for handler_knows_max in [true, false] {
        let (stats, dead) = dead_after_retries(
            &local,
            &envelope,
            local.unreachable_ses(),
            handler_knows_max,
        )
        .await?;
        assert_eq!(
            (stats.retried, stats.dead_lettered),
            (1, 1),
            "{handler_knows_max}"
        );
        assert_eq!(
            attribute(&dead, attr::ERROR_CLASS).as_deref(),
            Some("transient")
        );
        assert_eq!(attribute(&dead, attr::RECEIVE_COUNT).as_deref(), Some("2"));
        let reason = attribute(&dead, attr::ERROR_MESSAGE).unwrap_or_default();
        assert!(
            reason.starts_with("gave up after 2 deliveries: ses_send_email failed"),
            "{reason}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_permanent_failure_stays_queued_while_the_dlq_is_missing() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("nodlq", 5, 1).await?;
    let missing_dlq = format!("{}-missing", queues.dlq_url);
    let handler = local.handler(&missing_dlq, None);
    local
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body("{not json")
        .send()
        .await?;
    let output = local
        .sqs
        .receive_message()
        .queue_url(&queues.url)
        .wait_time_seconds(5)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await?;
    let message = output
        .messages
        .unwrap_or_default()
        .into_iter()
        .next()
        .expect("a message");
    let delivery = handler::Delivery {
        message_id: message.message_id.clone().unwrap_or_default(),
        receipt_handle: message.receipt_handle.clone(),
        queue_url: None,
        queue_arn: None,
        body: message.body.clone().unwrap_or_default(),
        receive_count: 1,
        sent_at: None,
        job_id: None,
        payload_size: None,
        snoozed_until: None,
    };
    let outcome = handler.process(&delivery).await;
    assert!(
        matches!(&outcome, Outcome::Retry { reason } if reason.contains("could not be dead-lettered")),
        "{outcome:?}"
    );
    Ok(())
}

/// moto answers HTTP 500 to a templated SendEmail: a real emulator fault that
/// must end in the dead-letter queue, not loop forever.
#[tokio::test]
async fn a_template_mail_that_moto_cannot_send_ends_in_the_dlq() -> Result<()> {
    let local = LocalAws::connect().await?;
    let sample = std::fs::read_to_string(
        integration_tests::repo_root().join("schema/examples/mail-template.json"),
    )?;
    let mut envelope = Envelope::decode(&sample)?.with_id(format!("template-{}", unique_suffix()));
    if let Job::Mail(mail) = &mut envelope.job {
        mail.from = local.sender.clone();
    }
    let (stats, dead) = dead_after_retries(&local, &envelope, local.ses.clone(), false).await?;
    assert_eq!((stats.retried, stats.dead_lettered, stats.done), (1, 1, 0));
    assert_eq!(Envelope::decode(dead.body().unwrap_or_default())?, envelope);
    Ok(())
}
