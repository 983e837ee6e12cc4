//! `jobs ui` in a real browser (Debian's headless Chromium through chromedriver),
//! against real queues: counts that change as jobs run, a dead letter opened,
//! retried and taking effect, another deleted, a hostile body shown inert; and
//! the guards (Host, Origin, CSRF, token, read-only, non-loopback) refused over
//! plain HTTP.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::{
    LocalAws, TestQueues, eventually, repo_root, run_worker_until, unique_suffix, workspace_binary,
};
use producer::send::queue::SendOptions;
use producer::{Envelope, Job, UploadJob};

/// A child process stopped when the test ends, however it ends.
pub(super) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `jobs ui` on a free loopback port for one test's queues; returns it and its
/// base URL, read from the first line it prints.
pub(super) fn console(
    local: &LocalAws,
    queues: &TestQueues,
    extra: &[&str],
) -> Result<(Running, String)> {
    console_of(local, &[("JOBS_QUEUE_URL", &queues.url)], extra)
}

/// `jobs ui` with its queues named by `queue_env` alone (`JOBS_QUEUE_URL` or
/// `JOBS_QUEUE_URLS`).
fn console_of(
    local: &LocalAws,
    queue_env: &[(&str, &str)],
    extra: &[&str],
) -> Result<(Running, String)> {
    let mut child = Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .env_remove("JOBS_QUEUE_URLS")
        .env_remove("JOBS_QUEUE_URL")
        .envs(queue_env.iter().copied())
        .env_remove("JOBS_UI_TOKEN")
        .args(["ui", "--port", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let running = Running(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first)?;
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("`jobs ui` printed no address: {first:?}"))?
        .trim_end_matches('/')
        .to_owned();
    Ok((running, url))
}

pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// chromedriver on a free loopback port, and a headless Chromium session.
pub(super) async fn browser() -> Result<(Running, Client)> {
    let port = free_port()?;
    let driver = Command::new("chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context(
            "chromedriver is missing: `make test` installs Debian's chromium and chromium-driver",
        )?;
    let driver = Running(driver);
    let base = format!("http://127.0.0.1:{port}");
    eventually(
        "chromedriver to listen",
        Duration::from_secs(30),
        || async { Ok(TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())) },
    )
    .await?;
    let mut chrome = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--force-color-profile=srgb"],
    });
    if let Some(binary) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    {
        chrome["binary"] = binary.into();
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), chrome);
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&base)
        .await
        .context("start a headless Chromium session")?;
    Ok((driver, client))
}

/// A plain HTTP/1.0 request on loopback: the status, and the body.
pub(super) fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let (status, _, body) = http_full(base, method, path, headers, body)?;
    Ok((status, body))
}

/// As [`http`], with the answer's header lines too.
pub(super) fn http_full(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String)> {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP response: {response:?}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((status, head.to_owned(), body.to_owned()))
}

/// Sends a mail to the address `nobody`, as a producer in another language
/// might (ours refuses it): the handler dead-letters it as invalid.
async fn send_to_nobody(local: &LocalAws, queue_url: &str, mut mail: Envelope) -> Result<()> {
    if let Job::Mail(m) = &mut mail.job {
        m.to = vec!["nobody".into()];
    }
    local
        .sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(mail.to_json())
        .send()
        .await?;
    Ok(())
}

fn screenshot_dir() -> PathBuf {
    repo_root().join("target").join("console-screenshots")
}

