//! Crafted messages: what anyone with `sqs:SendMessage` (or a producer's
//! `PutItem` on the ledger) can write, tried against the handler, the `jobs`
//! CLI and the console. Each test is one guard of `docs/guarantees.md`'s
//! "What a crafted message cannot do".

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{LocalAws, TestQueues, run_jobs, run_worker_until, unique_suffix};
use producer::SendOptions;
use producer::contract::attributes::{ERROR_CODE, JOB_ID, JOB_KIND, SOURCE};
use producer::contract::ledger::{field, schedule_key};
use producer::contract::pointer::{PAYLOAD_BUCKET_ENV, PAYLOAD_SIZE, PayloadPointer};
use producer::send::queue::{number_attribute, schedule, string_attribute};
use producer::send::schedules::ScheduleBook;

use super::console::{console, csrf_of, http, http_full};

const WAIT: Duration = Duration::from_secs(60);

/// A bucket of the test's own with an object the stack must never touch, as
/// a backup would be.
async fn a_backup(local: &LocalAws) -> Result<PayloadPointer> {
    let bucket = format!("backups-{}", unique_suffix()).to_lowercase();
    local.s3.create_bucket().bucket(&bucket).send().await?;
    local
        .s3
        .put_object()
        .bucket(&bucket)
        .key("db.dump")
        .body(b"precious".to_vec().into())
        .send()
        .await?;
    Ok(PayloadPointer::new(bucket, "db.dump"))
}

async fn still_there(local: &LocalAws, object: &PayloadPointer) -> Result<bool> {
    Ok(local
        .s3
        .head_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await
        .is_ok())
}

/// The test's own payload bucket, which the handler and the CLI are told of.
async fn payload_bucket(local: &LocalAws) -> Result<String> {
    let bucket = format!("payloads-{}", unique_suffix()).to_lowercase();
    local.s3.create_bucket().bucket(&bucket).send().await?;
    Ok(bucket)
}

/// A message whose body points at `object`, with whatever attributes its
/// sender chose, sent straight to `url`.
async fn send_pointer(
    local: &LocalAws,
    url: &str,
    object: &PayloadPointer,
    attributes: &[(&str, &str)],
) -> Result<()> {
    let mut send = local
        .sqs
        .send_message()
        .queue_url(url)
        .message_body(object.to_body())
        .message_attributes(PAYLOAD_SIZE, number_attribute(8));
    for (name, value) in attributes {
        send = send.message_attributes(*name, string_attribute(value));
    }
    send.send().await?;
    Ok(())
}

