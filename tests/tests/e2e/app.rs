//! What an application meets when it uses the library: the job id `enqueue`
//! gives back cancels the job; a `Retry::Limit(5)` job gets exactly six
//! deliveries under the stack's receive count; a job enqueues a follow-up job
//! that runs; error chains reach the dead letter's reason; bad data is
//! dead-lettered at once; and the shop's axum app enqueues through its route
//! while the shop's worker runs the job.

use std::io::{Read as _, Write as _};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use handler::batch::dead_letter_attributes as attr;
use handler::worker::WorkerSettings;
use handler::{Backoff, Context, Done, Handler, JobError, Perform, Retry, Runner, Settings};
use integration_tests::{
    LocalAws, TestQueues, attribute, eventually, run_worker_until, unique_suffix, workspace_binary,
};
use producer::{EnqueueOptions, JobType, Jobs};
use serde::{Deserialize, Serialize};

use crate::lambda_binary::free_port;
use crate::own_jobs::{put_product, random_product_id};

/// The runs of each kind and marker, with their attempts.
#[derive(Debug, Default)]
struct Runs(Mutex<Vec<(&'static str, String, u32)>>);

impl Runs {
    fn record(&self, kind: &'static str, marker: &str, attempt: u32) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((kind, marker.to_owned(), attempt));
    }

    fn attempts(&self, kind: &str, marker: &str) -> Vec<u32> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, m, _)| *k == kind && m == marker)
            .map(|(_, _, attempt)| *attempt)
            .collect()
    }
}

type State = Arc<Runs>;

/// Fails transiently every time, and allows five retries.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Limited {
    marker: String,
}

impl JobType for Limited {
    const KIND: &'static str = "limited";
}

impl Perform<State> for Limited {
    const RETRY: Retry = Retry::Limit(5);

    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        Err(JobError::transient("the courier did not answer"))
    }
}

/// Places an order, then enqueues its invoice as a job of its own.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    marker: String,
}

impl JobType for Order {
    const KIND: &'static str = "order";
}

impl Perform<State> for Order {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        cx.enqueue(&Invoice {
            marker: self.marker,
        })
        .await?;
        Ok(Done::done())
    }
}

/// Counts its runs: the follow-up, and the job that is cancelled.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Invoice {
    marker: String,
}

impl JobType for Invoice {
    const KIND: &'static str = "invoice";
}

impl Perform<State> for Invoice {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        Ok(Done::done())
    }
}

/// Fails with an `anyhow` error that has two contexts, and allows no retry.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Chained {
    marker: String,
}

impl JobType for Chained {
    const KIND: &'static str = "chained";
}

impl Perform<State> for Chained {
    const RETRY: Retry = Retry::Never;

    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        let read: anyhow::Result<()> = Err(std::io::Error::other("connection reset"))
            .context("reading the products table")
            .context(format!("loading the product of {}", self.marker));
        read?;
        Ok(Done::done())
    }
}

/// Reads a number from text that is not one: bad data, with retries allowed.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Parse {
    marker: String,
    text: String,
}

impl JobType for Parse {
    const KIND: &'static str = "parse";
}

impl Perform<State> for Parse {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        let _quantity: u64 = serde_json::from_str(&self.text)?;
        Ok(Done::done())
    }
}

/// Not ready on its first three runs: asks to come back 5 s later, past
/// these tests' longest delay (2 s), so the rest rides `jobs.snoozed_until`.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Snoozy {
    marker: String,
}

impl JobType for Snoozy {
    const KIND: &'static str = "snoozy";
}

impl Perform<State> for Snoozy {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        if cx.state().attempts(Self::KIND, &self.marker).len() <= 3 {
            return Ok(Done::snooze(Duration::from_secs(5)));
        }
        Ok(Done::done())
    }
}

fn runner(runs: &State) -> Runner<State> {
    Runner::new()
        .with_state(Arc::clone(runs))
        .job::<Limited>()
        .job::<Order>()
        .job::<Invoice>()
        .job::<Chained>()
        .job::<Parse>()
        .job::<Snoozy>()
}