/// The text of the first element a CSS selector finds, waiting for it to appear.
/// A part the page refreshes may be replaced between finding the element and
/// reading it (a stale element): then it is found again.
pub(super) async fn text_of(browser: &Client, css: &str) -> Result<String> {
    let at = browser.current_url().await.map(|u| u.to_string());
    let mut tries = 0;
    loop {
        let element = browser
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no `{css}` on {at:?}"))?;
        match element.text().await {
            Ok(text) => return Ok(text),
            Err(e) if tries < 5 && e.to_string().contains("stale element") => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

#[tokio::test]
async fn the_console_in_a_browser_retries_a_dead_letter_and_shows_a_hostile_body_as_text()
-> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("console", 3, 5).await?;
    let queue = producer::send::queue::queue_name_of(&queues.url).to_owned();
    let marker = unique_suffix();
    let (_console, url) = console(&local, &queues, &[])?;
    let (_driver, browser) = browser().await?;
    let result = browse(&local, &queues, &queue, &marker, &url, &browser).await;
    browser.close().await.ok();
    result
}

async fn browse(
    local: &LocalAws,
    queues: &TestQueues,
    queue: &str,
    marker: &str,
    url: &str,
    browser: &Client,
) -> Result<()> {
    let dead_cell = format!("tr[data-queue='{queue}'] td.dead");
    browser.goto(&format!("{url}/")).await?;
    assert_eq!(text_of(browser, &dead_cell).await?, "0");

    // An upload to a bucket that does not exist yet fails for good; a mail whose
    // subject is a script fails on its address. Both land in the dead letters.
    let bucket = format!("t-console-{marker}");
    let key = format!("console/{marker}.txt");
    let upload = Envelope::new(Job::Upload(UploadJob::from_bytes(
        &bucket,
        &key,
        b"retried from the console",
    )))
    .with_id(format!("upload-{marker}"));
    local
        .queue(&queues.url)
        .enqueue(&upload, SendOptions::default())
        .await?;
    let hostile = local
        .text_mail("<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">")
        .with_id(format!("hostile-{marker}"));
    send_to_nobody(local, &queues.url, hostile).await?;
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        local,
        &queues.url,
        Duration::from_secs(60),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? == 2).then_some(())) },
    )
    .await?;

    // The open dashboard sees the dead letters arrive without a reload.
    eventually(
        "the dashboard's dead count to reach 2",
        Duration::from_secs(30),
        || async { Ok((text_of(browser, &dead_cell).await? == "2").then_some(())) },
    )
    .await?;
    std::fs::create_dir_all(screenshot_dir())?;
    std::fs::write(
        screenshot_dir().join("dashboard.png"),
        browser.screenshot().await?,
    )?;

    // The hostile mail's page shows its subject as text, and nothing ran.
    browser.goto(&format!("{url}/dead")).await?;
    std::fs::write(
        screenshot_dir().join("dead.png"),
        browser.screenshot().await?,
    )?;
    let row = format!("tr[data-job-id='hostile-{marker}']");
    browser
        .find(Locator::Css(&format!("{row} a.letter")))
        .await?
        .click()
        .await?;
    let body = text_of(browser, "pre#body").await?;
    assert!(
        body.contains("<script>window.__pwned = 1</script>"),
        "the body is shown as text: {body}"
    );
    let pwned = browser
        .execute("return typeof window.__pwned;", vec![])
        .await?;
    assert_eq!(pwned, "undefined", "a script from a job body ran");
    let scripts = browser
        .execute(
            "return document.querySelectorAll('main script, main img').length;",
            vec![],
        )
        .await?;
    assert_eq!(scripts, 0, "the body made elements");
    assert_eq!(text_of(browser, "dd[data-field='kind']").await?, "mail");
    assert_eq!(
        text_of(browser, "dd[data-field='source queue']").await?,
        queues.url
    );

    // Found by its id from the box on every page: its page says where it is.
    browser
        .find(Locator::Css("form.find input[name='id']"))
        .await?
        .send_keys(&format!("hostile-{marker}"))
        .await?;
    browser
        .find(Locator::Css("form.find button"))
        .await?
        .click()
        .await?;
    let outcome = text_of(browser, "#outcome").await?;
    assert!(outcome.starts_with("dead:"), "{outcome}");
    assert!(
        browser
            .find(Locator::Css(&format!("a[href*='{}']", queue)))
            .await
            .is_ok(),
        "a link to the dead letter on its queue"
    );

    // Retry the upload once its bucket exists: it leaves the dead letters and
    // takes effect.
    local.s3.create_bucket().bucket(&bucket).send().await?;
    browser.goto(&format!("{url}/dead")).await?;
    let upload_row = format!("tr[data-job-id='upload-{marker}']");
    browser
        .find(Locator::Css(&format!("{upload_row} button.retry")))
        .await?
        .click()
        .await?;
    let notice = text_of(browser, "#notice").await?;
    assert!(
        notice.contains("retried 1 job(s)") && notice.contains(&format!("upload-{marker}")),
        "{notice}"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 1);
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            let stored = local.s3.get_object().bucket(&bucket).key(&key).send().await;
            Ok(stored.is_ok().then_some(()))
        },
    )
    .await?;
    assert_eq!(
        local.queue_depth(&queues.dlq_url).await?,
        1,
        "it ran, and did not fail again"
    );

    // Delete the hostile one, through the confirmation the button asks for.
    browser.goto(&format!("{url}/dead")).await?;
    browser
        .find(Locator::Css(&format!("{row} button.delete")))
        .await?
        .click()
        .await?;
    browser.accept_alert().await?;
    let notice = text_of(browser, "#notice").await?;
    assert!(notice.contains("deleted 1 dead letter(s)"), "{notice}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    browser.goto(&format!("{url}/")).await?;
    eventually(
        "the dashboard's dead count to reach 0",
        Duration::from_secs(30),
        || async { Ok((text_of(browser, &dead_cell).await? == "0").then_some(())) },
    )
    .await?;
    Ok(())
}

