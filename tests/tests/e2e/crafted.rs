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

/// A web site of the attacker's on another loopback port: each path it
/// knows answers its HTML, for as long as the test runs.
fn another_site(pages: Vec<(String, String)>) -> Result<String> {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut request_line = String::new();
            if BufReader::new(&stream)
                .read_line(&mut request_line)
                .is_err()
            {
                continue;
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or_default();
            let html = pages
                .iter()
                .find(|(p, _)| p == path)
                .map_or("", |(_, html)| html.as_str());
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    Ok(base)
}

/// How many times SQS has delivered the one message on `url`, counting the
/// receive that reads it (which makes it visible again at once).
async fn receive_count(local: &LocalAws, url: &str) -> Result<u64> {
    let received = local
        .sqs
        .receive_message()
        .queue_url(url)
        .visibility_timeout(0)
        .wait_time_seconds(2)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await?;
    let message = received.messages().first().context("the letter is there")?;
    let count = message
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .context("no receive count")?;
    Ok(count.parse()?)
}

#[tokio::test]
async fn another_sites_page_neither_reads_dead_letters_through_the_console_nor_changes_anything()
-> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("crafted-site", 3, 30).await?;
    let id = format!("crafted-site-{}", unique_suffix());
    local
        .sqs
        .send_message()
        .queue_url(&queues.dlq_url)
        .message_body(local.text_mail("guarded").with_id(&id).to_json())
        .send()
        .await?;
    let queue = producer::send::queue::queue_name_of(&queues.url).to_owned();
    let (_console, url) = console(&local, &queues, &[])?;
    let (_read_only, read_only) = console(&local, &queues, &["--read-only"])?;

    let mut pages = Vec::new();
    let mut embeds = String::new();
    for base in [&url, &read_only] {
        for path in [
            format!("/jobs?id={id}"),
            "/dead".to_owned(),
            format!("/dead/letter?queue={queue}&id={id}"),
        ] {
            embeds += &format!("<img src=\"{base}{path}\">");
        }
    }
    pages.push(("/embed".to_owned(), embeds));
    let routes = [
        "/dead/retry",
        "/dead/delete",
        "/scheduled/run-now",
        "/scheduled/cancel",
        "/queues/pause",
        "/queues/resume",
    ];
    let mut posts = Vec::new();
    for (n, (base, route)) in [&url, &read_only]
        .into_iter()
        .flat_map(|base| routes.iter().map(move |route| (base, route)))
        .enumerate()
    {
        let path = format!("/post/{n}");
        pages.push((
            path.clone(),
            format!(
                "<form method=\"post\" action=\"{base}{route}\">\
                 <input name=\"queue\" value=\"{queue}\"><input name=\"id\" value=\"{id}\">\
                 <input name=\"kind\" value=\"mail\"><input name=\"error_code\" value=\"max_receive_count\">\
                 </form><script>document.forms[0].submit()</script>"
            ),
        ));
        posts.push((path, format!("{base}{route}")));
    }
    let site = another_site(pages)?;

    let before = receive_count(&local, &queues.dlq_url).await?;
    let (_driver, browser) = super::console::browser().await?;
    let result = async {
        browser.goto(&format!("{site}/embed")).await?;
        let loaded: serde_json::Value = browser
            .execute(
                "return Array.from(document.images).every(i => i.complete)",
                vec![],
            )
            .await?;
        assert_eq!(
            loaded,
            serde_json::Value::Bool(true),
            "every image was tried"
        );
        for (path, target) in &posts {
            browser.goto(&format!("{site}{path}")).await?;
            let mut tries = 0;
            while browser.current_url().await?.as_str() != target.as_str() {
                ensure!(tries < 100, "the form to {target} was not sent");
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let text = super::console::text_of(&browser, "body").await?;
            assert!(
                text.contains("refused: a change must come from this console's own pages"),
                "{target}: {text}"
            );
        }
        anyhow::Ok(())
    }
    .await;
    browser.close().await.ok();
    result?;
    assert_eq!(
        receive_count(&local, &queues.dlq_url).await?,
        before + 1,
        "only this test's own receive counted: the console read nothing for the other site"
    );
    // A request from the console's own page (and one without Fetch Metadata,
    // as curl sends) still reads.
    let (status, page) = http(
        &url,
        "GET",
        "/dead",
        &[("Sec-Fetch-Site", "same-origin")],
        "",
    )?;
    assert_eq!(status, 200);
    assert!(page.contains(&id), "{page}");
    let (status, head, body) =
        http_full(&url, "GET", "/dead", &[("Sec-Fetch-Site", "same-site")], "")?;
    assert_eq!(status, 403, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "a refusal carries the security headers: {head}"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 1);
    assert_eq!(local.queue_depth(&queues.url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn without_http_turned_on_an_http_job_is_dead_lettered_unsent() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("crafted-http-off", 3, 30).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let target = format!("http://{}/hook", listener.local_addr()?);
    let job = producer::Envelope::new(producer::Job::Http(
        producer::HttpJob::post(&target).header("x-api-key", "k"),
    ));
    local
        .queue(&queues.url)
        .enqueue(&job, SendOptions::default())
        .await?;
    // The built-in kinds of `Runner::new()`, as the stack's handler runs
    // them with `HttpJobs` off.
    let handler = local.handler(&queues.dlq_url, None);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? >= 1).then_some(()))
    })
    .await?;
    assert_eq!((stats.dead_lettered, stats.retried), (1, 0), "{stats:?}");
    let letters = local.drain(&queues.dlq_url).await?;
    let code = letters[0]
        .message_attributes()
        .and_then(|a| a.get(ERROR_CODE))
        .and_then(|v| v.string_value())
        .unwrap_or_default();
    assert_eq!(code, "http_disabled");
    let reason = letters[0]
        .message_attributes()
        .and_then(|a| a.get(producer::contract::attributes::ERROR_MESSAGE))
        .and_then(|v| v.string_value())
        .unwrap_or_default();
    assert!(reason.contains("JOBS_HTTP_JOBS=on"), "{reason}");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection was made"
    );
    Ok(())
}
