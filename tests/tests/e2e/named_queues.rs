//! Named queues on the local AWS: a worker serving `mailers` and `default`
//! in weighted and in strict order, judged by the order and the counts of
//! the jobs it starts (never by time); dead letters that go back to their own
//! queue; and the shop's reminder, which goes to `mailers` by its own defaults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use aws_sdk_sqs::types::QueueAttributeName;
use handler::worker::{QueueOrder, ServedQueue, WorkerSettings, shutdown_channel};
use handler::{Context, Done, JobError, Perform, Runner, Settings};
use integration_tests::{LocalAws, TestQueues, eventually, run_jobs};
use producer::contract::attributes as attr;
use producer::send::routes::QueueRoutes;
use producer::{EnqueueOptions, JobType, Jobs};
use tokio::sync::Semaphore;

/// What the test sees of the worker: each start in order (the job's queue,
/// as its payload names it, and its attempt), and a gate each job waits on
/// before it finishes.
struct Starts {
    order: Mutex<Vec<(String, u32)>>,
    gate: Semaphore,
    /// Jobs pass the gate without waiting and take this long instead.
    open: bool,
    work: Duration,
}

impl Starts {
    fn gated() -> Arc<Self> {
        Arc::new(Starts {
            order: Mutex::default(),
            gate: Semaphore::new(0),
            open: false,
            work: Duration::ZERO,
        })
    }

    fn open(work: Duration) -> Arc<Self> {
        Arc::new(Starts {
            order: Mutex::default(),
            gate: Semaphore::new(0),
            open: true,
            work,
        })
    }

    fn seen(&self) -> Vec<(String, u32)> {
        self.order.lock().expect("not poisoned").clone()
    }
}

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Gated {
    queue: String,
}

impl JobType for Gated {
    const KIND: &'static str = "gated";
}

impl Perform<Arc<Starts>> for Gated {
    async fn perform(self, cx: &Context<'_, Arc<Starts>>) -> Result<Done, JobError> {
        let starts = cx.state();
        starts
            .order
            .lock()
            .expect("not poisoned")
            .push((self.queue, cx.job().attempt));
        if starts.open {
            tokio::time::sleep(starts.work).await;
        } else {
            starts
                .gate
                .acquire()
                .await
                .map_err(JobError::transient)?
                .forget();
        }
        Ok(Done::done())
    }
}

/// A `mailers` and a `default` queue of the test's own, with dead-letter queues.
async fn two_queues(local: &LocalAws, hint: &str) -> Result<(TestQueues, TestQueues)> {
    let mailers = local.fresh_queues(&format!("{hint}-m"), 5, 60).await?;
    let default = local.fresh_queues(&format!("{hint}-d"), 5, 60).await?;
    Ok((mailers, default))
}

fn routes(mailers: &TestQueues, default: &TestQueues) -> QueueRoutes {
    QueueRoutes::from_pairs([
        ("mailers", mailers.url.as_str()),
        ("default", default.url.as_str()),
    ])
}

async fn enqueue(jobs: &Jobs, queue: &str, count: usize) -> Result<()> {
    for _ in 0..count {
        jobs.enqueue_with(
            &Gated {
                queue: queue.to_owned(),
            },
            EnqueueOptions::default().queue(queue),
        )
        .await?;
    }
    Ok(())
}

type WorkerTask =
    tokio::task::JoinHandle<Result<handler::worker::WorkerStats, handler::worker::WorkerError>>;

/// Runs a worker on both queues in this process; returns its stop switch and task.
fn start_worker(
    local: &LocalAws,
    starts: &Arc<Starts>,
    queues: Vec<ServedQueue>,
    order: QueueOrder,
    concurrency: usize,
) -> Result<(tokio::sync::watch::Sender<bool>, WorkerTask)> {
    let settings = Settings {
        concurrency,
        dead_letter_queue_url: None,
        ..Settings::new("unused")
    };
    let handler = Runner::new()
        .with_state(Arc::clone(starts))
        .job::<Gated>()
        .handler(&local.config, settings)?;
    let mut worker = WorkerSettings::for_queues(queues, order);
    worker.wait_seconds = 1;
    worker.strict_idle_pause = Duration::from_millis(200);
    let (stop, stopped) = shutdown_channel();
    let sqs = local.sqs.clone();
    let task =
        tokio::spawn(async move { handler::worker::run(&handler, &sqs, &worker, stopped).await });
    Ok((stop, task))
}