/// The CSRF token of the first form on a page.
pub(super) fn csrf_of(page: &str) -> Result<String> {
    let at = page
        .find("name=\"csrf\" value=\"")
        .context("the page has no form")?;
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    Ok(rest[..rest.find('"').context("unterminated value")?].to_owned())
}

/// A dead letter put straight on the dead-letter queue, so that pages have forms.
async fn a_dead_letter(local: &LocalAws, queues: &TestQueues, id: &str) -> Result<()> {
    local
        .sqs
        .send_message()
        .queue_url(&queues.dlq_url)
        .message_body(local.text_mail("guarded").with_id(id).to_json())
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_console_refuses_other_hosts_origins_stale_forms_and_open_addresses() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("guard", 3, 5).await?;
    let id = format!("guarded-{}", unique_suffix());
    a_dead_letter(&local, &queues, &id).await?;
    let (_console, url) = console(&local, &queues, &[])?;
    let host = url.trim_start_matches("http://");
    let origin = url.as_str();

    let (status, page) = http(&url, "GET", "/dead", &[], "")?;
    assert_eq!(status, 200);
    assert!(page.contains(&id), "{page}");
    let csrf = csrf_of(&page)?;
    let queue = producer::send::queue::queue_name_of(&queues.url);
    let form = |csrf: &str| format!("csrf={csrf}&queue={queue}&id={id}");

    // DNS rebinding: the same socket under another name.
    let (status, body) = http(&url, "GET", "/", &[("Host", "rebound.example:80")], "")?;
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("`rebound.example:80`"), "{body}");
    // A POST from another site's page, or with no Origin at all.
    for given in [vec![("Origin", "http://evil.example")], vec![]] {
        let (status, body) = http(&url, "POST", "/dead/delete", &given, &form(&csrf))?;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("`Origin`"), "{body}");
    }
    // The right Origin, but a stale or missing CSRF token.
    for stale in ["0123456789abcdef", ""] {
        let (status, body) = http(
            &url,
            "POST",
            "/dead/delete",
            &[("Origin", origin)],
            &form(stale),
        )?;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("CSRF"), "{body}");
    }
    // A change by GET does nothing.
    let (status, _) = http(
        &url,
        "GET",
        &format!("/dead/delete?{}", form(&csrf)),
        &[],
        "",
    )?;
    assert_eq!(status, 405);
    assert_eq!(
        local.queue_depth(&queues.dlq_url).await?,
        1,
        "nothing was deleted"
    );
    // And the one that passes every check.
    let (status, _) = http(
        &url,
        "POST",
        "/dead/delete",
        &[("Origin", origin)],
        &form(&csrf),
    )?;
    assert_eq!(status, 303);
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert!(host.starts_with("127.0.0.1:"), "{host}");

    // Read-only: no buttons, and changes refused.
    a_dead_letter(&local, &queues, &id).await?;
    let (_read_only, url) = console(&local, &queues, &["--read-only"])?;
    let (status, page) = http(&url, "GET", "/dead", &[], "")?;
    assert_eq!(status, 200);
    assert!(
        page.contains(&id) && !page.contains("<form method=\"post\""),
        "{page}"
    );
    assert!(page.contains("read-only"), "{page}");
    let (status, body) = http(
        &url,
        "POST",
        "/dead/retry",
        &[("Origin", url.as_str())],
        &form(&csrf),
    )?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("read-only"), "{body}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 1);

    // A token: every request needs it.
    let (_with_token, url) = console(
        &local,
        &queues,
        &["--token", "s3cret-token-of-32-characters-ok"],
    )?;
    let (status, _) = http(&url, "GET", "/", &[], "")?;
    assert_eq!(status, 401);
    let (status, _) = http(
        &url,
        "GET",
        "/",
        &[("Authorization", "Basic b3BzOndyb25n")],
        "",
    )?;
    assert_eq!(status, 401, "ops:wrong");
    // ops:s3cret-token-of-32-characters-ok
    let (status, _) = http(
        &url,
        "GET",
        "/",
        &[(
            "Authorization",
            "Basic b3BzOnMzY3JldC10b2tlbi1vZi0zMi1jaGFyYWN0ZXJzLW9r",
        )],
        "",
    )?;
    assert_eq!(status, 200);

    // Any address but loopback is refused without a token, before anything listens.
    let refused = Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .env_remove("JOBS_QUEUE_URLS")
        .env_remove("JOBS_UI_TOKEN")
        .args(["ui", "--address", "0.0.0.0", "--port", "0"])
        .stdin(Stdio::null())
        .output()?;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refused to listen on `0.0.0.0:0` without a token"),
        "{stderr}"
    );
    if !refused.stdout.is_empty() {
        bail!(
            "it printed an address: {}",
            String::from_utf8_lossy(&refused.stdout)
        );
    }
    Ok(())
}

