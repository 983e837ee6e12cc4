//! Jobs of the application's own. The shop example's purchase reminder,
//! enqueued by the Rust API and by the CLI, through the example's worker and
//! through its Lambda binary under the runtime emulator; then job types of this
//! test's own that fail, refuse retries, panic or arrive twice, through the
//! worker loop and the Lambda batch path.

use std::fs::File;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use handler::batch::dead_letter_attributes as attr;
use handler::worker::WorkerStats;
use handler::{Backoff, Context, Done, JobError, Perform, Retry, Runner, Settings};
use integration_tests::{
    LocalAws, TestQueues, attribute, eventually, run_jobs, run_worker_until, unique_suffix,
    workspace_binary,
};
use producer::{EnqueueOptions, JobType, Jobs, SendOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shop_worker::{PurchaseReminder, ShopSettings};

use crate::lambda_binary::{free_port, invoke, start_binary};

/// One product of a test's own.
struct Product {
    id: u64,
    owner: String,
    paid: bool,
}

/// The reminders of one test: four products of its own; a paid and an unpaid
/// one enqueued by the Rust API, the same by the CLI.
struct Reminders {
    marker: String,
    products: Vec<Product>,
}

impl Reminders {
    fn paid(&self) -> impl Iterator<Item = &Product> + '_ {
        self.products.iter().filter(|p| p.paid)
    }

    fn unpaid(&self) -> impl Iterator<Item = &Product> + '_ {
        self.products.iter().filter(|p| !p.paid)
    }
}

pub(crate) fn random_product_id() -> u64 {
    // Below 2^53, so that any JSON reader keeps it exact.
    uuid::Uuid::new_v4().as_u64_pair().0 >> 12
}

pub(crate) async fn put_product(local: &LocalAws, id: u64, owner: &str, paid: bool) -> Result<()> {
    // The table the shop's binaries read, from the same setting.
    let settings = local.env.get(handler::batch::APP_SETTINGS_ENV)?;
    let table = handler::batch::parse_app_settings::<ShopSettings>(settings)
        .with_context(|| format!("no products table in `{settings}`"))?
        .products_table;
    local
        .dynamodb
        .put_item()
        .table_name(table)
        .item("product_id", AttributeValue::N(id.to_string()))
        .item("name", AttributeValue::S(format!("Gadget {id}")))
        .item("owner_email", AttributeValue::S(owner.to_owned()))
        .item("paid", AttributeValue::Bool(paid))
        .send()
        .await?;
    Ok(())
}