/// `jobs` with the test's queue, its dead-letter queue and payload bucket.
fn jobs(
    local: &LocalAws,
    queues: &TestQueues,
    payloads: &str,
    args: &[&str],
) -> Result<std::process::Output> {
    run_jobs(
        local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_DLQ_URL", &queues.dlq_url),
            ("JOBS_QUEUE_URLS", ""),
            (PAYLOAD_BUCKET_ENV, payloads),
        ],
        &args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn a_pointer_outside_the_payload_bucket_is_never_read_nor_deleted() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("crafted-pointer", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let backup = a_backup(&local).await?;

    // The handler dead-letters it as permanent, with its code, unread.
    let id = format!("crafted-{}", unique_suffix());
    send_pointer(&local, &queues.url, &backup, &[(JOB_ID, &id)]).await?;
    let handler = local.handler_for_payloads(&queues.dlq_url, &payloads);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? >= 1).then_some(()))
    })
    .await?;
    assert_eq!((stats.dead_lettered, stats.retried), (1, 0), "{stats:?}");

    // `jobs dlq show` names it, and does not follow it.
    let shown = jobs(
        &local,
        &queues,
        &payloads,
        &["--output", "json", "dlq", "show", &id],
    )?;
    ensure!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout)?;
    assert_eq!(shown["error_code"], "payload_outside_bucket", "{shown}");
    assert_eq!(shown["error_class"], "permanent", "{shown}");
    let outside = shown["pointer_outside"].as_str().unwrap_or_default();
    assert!(
        outside.contains(&format!(
            "a pointer outside the payload bucket: `{}`",
            backup.url()
        )),
        "{shown}"
    );
    assert!(shown["stored_at"].is_null(), "{shown}");

    // The console's page says so too; its Delete removes the message alone.
    let (_console, url) = console(&local, &queues, &["--payload-bucket", &payloads])?;
    let queue = producer::send::queue::queue_name_of(&queues.url);
    let (status, page) = http(
        &url,
        "GET",
        &format!("/dead/letter?queue={queue}&id={id}"),
        &[],
        "",
    )?;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("a pointer outside the payload bucket"),
        "{page}"
    );
    let csrf = csrf_of(&page)?;
    let (status, _) = http(
        &url,
        "POST",
        "/dead/delete",
        &[("Origin", url.as_str())],
        &format!("csrf={csrf}&queue={queue}&id={id}"),
    )?;
    assert_eq!(status, 303);
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert!(still_there(&local, &backup).await?, "the console's Delete");

    // Delete all of a group.
    for n in 0..2 {
        let id = format!("crafted-group-{n}-{}", unique_suffix());
        let attributes = [
            (JOB_ID, id.as_str()),
            (JOB_KIND, "mail"),
            (ERROR_CODE, "crafted"),
        ];
        send_pointer(&local, &queues.dlq_url, &backup, &attributes).await?;
    }
    let (status, body) = http(
        &url,
        "POST",
        "/dead/delete",
        &[("Origin", url.as_str())],
        &format!("csrf={csrf}&queue={queue}&kind=mail&error_code=crafted"),
    )?;
    assert_eq!(status, 303, "{body}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert!(
        still_there(&local, &backup).await?,
        "the console's Delete all"
    );

    // `jobs dlq purge`.
    send_pointer(&local, &queues.dlq_url, &backup, &[]).await?;
    let purged = jobs(&local, &queues, &payloads, &["dlq", "purge", "--yes"])?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&purged.stdout),
        String::from_utf8_lossy(&purged.stderr),
    );
    ensure!(purged.status.success(), "{stderr}");
    assert!(
        stdout.contains("1 dead letters, 0 stored envelopes"),
        "{stdout}"
    );
    assert!(
        stderr.contains("a pointer outside the payload bucket") && stderr.contains(&backup.url()),
        "{stderr}"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert!(still_there(&local, &backup).await?, "`jobs dlq purge`");
    Ok(())
}

/// A queue of the local stack that the test's stack does not serve.
async fn another_queue(local: &LocalAws) -> Result<String> {
    let name = format!("t-internal-billing-{}", unique_suffix());
    let created = local.sqs.create_queue().queue_name(&name).send().await?;
    created.queue_url.context("no queue URL")
}