#[tokio::test]
async fn job_metrics_from_the_worker_reach_cloudwatch_and_the_consoles_chart() -> Result<()> {
    use handler::Settings;
    use handler::worker::{WorkerSettings, run_with_metrics, shutdown_channel};

    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("metrics", 3, 5).await?;
    let queue = producer::send::queue::queue_name_of(&queues.url).to_owned();
    let marker = unique_suffix();
    // A namespace of this test's own, so that other tests' jobs are not counted.
    let namespace = format!("JobsTest/{marker}");
    for n in 0..3 {
        local
            .queue(&queues.url)
            .enqueue(
                &local.text_mail(format!("metrics {marker} {n}")),
                SendOptions::default(),
            )
            .await?;
    }
    send_to_nobody(
        &local,
        &queues.url,
        local.text_mail(format!("metrics {marker}")),
    )
    .await?;

    let handler = local.handler_with(
        local.ses.clone(),
        Settings {
            metrics_namespace: Some(namespace.clone()),
            backoff: None,
            ..Settings::new(&queues.dlq_url)
        },
    );
    let mut settings = WorkerSettings::new(&queues.url);
    settings.wait_seconds = 1;
    settings.metrics_interval = Duration::from_secs(1);
    let (stop, stopped) = shutdown_channel();
    let sqs = local.sqs.clone();
    let cloudwatch = local.cloudwatch.clone();
    let worker = tokio::spawn(async move {
        run_with_metrics(&handler, &sqs, &settings, stopped, Some(cloudwatch)).await
    });
    let ran = eventually(
        "three mails and a dead letter",
        Duration::from_secs(60),
        || async {
            Ok((local.mails_with(&marker)?.len() == 3
                && local.queue_depth(&queues.dlq_url).await? == 1)
                .then_some(()))
        },
    )
    .await;
    stop.send(true).ok();
    let stats = worker.await??;
    ran?;
    assert_eq!((stats.done, stats.dead_lettered), (3, 1));

    // In CloudWatch, per minute, as the console reads them.
    eventually(
        "the metrics in CloudWatch",
        Duration::from_secs(30),
        || async {
            let minutes = operations::job_metrics::per_minute(
                &local.cloudwatch,
                &namespace,
                &queue,
                60,
                std::time::SystemTime::now(),
            )
            .await?;
            let processed: f64 = minutes.iter().map(|m| m.processed).sum();
            let failed: f64 = minutes.iter().map(|m| m.failed).sum();
            Ok((processed == 3.0 && failed == 1.0).then_some(()))
        },
    )
    .await?;

    // And in the console's chart.
    let (_console, url) = console(&local, &queues, &["--metrics-namespace", &namespace])?;
    let (status, chart) = http(&url, "GET", "/fragments/charts", &[], "")?;
    assert_eq!(status, 200, "{chart}");
    assert!(
        chart.contains(&format!(
            "data-queue=\"{queue}\" data-processed=\"3\" data-failed=\"1\""
        )),
        "{chart}"
    );
    assert!(chart.contains("<rect class=\"processed\""), "{chart}");
    let (_, off) = {
        let (_quiet, url) = console(&local, &queues, &["--no-metrics"])?;
        http(&url, "GET", "/", &[], "")?
    };
    assert!(off.contains("Job metrics are off"), "{off}");
    Ok(())
}