/// The stack's receive count (10), one-second backoff, and the queue for follow-ups.
fn settings(queue_url: &str, dlq_url: &str) -> Settings {
    Settings {
        max_receive_count: Some(10),
        backoff: Some(Backoff {
            base_seconds: 1,
            max_seconds: 1,
        }),
        max_delay_seconds: 2,
        queue_url: Some(queue_url.to_owned()),
        ..Settings::new(dlq_url)
    }
}

/// A worker's handler for `queues`, with these tests' job types and settings.
fn handler(local: &LocalAws, queues: &TestQueues, runs: &State) -> Result<Handler> {
    Ok(local
        .handler_with(local.ses.clone(), settings(&queues.url, &queues.dlq_url))
        .with_runner(runner(runs))?)
}

#[tokio::test]
async fn a_retry_limit_of_five_gets_six_deliveries_then_its_dead_letter() -> Result<()> {
    let local = LocalAws::connect().await?;
    // The stack's ceiling of 10 deliveries; thirty seconds of visibility, so
    // only backoff brings the job back within the test's time.
    let queues = local.fresh_queues("limit", 10, 30).await?;
    let marker = unique_suffix();
    Jobs::new(local.sqs.clone())
        .with_default_queue(&queues.url)
        .enqueue(&Limited {
            marker: marker.clone(),
        })
        .await?;
    let runs = State::default();
    let handler = handler(&local, &queues, &runs)?;
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? == 1).then_some(())) },
    )
    .await?;
    assert_eq!(runs.attempts("limited", &marker), [1, 2, 3, 4, 5, 6]);
    assert_eq!((stats.retried, stats.dead_lettered), (5, 1), "{stats:?}");
    let dead = local.drain(&queues.dlq_url).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attribute(&dead[0], attr::RECEIVE_COUNT).as_deref(),
        Some("6")
    );
    assert_eq!(
        attribute(&dead[0], attr::ERROR_MESSAGE).as_deref(),
        Some("gave up after 6 deliveries: the courier did not answer")
    );
    Ok(())
}

#[tokio::test]
async fn a_follow_up_job_enqueued_from_perform_runs() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("follow-up", 3, 30).await?;
    let marker = unique_suffix();
    Jobs::new(local.sqs.clone())
        .with_default_queue(&queues.url)
        .enqueue(&Order {
            marker: marker.clone(),
        })
        .await?;
    let runs = State::default();
    let handler = handler(&local, &queues, &runs)?;
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async { Ok((!runs.attempts("invoice", &marker).is_empty()).then_some(())) },
    )
    .await?;
    assert_eq!(runs.attempts("order", &marker), [1]);
    assert_eq!(runs.attempts("invoice", &marker), [1]);
    assert_eq!(stats.done, 2, "{stats:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn the_job_id_enqueue_gives_back_cancels_the_job() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cancel-by-id", 3, 30).await?;
    let marker = unique_suffix();
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    // Two invoices for a few seconds ahead, with random ids: one is cancelled
    // by the id `enqueue` gave back.
    let later = || EnqueueOptions::default().after(Duration::from_secs(5));
    let cancelled = Invoice {
        marker: format!("{marker}-cancelled"),
    };
    let control = Invoice {
        marker: format!("{marker}-control"),
    };
    let sent = jobs.enqueue_with(&cancelled, later()).await?;
    jobs.enqueue_with(&control, later()).await?;
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?;
    let outcome = operations::cancel::cancel(&local.dynamodb, table, &sent.job_id).await?;
    assert_eq!(outcome, operations::cancel::Cancelled::Now);

    let runs = State::default();
    let handler =
        handler(&local, &queues, &runs)?.with_ledger(local.ledger(Duration::from_secs(30))?);
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(45),
        || async {
            let control_ran = !runs.attempts("invoice", &control.marker).is_empty();
            let empty = local.queue_depth(&queues.url).await? == 0;
            Ok((control_ran && empty).then_some(()))
        },
    )
    .await?;
    assert!(runs.attempts("invoice", &cancelled.marker).is_empty());
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    Ok(())
}