#[tokio::test]
async fn a_dead_letter_naming_a_queue_the_stack_does_not_serve_is_not_sent_there() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("crafted-source", 3, 30).await?;
    let billing = another_queue(&local).await?;
    let id = format!("crafted-source-{}", unique_suffix());
    local
        .sqs
        .send_message()
        .queue_url(&queues.dlq_url)
        .message_body(local.text_mail("to billing").with_id(&id).to_json())
        .message_attributes(JOB_ID, string_attribute(&id))
        .message_attributes(SOURCE, string_attribute(&format!("{billing}#m-1")))
        .send()
        .await?;

    let redriven = jobs(&local, &queues, "", &["dlq", "redrive", "--id", &id])?;
    let stderr = String::from_utf8_lossy(&redriven.stderr);
    assert_ne!(redriven.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("dead letter `{id}` was not sent back"))
            && stderr.contains("is not a queue this stack serves"),
        "{stderr}"
    );

    // The console's Retry, one letter and its group.
    let (_console, url) = console(&local, &queues, &[])?;
    let queue = producer::send::queue::queue_name_of(&queues.url);
    let (_, page) = http(&url, "GET", "/dead", &[], "")?;
    let csrf = csrf_of(&page)?;
    for form in [
        format!("csrf={csrf}&queue={queue}&id={id}"),
        format!("csrf={csrf}&queue={queue}&kind=mail&error_code=max_receive_count"),
    ] {
        let (status, head, _) = http_full(
            &url,
            "POST",
            "/dead/retry",
            &[("Origin", url.as_str())],
            &form,
        )?;
        assert_eq!(status, 303, "{head}");
        let notice = head
            .lines()
            .find_map(|line| line.strip_prefix("location: "))
            .with_context(|| format!("no location: {head}"))?;
        let (_, page) = http(&url, "GET", notice, &[], "")?;
        assert!(
            page.contains(&format!("`{id}` refused"))
                && page.contains("is not a queue this stack serves"),
            "the notice says so: {page}"
        );
    }
    assert_eq!(local.queue_depth(&billing).await?, 0, "nothing arrived");
    assert_eq!(local.queue_depth(&queues.url).await?, 0);
    assert_eq!(
        local.queue_depth(&queues.dlq_url).await?,
        1,
        "the letter stays"
    );
    Ok(())
}

#[tokio::test]
async fn a_forged_schedule_record_naming_another_queue_is_not_run_now() -> Result<()> {
    let local = LocalAws::connect().await?;
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?.to_owned();
    let queues = local.fresh_queues("crafted-schedule", 3, 30).await?;
    let billing = another_queue(&local).await?;
    let now = SystemTime::now();
    let (envelope, _) = schedule(
        &local.text_mail("scheduled"),
        now + Duration::from_secs(3_600),
        now,
    );
    local
        .queue(&queues.url)
        .with_schedules(Some(ScheduleBook::new(local.dynamodb.clone(), &table)))
        .enqueue(&envelope, SendOptions::delayed(900))
        .await?;
    // What a producer's PutItem can do: the record names another queue.
    let key = schedule_key(&envelope.id);
    let mut record = local
        .dynamodb
        .get_item()
        .table_name(&table)
        .key(field::JOB_ID, AttributeValue::S(key.clone()))
        .send()
        .await?
        .item
        .context("the scheduled job is listed")?;
    record.insert(field::QUEUE_URL.into(), AttributeValue::S(billing.clone()));
    local
        .dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(record))
        .send()
        .await?;

    let served = operations::served::Served::new([queues.url.clone()], None);
    let refused = operations::ledger_lists::run_now(
        &local.dynamodb,
        &local.sqs,
        &table,
        &envelope.id,
        &served,
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(operations::ledger_lists::LedgerListError::NotServed { .. })
        ),
        "{refused:?}"
    );

    let (_console, url) = console(&local, &queues, &["--table", &table])?;
    let (_, page) = http(&url, "GET", "/scheduled", &[], "")?;
    let csrf = csrf_of(&page)?;
    let (status, body) = http(
        &url,
        "POST",
        "/scheduled/run-now",
        &[("Origin", url.as_str())],
        &format!("csrf={csrf}&id={}", envelope.id),
    )?;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("is not a queue this stack serves"), "{body}");
    assert_eq!(local.queue_depth(&billing).await?, 0, "nothing arrived");
    // Still listed, unmarked: it runs at its time on its own queue.
    let listed = local
        .dynamodb
        .get_item()
        .table_name(&table)
        .key(field::JOB_ID, AttributeValue::S(key))
        .send()
        .await?;
    assert!(listed.item.is_some());
    let mark = local
        .dynamodb
        .get_item()
        .table_name(&table)
        .key(field::JOB_ID, AttributeValue::S(envelope.id.clone()))
        .send()
        .await?;
    assert!(mark.item.is_none(), "no run-now mark: {:?}", mark.item);
    Ok(())
}