/// Polls a log file until a line has every one of `parts`.
async fn logged(path: &std::path::Path, parts: &[&str]) -> Result<()> {
    eventually(
        &format!("a log line with {parts:?}"),
        Duration::from_secs(30),
        || async {
            let logs = std::fs::read_to_string(path).unwrap_or_default();
            Ok(logs
                .lines()
                .any(|line| parts.iter().all(|p| line.contains(p)))
                .then_some(()))
        },
    )
    .await
}

#[tokio::test]
async fn a_queue_paused_in_the_console_starts_nothing_until_it_is_resumed() -> Result<()> {
    let local = LocalAws::connect().await?;
    let paused = local.fresh_queues("pause", 3, 5).await?;
    let open = local.fresh_queues("open", 3, 5).await?;
    let routes = serde_json::json!({"paused": paused.url, "open": open.url}).to_string();
    let marker = unique_suffix();
    let log_path = std::env::temp_dir().join(format!("pause-worker-{marker}.log"));
    // The shipped worker on both queues, reading their pauses every second.
    let _worker = Running(
        Command::new(workspace_binary("worker")?)
            .envs(local.env.child_env())
            .env("JOBS_QUEUE_URLS", &routes)
            .env_remove("JOBS_QUEUE_URL")
            .env_remove("JOBS_QUEUES")
            .env("JOBS_DLQ_URL", &paused.dlq_url)
            .env("JOBS_WAIT_SECONDS", "1")
            .env("JOBS_PAUSE_CHECK_SECONDS", "1")
            .env("JOBS_METRICS", "off")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log_path)?)
            .stderr(Stdio::null())
            .spawn()?,
    );
    logged(&log_path, &["worker started"]).await?;
    let (_console, url) = console_of(&local, &[("JOBS_QUEUE_URLS", &routes)], &[])?;
    let (_driver, browser) = browser().await?;
    let result = pause_and_resume(&local, &paused, &open, &marker, &url, &browser, &log_path).await;
    browser.close().await.ok();
    std::fs::remove_file(&log_path).ok();
    result
}