/// The reminder's payload schema as the example's worker exports it.
fn exported_schema(local: &LocalAws) -> Result<Value> {
    let output = std::process::Command::new(workspace_binary("shop-worker")?)
        .envs(local.env.child_env())
        .args(["schema", "purchase_reminder"])
        .output()?;
    ensure!(
        output.status.success(),
        "shop-worker schema: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn reminder_line(id: u64, marker: &str, n: usize) -> String {
    json!({
        "version": 1,
        "id": format!("reminder-{marker}-cli-{n}"),
        "kind": "purchase_reminder",
        "created_at": "2026-11-28T04:21:00Z",
        "job": {"product_id": id},
    })
    .to_string()
}

async fn enqueue_reminders(local: &LocalAws, queue_url: &str) -> Result<Reminders> {
    let marker = unique_suffix();
    let mut products = Vec::new();
    for (n, paid) in [true, false, true, false].into_iter().enumerate() {
        let product = Product {
            id: random_product_id(),
            owner: format!("owner-{marker}-{n}@example.com"),
            paid,
        };
        put_product(local, product.id, &product.owner, paid).await?;
        products.push(product);
    }
    let reminders = Reminders { marker, products };
    let by_api = [reminders.products[0].id, reminders.products[1].id];
    let by_cli = [reminders.products[2].id, reminders.products[3].id];

    // The Rust API, as the seed's controller does: the reminder's defaults
    // name `mailers`, which the test's queue stands for.
    let jobs = Jobs::new(local.sqs.clone()).with_routes(
        producer::send::routes::QueueRoutes::from_pairs([("mailers", queue_url)]),
    );
    PurchaseReminder::enqueue(&jobs, by_api[0]).await?;
    PurchaseReminder::enqueue_with(
        &jobs,
        by_api[1],
        EnqueueOptions::default().id(format!("reminder-{}-api", reminders.marker)),
    )
    .await?;

    // The CLI, checked against the schema the example exports.
    let dir = std::env::temp_dir().join(format!("own-jobs-{}", reminders.marker));
    std::fs::create_dir_all(&dir)?;
    let schema = dir.join("purchase_reminder.schema.json");
    std::fs::write(&schema, exported_schema(local)?.to_string())?;
    let lines = dir.join("reminders.jsonl");
    std::fs::write(
        &lines,
        format!(
            "{}\n{}\n",
            reminder_line(by_cli[0], &reminders.marker, 0),
            reminder_line(by_cli[1], &reminders.marker, 1)
        ),
    )?;
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let output = run_jobs(
        local,
        &[("JOBS_QUEUE_URL", queue_url)],
        &[
            "enqueue".into(),
            "--json".into(),
            path(&lines),
            "--schema".into(),
            path(&schema),
        ],
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "jobs enqueue: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        stdout.matches("enqueued purchase_reminder job").count() == 2,
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(reminders)
}

/// The JSON log lines of a run.
fn log_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Exactly one mail per unpaid product, none for a paid one; a `skipped`
/// outcome with its reason and the seed's log line for each paid one.
fn check_reminders(local: &LocalAws, reminders: &Reminders, logs: &str) -> Result<()> {
    let mails = local.sent_mails()?;
    for Product { id, owner, paid } in &reminders.products {
        let to_owner: Vec<_> = mails.iter().filter(|m| m.to.contains(owner)).collect();
        if *paid {
            assert!(to_owner.is_empty(), "product {id} is paid: {to_owner:?}");
        } else {
            assert_eq!(to_owner.len(), 1, "product {id}: one reminder");
            assert_eq!(to_owner[0].subject, "Your product is about to expire!");
            assert!(
                to_owner[0].body.contains(&format!("Gadget {id}")),
                "{:?}",
                to_owner[0]
            );
        }
    }
    let lines = log_lines(logs);
    for Product { id, .. } in reminders.paid() {
        let reason = format!("product {id} is paid");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l["outcome"] == "skipped" && l["reason"] == reason.as_str())
                .count(),
            1,
            "one skipped outcome for product {id}:\n{logs}"
        );
        let said = format!("PurchaseReminder: product {id} - reminder not sent");
        assert!(
            lines.iter().any(|l| l["message"] == said.as_str()),
            "{said}:\n{logs}"
        );
    }
    for Product { id, .. } in reminders.unpaid() {
        let said = format!("PurchaseReminder: product {id} - reminder sent");
        assert!(
            lines.iter().any(|l| l["message"] == said.as_str()),
            "{said}:\n{logs}"
        );
    }
    let skipped = lines.iter().filter(|l| l["outcome"] == "skipped").count();
    let done = lines.iter().filter(|l| l["outcome"] == "done").count();
    assert_eq!((skipped, done), (2, 2), "{logs}");
    Ok(())
}

