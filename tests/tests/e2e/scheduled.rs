//! The ledger's lists, end to end: scheduled jobs listed by the producer, one
//! run now (it runs exactly once, and its carried copy stops), one cancelled
//! (it runs zero times, past its time); a running job in the `busy` index, a
//! stuck claim, and a failed job in the `retries` index until its next try.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, ensure};
use handler::ledger::{ClaimFor, Leg};
use handler::{Context, Done, JobError, Perform, Runner, Settings};
use integration_tests::{LocalAws, run_worker_until, unique_suffix};
use operations::ledger_lists::{self, LedgerListError};
use producer::contract::ledger::{self, DEFAULT_KEEP_SECONDS, epoch_seconds, field, state};
use producer::send::queue::schedule;
use producer::send::schedules::ScheduleBook;
use producer::{JobType, Jobs, SendOptions};
use serde::{Deserialize, Serialize};

#[tokio::test]
async fn a_job_run_now_runs_exactly_once_and_a_cancelled_one_zero_times_past_their_time()
-> Result<()> {
    let local = LocalAws::connect().await?;
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?.to_owned();
    let queues = local.fresh_queues("scheduled", 3, 30).await?;
    let marker = unique_suffix();
    let queue = local
        .queue(&queues.url)
        .with_schedules(Some(ScheduleBook::new(local.dynamodb.clone(), &table)));
    let now = SystemTime::now();
    let at = now + Duration::from_secs(10);
    // Three jobs for the same time. Their first leg is a second, so the
    // handler carries them forward (two-second legs) before they are due.
    let subjects = ["early", "cancelled", "control"].map(|s| format!("scheduled {marker} {s}"));
    let mut ids = Vec::new();
    for subject in &subjects {
        let (envelope, _) = schedule(&local.text_mail(subject), at, now);
        queue.enqueue(&envelope, SendOptions::delayed(1)).await?;
        ids.push(envelope.id);
    }
    let [early, cancelled, control] = [&ids[0], &ids[1], &ids[2]];
    let served = operations::served::Served::new([queues.url.clone()], None);

    let listed = ledger_lists::scheduled(&local.dynamodb, &table, now, 1000).await?;
    for id in &ids {
        let job = listed
            .iter()
            .find(|j| &j.job_id == id)
            .with_context(|| format!("`{id}` is not listed: {listed:?}"))?;
        assert_eq!(job.kind, "mail");
        assert_eq!(job.queue_url, queues.url);
        assert_eq!(job.due_at, epoch_seconds(at));
    }

    let ran = ledger_lists::run_now(&local.dynamodb, &local.sqs, &table, early, &served).await?;
    assert_eq!(&ran.job_id, early);
    ledger_lists::cancel_scheduled(&local.dynamodb, &table, cancelled).await?;
    let listed = ledger_lists::scheduled(&local.dynamodb, &table, now, 1000).await?;
    let still: Vec<&str> = listed
        .iter()
        .map(|j| j.job_id.as_str())
        .filter(|id| ids.iter().any(|i| i == id))
        .collect();
    assert_eq!(still, [control.as_str()], "run now and cancel unlist a job");
    // At its next leg, each carried copy finds what became of its job.
    let ledger = local.ledger(Duration::from_secs(30))?;
    assert_eq!(ledger.leg(early).await?, Leg::RanEarly);
    assert_eq!(ledger.leg(cancelled).await?, Leg::Cancelled);
    assert_eq!(ledger.leg(control).await?, Leg::Carry);
    // A second Run now finds nothing to run; nor does one for the cancelled job.
    for id in [early, cancelled] {
        let again = ledger_lists::run_now(&local.dynamodb, &local.sqs, &table, id, &served).await;
        assert!(
            matches!(again, Err(LedgerListError::NotScheduled(_))),
            "{again:?}"
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
            let control_sent = !local.mails_with(&subjects[2])?.is_empty();
            let empty = local.queue_depth(&queues.url).await? == 0;
            Ok((control_sent && empty && SystemTime::now() > at).then_some(()))
        },
    )
    .await?;
    let count = |subject: &str| -> Result<usize> { Ok(local.mails_with(subject)?.len()) };
    assert_eq!(count(&subjects[0])?, 1, "run now: exactly once");
    assert_eq!(count(&subjects[1])?, 0, "cancelled: never");
    assert_eq!(count(&subjects[2])?, 1, "the control ran at its time");
    assert_eq!(stats.done, 2, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert!(stats.duplicates >= 1, "the carried copy stopped: {stats:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);

    // The run-now job's record outlives its time by a done record's keep.
    let record = ledger::read(&local.dynamodb, &table, early).await?;
    assert_eq!(ledger::state_of(&record), Some(state::DONE));
    let expires_at = ledger::number(&record, field::EXPIRES_AT).context("no expiry")?;
    assert!(
        expires_at >= epoch_seconds(at) + DEFAULT_KEEP_SECONDS,
        "{record:?}"
    );
    Ok(())
}

/// What the jobs below did.
#[derive(Debug, Default)]
struct Probe {
    /// (kind, attempt) of every `perform`.
    runs: Mutex<Vec<(String, u32)>>,
    /// Set once the test saw the lingering job listed as busy: it may end.
    seen_busy: std::sync::atomic::AtomicBool,
}

impl Probe {
    fn record(&self, kind: &str, attempt: u32) {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((kind.to_owned(), attempt));
    }
}

type State = Arc<Probe>;

/// Runs until the test has seen it running (at most half a minute).
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Lingering {
    marker: String,
}

impl JobType for Lingering {
    const KIND: &'static str = "lingering";
}

impl Perform<State> for Lingering {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        let seen = || {
            cx.state()
                .seen_busy
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        let started = std::time::Instant::now();
        while !seen() && started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cx.state().record(Self::KIND, cx.attempt());
        Ok(Done::done())
    }
}

/// Fails its first try with a transient error, then succeeds.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct FailsOnce {
    marker: String,
}

impl JobType for FailsOnce {
    const KIND: &'static str = "fails-once";
}

impl Perform<State> for FailsOnce {
    async fn perform(self, cx: &Context<'_, State>) -> Result<Done, JobError> {
        cx.state().record(Self::KIND, cx.attempt());
        if cx.attempt() == 1 {
            return Err(JobError::transient(format!(
                "the partner for {} did not answer",
                self.marker
            )));
        }
        Ok(Done::done())
    }
}

#[tokio::test]
async fn running_jobs_stuck_claims_and_retries_are_listed_from_the_ledgers_indexes() -> Result<()> {
    let local = LocalAws::connect().await?;
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?.to_owned();
    // A failed job comes back when the queue's ten seconds of visibility end
    // (no backoff, whose jitter may make the wait nothing): long enough for the
    // lists to be read while it waits, even under the load of the other tests.
    let queues = local.fresh_queues("lists", 3, 10).await?;
    let marker = unique_suffix();

    // A claim whose holder stopped: its lease runs out and nobody renews it.
    let stuck_id = format!("stuck-{marker}");
    local
        .ledger(Duration::from_secs(1))?
        .claim(ClaimFor {
            job_id: &stuck_id,
            payload_sha256: "p",
            kind: "mail",
            queue: "default",
        })
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = ledger_lists::busy(&local.dynamodb, &table, 1000).await?;
    let stuck = busy
        .iter()
        .find(|r| r.job_id == stuck_id)
        .with_context(|| format!("the stuck claim is not listed: {busy:?}"))?;
    assert!(stuck.stuck(epoch_seconds(SystemTime::now())), "{stuck:?}");
    assert_eq!(
        (stuck.kind.as_str(), stuck.queue.as_str()),
        ("mail", "default")
    );

    let jobs = Jobs::new(local.sqs.clone()).with_default_queue(&queues.url);
    let sent_at = epoch_seconds(SystemTime::now());
    let lingering = jobs
        .enqueue(&Lingering {
            marker: marker.clone(),
        })
        .await?
        .job_id;
    let failing = jobs
        .enqueue(&FailsOnce {
            marker: marker.clone(),
        })
        .await?
        .job_id;
    let probe = State::default();
    let handler = local
        .handler_with(
            local.ses.clone(),
            Settings {
                max_receive_count: Some(3),
                backoff: None,
                visibility_timeout: Some(Duration::from_secs(10)),
                ..Settings::new(&queues.dlq_url)
            },
        )
        .with_ledger(local.ledger(Duration::from_secs(30))?)
        .with_runner(
            Runner::new()
                .with_state(Arc::clone(&probe))
                .job::<Lingering>()
                .job::<FailsOnce>(),
        )?;
    let queue_name = producer::send::queue::queue_name_of(&queues.url).to_owned();
    // What was seen while the worker ran: the running job, then the waiting one.
    let seen = Mutex::new((false, false));
    // The last look, for the message if the wait times out.
    let last_look = Mutex::new(String::new());
    let stats = run_worker_until(
        handler,
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            let busy = ledger_lists::busy(&local.dynamodb, &table, 1000).await?;
            if let Some(running) = busy.iter().find(|r| r.job_id == lingering) {
                ensure!(
                    running.kind == "lingering" && running.queue == queue_name,
                    "{running:?}"
                );
                ensure!(
                    !running.stuck(epoch_seconds(SystemTime::now())),
                    "{running:?}"
                );
                seen.lock().unwrap_or_else(|p| p.into_inner()).0 = true;
                probe
                    .seen_busy
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let retries = ledger_lists::retries(&local.dynamodb, &table, 1000).await?;
            if let Some(waiting) = retries.iter().find(|r| r.job_id == failing) {
                ensure!(
                    waiting.kind == "fails-once" && waiting.attempt == 1,
                    "{waiting:?}"
                );
                ensure!(
                    waiting
                        .last_error
                        .contains(&format!("the partner for {marker} did not answer")),
                    "{waiting:?}"
                );
                // Recorded as the visibility timeout from the failure,
                // which came after `sent_at`.
                let now = epoch_seconds(SystemTime::now());
                ensure!(
                    waiting.retry_at >= sent_at + 10 && waiting.retry_at <= now + 11,
                    "{waiting:?}, sent at {sent_at}"
                );
                seen.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
            }
            let runs = probe.runs.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let both_done = runs.iter().any(|(kind, _)| kind == "lingering")
                && runs
                    .iter()
                    .any(|(kind, attempt)| kind == "fails-once" && *attempt >= 2);
            let still_busy = busy.iter().find(|r| r.job_id == lingering);
            let still_waiting = retries.iter().find(|r| r.job_id == failing);
            *last_look.lock().unwrap_or_else(|p| p.into_inner()) =
                format!("runs {runs:?}; busy {still_busy:?}; waiting {still_waiting:?}");
            Ok((both_done && still_busy.is_none() && still_waiting.is_none()).then_some(()))
        },
    )
    .await
    .with_context(|| {
        format!(
            "last look: {}",
            last_look.lock().unwrap_or_else(|p| p.into_inner())
        )
    })?;
    let (saw_running, saw_waiting) = *seen.lock().unwrap_or_else(|p| p.into_inner());
    assert!(saw_running, "the running job was never listed as busy");
    assert!(
        saw_waiting,
        "the failed job was never listed as waiting for a retry"
    );
    assert_eq!(stats.done, 2, "{stats:?}");
    assert_eq!(stats.retried, 1, "{stats:?}");
    for id in [&lingering, &failing] {
        let record = ledger::read(&local.dynamodb, &table, id).await?;
        assert_eq!(ledger::state_of(&record), Some(state::DONE), "{record:?}");
        for gone in [field::BUSY_SHARD, field::RETRY_SHARD] {
            assert!(!record.contains_key(gone), "{gone} left on {record:?}");
        }
    }
    Ok(())
}

/// The listing comes after the send: a ledger that refuses it costs the job
/// nothing, and the CLI says so on stderr.
#[tokio::test]
async fn a_scheduled_job_that_cannot_be_listed_is_still_sent_with_a_warning() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("unlisted", 3, 30).await?;
    let output = integration_tests::run_jobs(
        &local,
        &[
            ("JOBS_QUEUE_URL", queues.url.as_str()),
            ("JOBS_IDEMPOTENCY_TABLE", "no-such-ledger"),
        ],
        &[
            "enqueue",
            "--in",
            "1h",
            "mail",
            "--to",
            "ann@example.com",
            "--subject",
            "later",
            "--text",
            "x",
        ]
        .map(str::to_owned),
    )?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("enqueued mail job "),
        "{output:?}"
    );
    assert!(
        stderr.contains("the job was sent, but could not be listed as scheduled"),
        "{stderr}"
    );
    assert_eq!(local.queue_depth(&queues.url).await?, 1);
    Ok(())
}