#[tokio::test]
async fn a_context_chain_reaches_the_reason_and_bad_data_is_dead_lettered_at_once() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("reasons", 10, 30).await?;
    let marker = unique_suffix();
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    jobs.enqueue(&Chained {
        marker: marker.clone(),
    })
    .await?;
    jobs.enqueue(&Parse {
        marker: marker.clone(),
        text: r#""forty-two""#.into(),
    })
    .await?;
    let runs = State::default();
    let handler = handler(&local, &queues, &runs)?;
    run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? == 2).then_some(())) },
    )
    .await?;
    assert_eq!(runs.attempts("chained", &marker), [1]);
    assert_eq!(runs.attempts("parse", &marker), [1], "no retry of bad data");
    let dead = local.drain(&queues.dlq_url).await?;
    let reason = |kind: &str| {
        dead.iter()
            .find(|m| attribute(m, attr::JOB_KIND).as_deref() == Some(kind))
            .and_then(|m| attribute(m, attr::ERROR_MESSAGE))
            .with_context(|| format!("no {kind} dead letter"))
    };
    assert_eq!(
        reason("chained")?,
        format!(
            "failed, and its job type allows no retry: loading the product of {marker}: \
             reading the products table: connection reset"
        )
    );
    let parse = reason("parse")?;
    assert!(
        parse.starts_with("the data cannot be read: invalid type: string \"forty-two\""),
        "{parse}"
    );
    for letter in &dead {
        assert_eq!(attribute(letter, attr::RECEIVE_COUNT).as_deref(), Some("1"));
    }
    Ok(())
}