#[tokio::test]
async fn reminders_through_the_example_worker_mail_only_unpaid_products() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("shop-worker", 3, 30).await?;
    let reminders = enqueue_reminders(&local, &queues.url).await?;

    let log_path = std::env::temp_dir().join(format!("shop-worker-{}.log", reminders.marker));
    let mut worker = tokio::process::Command::new(workspace_binary("shop-worker")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .env("JOBS_DLQ_URL", &queues.dlq_url)
        .env("JOBS_WAIT_SECONDS", "1")
        .stdout(File::create(&log_path)?)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let unpaid_owners: Vec<String> = reminders.unpaid().map(|p| p.owner.clone()).collect();
    eventually("the reminders", Duration::from_secs(60), || async {
        let mails = local.sent_mails()?;
        let sent = unpaid_owners
            .iter()
            .all(|owner| mails.iter().any(|m| m.to.contains(owner)));
        Ok((sent && local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    let pid = worker.id().context("worker pid")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait()).await??;
    let logs = std::fs::read_to_string(&log_path)?;
    std::fs::remove_file(&log_path).ok();
    assert!(status.success(), "{status}:\n{logs}");
    check_reminders(&local, &reminders, &logs)?;
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0, "{logs}");
    Ok(())
}

#[tokio::test]
async fn reminders_through_the_example_lambda_binary_mail_only_unpaid_products() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("shop-lambda", 3, 30).await?;
    let reminders = enqueue_reminders(&local, &queues.url).await?;
    let arn = local
        .queue_attribute(&queues.url, QueueAttributeName::QueueArn)
        .await?;

    // What Lambda's SQS poller would hand the function: the four messages as received.
    let mut records = Vec::new();
    for _ in 0..10 {
        records.extend(local.receive(&queues.url, 1).await?);
        if records.len() == 4 {
            break;
        }
    }
    ensure!(
        records.len() == 4,
        "{} of the 4 reminders came",
        records.len()
    );
    let event = json!({
        "Records": records.iter().map(|m| json!({
            "messageId": m.message_id(),
            "receiptHandle": m.receipt_handle(),
            "body": m.body(),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
        })).collect::<Vec<_>>(),
    });
    let event_path = std::env::temp_dir().join(format!("shop-event-{}.json", reminders.marker));
    std::fs::write(&event_path, event.to_string())?;
    let log_path = std::env::temp_dir().join(format!("shop-lambda-{}.log", reminders.marker));

    let port = free_port()?;
    let running = start_binary(
        "shop-handler",
        &local,
        port,
        &queues.dlq_url,
        &[],
        Stdio::from(File::create(&log_path)?),
    )?;
    let failures = invoke(port, &event_path.to_string_lossy())?;
    drop(running);
    let logs = std::fs::read_to_string(&log_path)?;
    std::fs::remove_file(&log_path).ok();
    std::fs::remove_file(&event_path).ok();
    assert!(failures.is_empty(), "{failures:?}:\n{logs}");
    check_reminders(&local, &reminders, &logs)?;
    Ok(())
}

#[tokio::test]
async fn the_cli_checks_a_custom_payload_against_the_exported_schema() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("shop-schema", 3, 30).await?;
    let schema = exported_schema(&local)?;
    let good = json!({"product_id": 42});
    let bad = json!({"product_id": "42"});
    assert!(serde_json::from_value::<PurchaseReminder>(good.clone()).is_ok());
    assert!(serde_json::from_value::<PurchaseReminder>(bad.clone()).is_err());

    let dir = std::env::temp_dir().join(format!("shop-schema-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let schema_path = dir.join("schema.json");
    std::fs::write(&schema_path, schema.to_string())?;
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let enqueue = |payload: &Value, name: &str| -> Result<std::process::Output> {
        let file = dir.join(name);
        let envelope = json!({
            "version": 1, "id": format!("schema-{name}"), "kind": "purchase_reminder",
            "created_at": "2026-11-28T04:21:00Z", "job": payload,
        });
        std::fs::write(&file, envelope.to_string())?;
        run_jobs(
            &local,
            &[("JOBS_QUEUE_URL", &queues.url)],
            &[
                "enqueue".into(),
                "--json".into(),
                path(&file),
                "--schema".into(),
                path(&schema_path),
            ],
        )
    };
    let refused = enqueue(&bad, "bad.json")?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`job.product_id`"), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(local.queue_depth(&queues.url).await?, 0);

    let taken = enqueue(&good, "good.json")?;
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert_eq!(local.queue_depth(&queues.url).await?, 1);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// What the test's job types did, shared with them as the application's state.
#[derive(Debug, Default)]
struct Probe {
    /// (kind, marker, attempt) of every `perform` that started.
    runs: Mutex<Vec<(String, String, u32)>>,
}

impl Probe {
    fn record(&self, kind: &str, marker: &str, attempt: u32) {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).push((
            kind.to_owned(),
            marker.to_owned(),
            attempt,
        ));
    }

    fn attempts(&self, kind: &str, marker: &str) -> Vec<u32> {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, m, _)| k == kind && m == marker)
            .map(|(_, _, attempt)| *attempt)
            .collect()
    }
}

type State = Arc<Probe>;

/// Always fails as a transient error, and is retried as often as the queue allows.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Flaky {
    marker: String,
}

impl JobType for Flaky {
    const KIND: &'static str = "flaky";
}

impl Perform<State> for Flaky {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        Err(JobError::transient("the warehouse did not answer"))
    }
}

/// Fails as a transient error, and allows no retry.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Fragile {
    marker: String,
}

impl JobType for Fragile {
    const KIND: &'static str = "fragile";
}

impl Perform<State> for Fragile {
    const RETRY: Retry = Retry::Never;

    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        Err(JobError::transient("the printer jammed"))
    }
}

/// Panics on its first delivery, runs on the next.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Explosive {
    marker: String,
}

impl JobType for Explosive {
    const KIND: &'static str = "explosive";
}

impl Perform<State> for Explosive {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        assert!(cx.attempt() > 1, "the boiler blew up");
        Ok(Done::done())
    }
}

/// Counts its runs.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Counted {
    marker: String,
}

impl JobType for Counted {
    const KIND: &'static str = "counted";
}

impl Perform<State> for Counted {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        Ok(Done::done())
    }
}

/// Takes its time: longer than the test queue's visibility timeout.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Slow {
    marker: String,
    millis: u64,
}

impl JobType for Slow {
    const KIND: &'static str = "slow";
}

impl Perform<State> for Slow {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, &self.marker, cx.attempt());
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        Ok(Done::done())
    }
}