async fn pause_and_resume(
    local: &LocalAws,
    paused: &TestQueues,
    open: &TestQueues,
    marker: &str,
    url: &str,
    browser: &Client,
    log_path: &std::path::Path,
) -> Result<()> {
    browser.goto(&format!("{url}/queues")).await?;
    assert_eq!(
        text_of(browser, "tr[data-queue='paused'] td.state").await?,
        "running"
    );
    browser
        .find(Locator::Css("tr[data-queue='paused'] button.pause"))
        .await?
        .click()
        .await?;
    let notice = text_of(browser, "#notice").await?;
    assert!(notice.starts_with("paused `paused`"), "{notice}");
    assert!(
        text_of(browser, "tr[data-queue='paused'] td.state")
            .await?
            .starts_with("paused since "),
    );
    assert_eq!(
        text_of(browser, "tr[data-queue='open'] td.state").await?,
        "running"
    );
    logged(log_path, &["queue paused", "\"queue\":\"paused\""]).await?;

    // Mail on both queues: the open queue's runs, the paused queue's waits.
    let (held, free) = (format!("held {marker}"), format!("free {marker}"));
    for n in 0..3 {
        local
            .queue(&paused.url)
            .enqueue(
                &local.text_mail(format!("{held} {n}")),
                SendOptions::default(),
            )
            .await?;
    }
    for n in 0..2 {
        local
            .queue(&open.url)
            .enqueue(
                &local.text_mail(format!("{free} {n}")),
                SendOptions::default(),
            )
            .await?;
    }
    eventually(
        "the open queue's mails",
        Duration::from_secs(60),
        || async { Ok((local.mails_with(&free)?.len() == 2).then_some(())) },
    )
    .await?;
    assert_eq!(
        local.mails_with(&held)?.len(),
        0,
        "a paused queue's job ran"
    );
    let waiting = local
        .queue_attribute(
            &paused.url,
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
        )
        .await?;
    assert_eq!(waiting, "3", "a paused queue's job was received");

    browser.goto(&format!("{url}/queues")).await?;
    browser
        .find(Locator::Css("tr[data-queue='paused'] button.resume"))
        .await?
        .click()
        .await?;
    let notice = text_of(browser, "#notice").await?;
    assert!(notice.starts_with("resumed `paused`"), "{notice}");
    assert_eq!(
        text_of(browser, "tr[data-queue='paused'] td.state").await?,
        "running"
    );
    logged(log_path, &["queue resumed", "\"queue\":\"paused\""]).await?;
    eventually(
        "the resumed queue's mails",
        Duration::from_secs(60),
        || async { Ok((local.mails_with(&held)?.len() == 3).then_some(())) },
    )
    .await?;
    Ok(())
}

/// A job scheduled an hour ahead by `jobs enqueue` is listed on the Scheduled
/// tab and cancelled there with a click; its ledger record says so. (That a
/// cancelled job then never runs, past its time, is `scheduled.rs`'s test.)
/// The Local tab shows the mail moto recorded (a hostile subject as text) and
/// the object written. A console without the ledger says so on its three tabs.
#[tokio::test]
async fn the_console_in_a_browser_cancels_a_scheduled_job_and_shows_local_effects() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("console-scheduled", 3, 5).await?;
    let marker = unique_suffix();
    let subject = format!("<script>document.title='owned'</script> local {marker}");
    let key = format!("local-{marker}.txt");
    let queue = local.queue(&queues.url);
    queue
        .enqueue(&local.text_mail(&subject), SendOptions::default())
        .await?;
    let upload = Envelope::new(Job::Upload(UploadJob::from_bytes(
        local.bucket.clone(),
        key.clone(),
        b"written",
    )));
    queue.enqueue(&upload, SendOptions::default()).await?;
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            let mailed = !local.mails_with(&format!("local {marker}"))?.is_empty();
            Ok((mailed && local.object_exists(&key).await?).then_some(()))
        },
    )
    .await?;
    let file = std::env::temp_dir().join(format!("scheduled-{}.txt", unique_suffix()));
    std::fs::write(&file, "later")?;
    let output = integration_tests::run_jobs(
        &local,
        &[("JOBS_QUEUE_URL", &queues.url)],
        &[
            "enqueue".into(),
            "--in".into(),
            "1h".into(),
            "upload".into(),
            "--key".into(),
            "scheduled.txt".into(),
            "--file".into(),
            file.display().to_string(),
        ],
    )?;
    std::fs::remove_file(&file).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = stdout
        .trim()
        .strip_prefix("enqueued upload job ")
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("no job id in {stdout:?}"))?
        .to_owned();

    let (_console, url) = console(&local, &queues, &[])?;
    let (_driver, browser) = browser().await?;
    let result = async {
        cancel_in_browser(&local, &id, &url, &browser).await?;
        local_tab(&subject, &key, &url, &browser).await
    }
    .await;
    browser.close().await.ok();
    result?;

    // A form without the console's token changes nothing.
    let (status, _) = http(
        &url,
        "POST",
        "/scheduled/run-now",
        &[("Origin", &url)],
        &format!("id={id}"),
    )?;
    assert_eq!(status, 403);

    let (_no_ledger, bare) = console(&local, &queues, &["--table="])?;
    for tab in ["/busy", "/retries", "/scheduled"] {
        let (status, page) = http(&bare, "GET", tab, &[], "")?;
        assert_eq!(status, 200, "{tab}");
        assert!(page.contains("id=\"ledger-off\""), "{tab}: {page}");
    }
    Ok(())
}