async fn not_visible(local: &LocalAws, url: &str) -> Result<u64> {
    Ok(local
        .queue_attribute(
            url,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .await?
        .parse()?)
}

/// Every slot is held by a `default` job with more `default` behind them; a
/// `mailers` job arrives and is received; then a slot frees. In strict
/// order the next start is the mail; weighted 3 to 1, it is within the next
/// two starts (two slots freed). In strict order no `default` job is received twice.
#[tokio::test]
async fn a_mailers_job_overtakes_the_default_backlog_when_a_slot_frees() -> Result<()> {
    let local = LocalAws::connect().await?;
    for (order, within) in [(QueueOrder::Strict, 1), (QueueOrder::Weighted, 2)] {
        let hint = format!("{order:?}").to_lowercase();
        let (mailers, default) = two_queues(&local, &hint).await?;
        let jobs = Jobs::new(local.sqs.clone()).with_routes(routes(&mailers, &default));
        const SLOTS: usize = 3;
        enqueue(&jobs, "default", 12).await?;
        let starts = Starts::gated();
        let weights = match order {
            QueueOrder::Strict => (1, 1),
            QueueOrder::Weighted => (3, 1),
        };
        let (stop, worker) = start_worker(
            &local,
            &starts,
            vec![
                ServedQueue::new("mailers", &mailers.url, weights.0),
                ServedQueue::new("default", &default.url, weights.1),
            ],
            order,
            SLOTS,
        )?;
        let waited = Duration::from_secs(30);
        eventually("every slot held by a default job", waited, || async {
            Ok((starts.seen().len() == SLOTS).then_some(()))
        })
        .await?;
        enqueue(&jobs, "mailers", 1).await?;
        eventually("the mailers job received", waited, || async {
            Ok((not_visible(&local, &mailers.url).await? == 1).then_some(()))
        })
        .await?;
        ensure!(
            starts.seen().len() == SLOTS,
            "{order:?}: nothing started while the slots were held"
        );
        // One slot frees per start asked for.
        starts.gate.add_permits(within);
        eventually("the next starts", waited, || async {
            Ok((starts.seen().len() >= SLOTS + within).then_some(()))
        })
        .await?;
        let next: Vec<String> = starts.seen()[SLOTS..SLOTS + within]
            .iter()
            .map(|(queue, _)| queue.clone())
            .collect();
        ensure!(
            next.contains(&"mailers".to_owned()),
            "{order:?}: the mailers job is not among the next {within} starts: {next:?}"
        );
        // Let everything run out.
        starts.gate.add_permits(100);
        eventually("all 13 jobs started", waited, || async {
            Ok((starts.seen().len() >= 13).then_some(()))
        })
        .await?;
        eventually("both queues empty", waited, || async {
            let left = local.queue_depth(&mailers.url).await?
                + local.queue_depth(&default.url).await?
                + not_visible(&local, &mailers.url).await?
                + not_visible(&local, &default.url).await?;
            Ok((left == 0).then_some(()))
        })
        .await?;
        stop.send(true).ok();
        worker.await.context("worker task")??;
        let seen = starts.seen();
        ensure!(
            seen.len() == 13,
            "{order:?}: each job started once: {seen:?}"
        );
        if order == QueueOrder::Strict {
            let again: Vec<_> = seen.iter().filter(|(_, attempt)| *attempt > 1).collect();
            ensure!(
                again.is_empty(),
                "strict order received a job twice without a failure: {again:?}"
            );
        }
    }
    Ok(())
}

/// Both queues backlogged: over the starts counted while both still had jobs
/// waiting, the shares follow the weights 3 to 1 within 10 percentage points.
#[tokio::test]
async fn under_a_backlog_in_both_queues_the_starts_follow_the_weights() -> Result<()> {
    let local = LocalAws::connect().await?;
    let (mailers, default) = two_queues(&local, "shares").await?;
    let jobs = Jobs::new(local.sqs.clone()).with_routes(routes(&mailers, &default));
    const EACH: usize = 450;
    let (to_mailers, to_default) = tokio::join!(
        enqueue(&jobs, "mailers", EACH),
        enqueue(&jobs, "default", EACH)
    );
    to_mailers?;
    to_default?;
    // Jobs that take a while, so that the job slots, not the receives, are
    // what the queues share: 4 slots at 80 ms a job want 50 jobs a second,
    // well below the local emulator's pace of about 200 calls a second. A
    // queue whose receives cannot keep up gives its unused share to the others.
    let starts = Starts::open(Duration::from_millis(80));
    let concurrency = 4;
    let (stop, worker) = start_worker(
        &local,
        &starts,
        vec![
            ServedQueue::new("mailers", &mailers.url, 3),
            ServedQueue::new("default", &default.url, 1),
        ],
        QueueOrder::Weighted,
        concurrency,
    )?;
    eventually(
        "every mailers job started",
        Duration::from_secs(120),
        || async {
            let seen = starts.seen();
            Ok((seen.iter().filter(|(q, _)| q == "mailers").count() == EACH).then_some(()))
        },
    )
    .await?;
    stop.send(true).ok();
    worker.await.context("worker task")??;

    // Both queues were non-empty until the mailers queue had handed out its
    // last messages: count the starts before its last receive could have
    // been taken (a receive brings at most `concurrency` here, and each queue
    // has two in flight).
    let seen = starts.seen();
    let mut mailers_started = 0;
    let window: Vec<&str> = seen
        .iter()
        .map(|(q, _)| q.as_str())
        .take_while(|q| {
            if *q == "mailers" {
                mailers_started += 1;
            }
            mailers_started <= EACH - 3 * concurrency
        })
        .collect();
    ensure!(window.len() >= 400, "only {} starts counted", window.len());
    let share = window.iter().filter(|q| **q == "mailers").count() as f64 / window.len() as f64;
    eprintln!(
        "weighted 3:1 over {} starts while both queues were backlogged: mailers {:.1} %, default {:.1} %",
        window.len(),
        share * 100.0,
        (1.0 - share) * 100.0
    );
    ensure!(
        (share - 0.75).abs() <= 0.10,
        "mailers got {:.1} % of {} starts, not 75 % ± 10",
        share * 100.0,
        window.len()
    );
    Ok(())
}

/// A job that fails for good on each queue lands in that queue's own
/// dead-letter queue (from its redrive policy), naming its queue; `jobs dlq
/// redrive` over every queue of `JOBS_QUEUE_URLS` sends each back to its own queue.
#[tokio::test]
async fn a_dead_letter_from_each_queue_is_redriven_to_its_own_queue() -> Result<()> {
    let local = LocalAws::connect().await?;
    let (mailers, default) = two_queues(&local, "redrive").await?;
    // Refused by the handler's checks (not an address), sent past the
    // producer's as a raw body.
    let poison = |subject: &str| {
        let mut envelope = producer::Envelope::new(producer::Job::Mail(producer::MailJob {
            from: local.sender.clone(),
            to: vec!["not an address".into()],
            subject: subject.into(),
            text: Some("t".into()),
            ..producer::MailJob::default()
        }));
        envelope.id = format!("poison-{subject}");
        envelope.to_json()
    };
    for (queue, subject) in [(&mailers, "to-mailers"), (&default, "to-default")] {
        local
            .sqs
            .send_message()
            .queue_url(&queue.url)
            .message_body(poison(subject))
            .send()
            .await?;
    }
    let starts = Starts::open(Duration::ZERO);
    let (stop, worker) = start_worker(
        &local,
        &starts,
        vec![
            ServedQueue::new("mailers", &mailers.url, 1),
            ServedQueue::new("default", &default.url, 1),
        ],
        QueueOrder::Weighted,
        2,
    )?;
    eventually(
        "a dead letter in each dead-letter queue",
        Duration::from_secs(30),
        || async {
            let dead = local.queue_depth(&mailers.dlq_url).await?
                + local.queue_depth(&default.dlq_url).await?;
            Ok((dead == 2).then_some(()))
        },
    )
    .await?;
    stop.send(true).ok();
    worker.await.context("worker task")??;
    for (queue, id) in [
        (&mailers, "poison-to-mailers"),
        (&default, "poison-to-default"),
    ] {
        let letters = local
            .sqs
            .receive_message()
            .queue_url(&queue.dlq_url)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await?
            .messages
            .unwrap_or_default();
        ensure!(letters.len() == 1, "{}: {letters:?}", queue.dlq_url);
        let source = integration_tests::attribute(&letters[0], attr::SOURCE).unwrap_or_default();
        ensure!(
            source.starts_with(&format!("{}#", queue.url)),
            "the dead letter names its queue: `{source}`"
        );
        ensure!(integration_tests::attribute(&letters[0], attr::JOB_ID).as_deref() == Some(id));
        // Visible again for the redrive.
        local
            .sqs
            .change_message_visibility()
            .queue_url(&queue.dlq_url)
            .receipt_handle(letters[0].receipt_handle().unwrap_or_default())
            .visibility_timeout(0)
            .send()
            .await?;
    }

    let map = serde_json::json!({"mailers": mailers.url, "default": default.url}).to_string();
    let output = run_jobs(
        &local,
        &[("JOBS_QUEUE_URLS", &map)],
        &["dlq", "redrive", "--kind", "mail"].map(String::from),
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        stdout.contains("mailers: sent back 1") && stdout.contains("default: sent back 1"),
        "{stdout}"
    );
    for (queue, id) in [
        (&mailers, "poison-to-mailers"),
        (&default, "poison-to-default"),
    ] {
        let back = local.drain(&queue.url).await?;
        let ids: Vec<_> = back
            .iter()
            .filter_map(|m| integration_tests::attribute(m, attr::JOB_ID))
            .collect();
        ensure!(ids == [id], "{}: {ids:?}", queue.url);
        ensure!(local.queue_depth(&queue.dlq_url).await? == 0);
    }
    Ok(())
}

/// The seed's row: `PurchaseReminderJob` goes to `mailers` by its own
/// defaults, and mail built in goes there too, while uploads go to `default`.
#[tokio::test]
async fn the_shops_reminder_and_built_in_mail_go_to_mailers_and_uploads_to_default() -> Result<()> {
    let local = LocalAws::connect().await?;
    let (mailers, default) = two_queues(&local, "routes").await?;
    let jobs = Jobs::new(local.sqs.clone()).with_routes(routes(&mailers, &default));
    let reminder = shop_jobs::PurchaseReminder::enqueue(&jobs, 42).await?;
    let mail = jobs
        .enqueue_job(
            producer::Job::Mail(producer::MailJob {
                from: local.sender.clone(),
                to: vec!["ann@example.com".into()],
                subject: "routes".into(),
                text: Some("t".into()),
                ..producer::MailJob::default()
            }),
            EnqueueOptions::default(),
        )
        .await?;
    let upload = jobs
        .enqueue_job(
            producer::Job::Upload(producer::UploadJob::from_bytes(
                &local.bucket,
                "routes.txt",
                b"r",
            )),
            EnqueueOptions::default(),
        )
        .await?;
    let ids = |messages: Vec<aws_sdk_sqs::types::Message>| -> Vec<String> {
        let mut ids: Vec<String> = messages
            .iter()
            .filter_map(|m| integration_tests::attribute(m, attr::JOB_ID))
            .collect();
        ids.sort();
        ids
    };
    let mut expected_mailers = vec![reminder.job_id, mail.job_id];
    expected_mailers.sort();
    assert_eq!(ids(local.drain(&mailers.url).await?), expected_mailers);
    assert_eq!(ids(local.drain(&default.url).await?), [upload.job_id]);
    Ok(())
}