/// POSTs to `path` on 127.0.0.1:`port`; the status and the body.
fn post(port: u16, path: &str) -> Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer: {answer}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::test]
async fn the_axum_app_enqueues_through_its_route_and_the_worker_runs_the_job() -> Result<()> {
    let local = LocalAws::connect().await?;
    // The stack's two queues, as `JOBS_QUEUE_URLS` names them.
    let queues = local.fresh_queues("shop-web", 3, 30).await?;
    let default = local.fresh_queues("shop-web-default", 3, 30).await?;
    let map = serde_json::json!({"mailers": queues.url, "default": default.url}).to_string();
    let marker = unique_suffix();
    let product = random_product_id();
    let owner = format!("web-{marker}@example.com");
    put_product(&local, product, &owner, false).await?;

    let port = free_port()?;
    let _web = tokio::process::Command::new(workspace_binary("shop-web")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URLS", &map)
        .env("SHOP_WEB_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let (status, body) = eventually("the web app", Duration::from_secs(20), || async {
        Ok(post(port, &format!("/products/{product}/remind")).ok())
    })
    .await?;
    ensure!(status == 202, "{status}: {body}");
    let reminded: serde_json::Value = serde_json::from_str(&body)?;
    let job_id = reminded["job_id"].as_str().context("a job id")?.to_owned();
    let (refused, _) = post(port, "/products/not-a-number/remind")?;
    assert_eq!(refused, 400);
    // The reminder's own defaults name `mailers`, as the seed's job does.
    assert_eq!(local.queue_depth(&queues.url).await?, 1, "on mailers");
    assert_eq!(local.queue_depth(&default.url).await?, 0, "not on default");

    // The worker serves both, mailers first; each queue's dead letters go
    // where its redrive policy says.
    let _worker = tokio::process::Command::new(workspace_binary("shop-worker")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URLS", &map)
        .env("JOBS_QUEUES", "mailers=3,default=1")
        .env_remove("JOBS_DLQ_URL")
        .env("JOBS_WAIT_SECONDS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mails = eventually("the reminder", Duration::from_secs(60), || async {
        let mails: Vec<_> = local
            .sent_mails()?
            .into_iter()
            .filter(|m| m.to.contains(&owner))
            .collect();
        Ok((!mails.is_empty()).then_some(mails))
    })
    .await?;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "Your product is about to expire!");
    assert!(!job_id.is_empty());
    eventually("an empty queue", Duration::from_secs(30), || async {
        Ok((local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_worker_runs_inside_the_applications_process_until_its_shutdown_signal() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("in-process", 3, 30).await?;
    let marker = unique_suffix();
    Jobs::new(local.sqs.clone())
        .with_default_queue(&queues.url)
        .enqueue(&Invoice {
            marker: marker.clone(),
        })
        .await?;
    let runs = State::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut worker_settings = WorkerSettings::new(&queues.url);
    worker_settings.wait_seconds = 1;
    // As an application runs it: beside its own work, with its own stop.
    let worker = tokio::spawn({
        let config = local.config.clone();
        let settings = settings(&queues.url, &queues.dlq_url);
        let runner = runner(&runs);
        async move {
            runner
                .worker_with_settings(&config, settings, worker_settings, async move {
                    let _ = stopped.await;
                })
                .await
        }
    });
    eventually("the job", Duration::from_secs(30), || async {
        Ok((!runs.attempts("invoice", &marker).is_empty()).then_some(()))
    })
    .await?;
    ensure!(
        !worker.is_finished(),
        "the worker stopped before it was told to"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), worker).await???;
    assert_eq!(runs.attempts("invoice", &marker), [1]);
    eventually("the message deleted", Duration::from_secs(30), || async {
        Ok((local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    Ok(())
}

/// A web app deployed before its workers: the worker of the day does not know
/// the new kind yet, and keeps the job through the grace period until a
/// worker that knows it runs it. Past the period, the same job is dead-lettered.
#[tokio::test]
async fn a_new_kind_waits_out_the_workers_deploy_then_runs() -> Result<()> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("deploy", 10, 30).await?;
    let marker = unique_suffix();
    Jobs::new(local.sqs.clone())
        .with_default_queue(&queues.url)
        .enqueue(&Invoice {
            marker: marker.clone(),
        })
        .await?;
    // Twenty seconds of grace over 10 deliveries: the next in about 3 s, not
    // the backoff's 1 s.
    let with_grace = |queues: &TestQueues| {
        local.handler_with(
            local.ses.clone(),
            Settings {
                unknown_kind_grace: Duration::from_secs(20),
                ..settings(&queues.url, &queues.dlq_url)
            },
        )
    };
    let old = with_grace(&queues);
    let stats = run_worker_until(
        old,
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async {
            let hidden = local
                .queue_attribute(
                    &queues.url,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                )
                .await?;
            Ok((hidden == "1").then_some(()))
        },
    )
    .await
    .context("the worker of the day keeps the job")?;
    assert!(
        stats.unknown_kind >= 1 && stats.dead_lettered == 0 && stats.done == 0,
        "{stats:?}"
    );

    let runs = State::default();
    let new = with_grace(&queues).with_runner(runner(&runs))?;
    let stats = run_worker_until(
        new,
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async { Ok((!runs.attempts("invoice", &marker).is_empty()).then_some(())) },
    )
    .await
    .context("the new worker runs it")?;
    assert_eq!(stats.done, 1, "{stats:?}");
    let attempts = runs.attempts("invoice", &marker);
    assert!(attempts.len() == 1 && attempts[0] >= 2, "{attempts:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);

    // Created before the period: dead-lettered by the old worker at once. A
    // queue of its own: the last worker's long poll may still take a message
    // sent to the first just after it stopped.
    let late_queues = local.fresh_queues("deploy-late", 10, 30).await?;
    let mut late = producer::Envelope::new(producer::Job::Custom(producer::CustomJob {
        kind: Invoice::KIND.into(),
        payload: serde_json::json!({ "marker": marker }),
    }));
    late.created_at =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() - Duration::from_secs(60))
            .to_string();
    local
        .queue(&late_queues.url)
        .enqueue(&late, producer::SendOptions::default())
        .await?;
    let old = with_grace(&late_queues);
    let stats = run_worker_until(
        old,
        &local,
        &late_queues.url,
        Duration::from_secs(30),
        || async { Ok((local.queue_depth(&late_queues.dlq_url).await? >= 1).then_some(())) },
    )
    .await
    .context("a job created before the period is dead-lettered")?;
    assert_eq!(
        (stats.dead_lettered, stats.unknown_kind),
        (1, 0),
        "{stats:?}"
    );
    let letters = local.drain(&late_queues.dlq_url).await?;
    assert_eq!(
        attribute(&letters[0], attr::ERROR_CODE).as_deref(),
        Some("unknown_kind")
    );
    Ok(())
}

/// `jobs enqueue --expires-in`: a job not started by its time is dropped as
/// `expired`, counted, with no dead letter and no mail, and its ledger claim
/// given back.
#[tokio::test]
async fn a_job_not_started_by_its_expiry_is_dropped_and_counted() -> Result<()> {
    let local = LocalAws::connect().await?;
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?.to_owned();
    let queues = local.fresh_queues("expiry", 3, 30).await?;
    let marker = unique_suffix();
    let id = format!("expiring-{marker}");
    let subject = format!("your code {marker}");
    let args = [
        "enqueue",
        "--expires-in",
        "1s",
        "mail",
        "--to",
        "ann@example.com",
        "--subject",
        &subject,
        "--text",
        "123456",
        "--id",
        &id,
    ];
    let sent = integration_tests::run_jobs(
        &local,
        &[("JOBS_QUEUE_URL", &queues.url), ("JOBS_QUEUE_URLS", "")],
        &args.map(str::to_owned),
    )?;
    ensure!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let handler = local
        .handler(&queues.dlq_url, Some(3))
        .with_ledger(local.ledger(Duration::from_secs(30))?);
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async { Ok((local.queue_depth(&queues.url).await? == 0).then_some(())) },
    )
    .await?;
    assert_eq!(
        (
            stats.expired,
            stats.done,
            stats.dead_lettered,
            stats.retried
        ),
        (1, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(
        local.queue_depth(&queues.dlq_url).await?,
        0,
        "no dead letter"
    );
    assert!(local.mails_with(&marker)?.is_empty(), "no mail went out");
    let record = producer::contract::ledger::read(&local.dynamodb, &table, &id).await?;
    assert!(record.is_empty(), "the claim was given back: {record:?}");
    Ok(())
}

/// Snoozed more times than the queue's `maxReceiveCount` (2), a job is never
/// dead-lettered: each snooze is a new message, and not a failure. Each wait
/// is longer than the longest delay, so each is carried forward once more by
/// its `jobs.snoozed_until` before the job runs again.
#[tokio::test]
async fn a_job_snoozed_more_often_than_the_queue_allows_deliveries_still_runs() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("snooze", 2, 30).await?;
    let marker = unique_suffix();
    Jobs::new(local.sqs.clone())
        .with_default_queue(&queues.url)
        .enqueue(&Snoozy {
            marker: marker.clone(),
        })
        .await?;
    let runs = State::default();
    let handler = local
        .handler_with(
            local.ses.clone(),
            Settings {
                max_receive_count: Some(2),
                ..settings(&queues.url, &queues.dlq_url)
            },
        )
        .with_ledger(local.ledger(Duration::from_secs(30))?)
        .with_runner(runner(&runs))?;
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async { Ok((runs.attempts("snoozy", &marker).len() >= 4).then_some(())) },
    )
    .await?;
    assert_eq!(
        (
            stats.snoozed,
            stats.done,
            stats.dead_lettered,
            stats.retried
        ),
        (3, 1, 0, 0),
        "{stats:?}"
    );
    // Its first leg comes after 2 s with 3 s still to wait: carried at least once.
    assert!(stats.rescheduled >= 3, "each snooze carried: {stats:?}");
    assert_eq!(
        runs.attempts("snoozy", &marker),
        [1, 1, 1, 1],
        "each run the first delivery of its message"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert_eq!(local.queue_depth(&queues.url).await?, 0);
    Ok(())
}