async fn local_tab(subject: &str, key: &str, url: &str, browser: &Client) -> Result<()> {
    browser.goto(&format!("{url}/local")).await?;
    let subjects = browser.find_all(Locator::Css("#mails td.subject")).await?;
    let mut texts = Vec::new();
    for cell in subjects {
        texts.push(cell.text().await?);
    }
    assert!(texts.iter().any(|t| t == subject), "{texts:?}");
    assert!(
        browser.find(Locator::Css("#mails script")).await.is_err(),
        "the subject stayed text"
    );
    assert_ne!(browser.title().await?, "owned");
    let size = text_of(browser, &format!("#objects tr[data-key='{key}'] td.n")).await?;
    assert_eq!(size, "7", "the object's bytes");
    Ok(())
}

async fn cancel_in_browser(local: &LocalAws, id: &str, url: &str, browser: &Client) -> Result<()> {
    for (tab, heading) in [("/busy", "Busy"), ("/retries", "Retries")] {
        browser.goto(&format!("{url}{tab}")).await?;
        assert_eq!(text_of(browser, "h1").await?, heading);
    }
    browser.goto(&format!("{url}/scheduled")).await?;
    let row = format!("tr[data-job-id='{id}']");
    let cells = text_of(browser, &row).await?;
    assert!(cells.contains("upload"), "{cells}");
    std::fs::create_dir_all(screenshot_dir())?;
    std::fs::write(
        screenshot_dir().join("scheduled.png"),
        browser.screenshot().await?,
    )?;
    browser
        .find(Locator::Css(&format!("{row} button.cancel")))
        .await?
        .click()
        .await?;
    browser.accept_alert().await?;
    let notice = text_of(browser, "#notice").await?;
    assert_eq!(notice, format!("cancelled `{id}`: it will not run"));
    assert!(
        browser.find(Locator::Css(&row)).await.is_err(),
        "the cancelled job is no longer listed"
    );
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?;
    let record = producer::contract::ledger::read(&local.dynamodb, table, id).await?;
    assert_eq!(
        producer::contract::ledger::state_of(&record),
        Some(producer::contract::ledger::state::CANCELLED)
    );
    Ok(())
}

/// A dead letter whose envelope is stored in S3 (a large job): its page shows
/// the envelope and where it is stored, and its Delete removes both.
#[tokio::test]
async fn a_stored_dead_letter_is_shown_from_s3_and_deleted_with_its_envelope() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("console-stored", 3, 5).await?;
    let payloads = format!("payloads-{}", unique_suffix()).to_lowercase();
    local.s3.create_bucket().bucket(&payloads).send().await?;
    let id = format!("stored-{}", unique_suffix());
    let marker = format!("kept in s3 {}", unique_suffix());
    local
        .queue(&queues.dlq_url)
        .with_payloads(Some(
            producer::send::payloads::PayloadStore::new(local.s3.clone(), &payloads).always(true),
        ))
        .enqueue(
            &local.text_mail(marker.clone()).with_id(&id),
            producer::SendOptions::default(),
        )
        .await?;
    let stored = |local: &LocalAws| {
        let payloads = payloads.clone();
        let s3 = local.s3.clone();
        async move {
            let listed = s3.list_objects_v2().bucket(&payloads).send().await?;
            anyhow::Ok(listed.contents().len())
        }
    };
    assert_eq!(stored(&local).await?, 1);

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
        page.contains(&marker),
        "the stored envelope is shown: {page}"
    );
    assert!(
        page.contains(&format!("s3://{payloads}/payloads/{id}/")),
        "and where it is: {page}"
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
    assert_eq!(stored(&local).await?, 0, "its envelope went with it");
    Ok(())
}