fn runner(probe: &State) -> Runner<State> {
    Runner::new()
        .with_state(Arc::clone(probe))
        .job::<Flaky>()
        .job::<Fragile>()
        .job::<Explosive>()
        .job::<Counted>()
        .job::<Slow>()
}

fn settings(dlq_url: &str, max_receive_count: u32) -> Settings {
    Settings {
        max_receive_count: Some(max_receive_count),
        backoff: Some(Backoff {
            base_seconds: 1,
            max_seconds: 1,
        }),
        ..Settings::new(dlq_url)
    }
}

#[tokio::test]
async fn a_failing_custom_job_backs_off_and_is_dead_lettered_and_one_without_retry_at_once()
-> Result<()> {
    let local = LocalAws::connect().await?;
    // Thirty seconds of visibility: only backoff brings a failed job back within the test's time.
    let queues = local.fresh_queues("own-retry", 3, 30).await?;
    let marker = unique_suffix();
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    jobs.enqueue(&Flaky {
        marker: marker.clone(),
    })
    .await?;
    jobs.enqueue(&Fragile {
        marker: marker.clone(),
    })
    .await?;
    let probe = State::default();
    let handler = local
        .handler_with(local.ses.clone(), settings(&queues.dlq_url, 3))
        .with_runner(runner(&probe))?;
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(25),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? == 2).then_some(())) },
    )
    .await?;
    assert_eq!(probe.attempts("flaky", &marker), [1, 2, 3]);
    assert_eq!(probe.attempts("fragile", &marker), [1]);
    assert_eq!(stats.retried, 2, "flaky backed off twice: {stats:?}");
    assert_eq!(stats.dead_lettered, 2, "{stats:?}");

    let dead = local.drain(&queues.dlq_url).await?;
    let by_kind = |kind: &str| {
        dead.iter()
            .find(|m| attribute(m, attr::JOB_KIND).as_deref() == Some(kind))
            .with_context(|| format!("no {kind} dead letter"))
    };
    let flaky = by_kind("flaky")?;
    assert_eq!(
        attribute(flaky, attr::ERROR_CODE).as_deref(),
        Some("job_failed")
    );
    assert_eq!(attribute(flaky, attr::RECEIVE_COUNT).as_deref(), Some("3"));
    assert_eq!(
        attribute(flaky, attr::ERROR_MESSAGE).as_deref(),
        Some("gave up after 3 deliveries: the warehouse did not answer")
    );
    let fragile = by_kind("fragile")?;
    assert_eq!(
        attribute(fragile, attr::RECEIVE_COUNT).as_deref(),
        Some("1")
    );
    assert_eq!(
        attribute(fragile, attr::ERROR_MESSAGE).as_deref(),
        Some("failed, and its job type allows no retry: the printer jammed")
    );
    assert_eq!(local.queue_depth(&queues.url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_runs_again_with_its_claim_released() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("own-panic", 3, 30).await?;
    let marker = unique_suffix();
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    jobs.enqueue(&Explosive {
        marker: marker.clone(),
    })
    .await?;
    let mails: Vec<_> = (0..3)
        .map(|i| {
            (
                local.text_mail(format!("beside a panic {marker} {i}")),
                SendOptions::default(),
            )
        })
        .collect();
    assert!(
        local
            .queue(&queues.url)
            .enqueue_all(&mails)
            .await?
            .all_sent()
    );

    let probe = State::default();
    // A lease far longer than the test: a claim left behind would hold the retry off.
    let handler = local
        .handler_with(local.ses.clone(), settings(&queues.dlq_url, 3))
        .with_runner(runner(&probe))?
        .with_ledger(local.ledger(Duration::from_secs(600))?);
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(25),
        || async {
            let ran = probe.attempts("explosive", &marker).len() == 2;
            let mailed = local.mails_with(&format!("beside a panic {marker}"))?.len() == 3;
            Ok((ran && mailed && local.queue_depth(&queues.url).await? == 0).then_some(()))
        },
    )
    .await?;
    assert_eq!(probe.attempts("explosive", &marker), [1, 2]);
    assert_eq!(stats.retried, 1, "{stats:?}");
    assert_eq!(stats.done, 4, "{stats:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_panic_in_a_lambda_batch_fails_only_its_own_record() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("own-panic-lambda", 3, 30).await?;
    let marker = unique_suffix();
    let explosive = producer::job_of(&Explosive {
        marker: marker.clone(),
    })?;
    let mail = local.text_mail(format!("lambda beside a panic {marker}"));
    let record = |id: &str, body: String| {
        json!({
            "messageId": id, "receiptHandle": format!("handle-{id}"), "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        })
    };
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(json!({
        "Records": [
            record("m-explosive", producer::Envelope::new(explosive).to_json()),
            record("m-mail", mail.to_json()),
        ]
    }))?;
    let probe = State::default();
    let handler = local
        .handler_with(local.ses.clone(), settings(&queues.dlq_url, 3))
        .with_runner(runner(&probe))?;
    let response = handler.handle_sqs_event(event).await?;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-explosive"]);
    assert_eq!(
        local
            .mails_with(&format!("lambda beside a panic {marker}"))?
            .len(),
        1
    );
    assert_eq!(probe.attempts("explosive", &marker), [1]);
    Ok(())
}

#[tokio::test]
async fn a_custom_job_sent_twice_runs_once_with_the_ledger() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("own-twice", 3, 30).await?;
    let marker = unique_suffix();
    let job = Counted {
        marker: marker.clone(),
    };
    // Both copies may come in one batch: the second then finds the first's claim
    // and comes back when its lease ends, as a duplicate. A short lease keeps that
    // within the test's time; the job itself takes milliseconds.
    let (probe, stats) = run_twice_with_the_ledger(
        &local,
        &queues,
        &job,
        format!("counted-{marker}"),
        3,
        Duration::from_secs(5),
        Duration::from_secs(25),
    )
    .await?;
    assert_eq!(probe.attempts("counted", &marker), [1], "{stats:?}");
    assert_eq!((stats.done, stats.duplicates), (1, 1), "{stats:?}");
    Ok(())
}

/// Sends `job` twice under one id, then runs the worker with the ledger (a lease
/// of `lease`) until the queue is empty.
async fn run_twice_with_the_ledger<J: JobType>(
    local: &LocalAws,
    queues: &TestQueues,
    job: &J,
    id: String,
    max_receive_count: u32,
    lease: Duration,
    timeout: Duration,
) -> Result<(State, WorkerStats)> {
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    let options = EnqueueOptions::default().id(id);
    jobs.enqueue_with(job, options.clone()).await?;
    jobs.enqueue_with(job, options).await?;
    let probe = State::default();
    let handler = local
        .handler_with(
            local.ses.clone(),
            settings(&queues.dlq_url, max_receive_count),
        )
        .with_runner(runner(&probe))?
        .with_ledger(local.ledger(lease)?);
    let stats = run_worker_until(handler, local, &queues.url, timeout, || async {
        Ok((local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    Ok((probe, stats))
}

/// The queue's visibility timeout in these tests, and the slow job's length.
const SHORT_VISIBILITY_SECONDS: u32 = 2;
const SLOW_JOB: Duration = Duration::from_secs(6);

#[tokio::test]
async fn a_job_slower_than_the_visibility_timeout_runs_once_without_the_ledger() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local
        .fresh_queues("heartbeat", 3, SHORT_VISIBILITY_SECONDS)
        .await?;
    let marker = unique_suffix();
    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    jobs.enqueue(&Slow {
        marker: marker.clone(),
        millis: SLOW_JOB.as_millis() as u64,
    })
    .await?;
    let probe = State::default();
    // No ledger: only the heartbeat keeps the message hidden while the job runs,
    // and the worker's other receive polls the queue all along.
    let handler = local
        .handler_with(local.ses.clone(), settings(&queues.dlq_url, 3))
        .with_runner(runner(&probe))?;
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async {
            let finished = !probe.attempts("slow", &marker).is_empty()
                && local.queue_depth(&queues.url).await? == 0;
            Ok(finished.then_some(()))
        },
    )
    .await?;
    assert_eq!(probe.attempts("slow", &marker), [1], "{stats:?}");
    assert_eq!((stats.done, stats.retried), (1, 0), "{stats:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_slow_job_keeps_its_ledger_lease_so_a_copy_is_a_duplicate() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local
        .fresh_queues("lease", 5, SHORT_VISIBILITY_SECONDS)
        .await?;
    let marker = unique_suffix();
    let job = Slow {
        marker: marker.clone(),
        millis: SLOW_JOB.as_millis() as u64,
    };
    // A lease shorter than the job: without renewal the copy would claim the job
    // when the lease ran out and run it a second time.
    let (probe, stats) = run_twice_with_the_ledger(
        &local,
        &queues,
        &job,
        format!("slow-{marker}"),
        5,
        Duration::from_secs(2),
        Duration::from_secs(40),
    )
    .await?;
    assert_eq!(probe.attempts("slow", &marker), [1], "{stats:?}");
    assert_eq!((stats.done, stats.duplicates), (1, 1), "{stats:?}");
    Ok(())
}
