//! The fault and load test. A few thousand mixed jobs (mails, uploads, scheduled
//! ones, some sent twice, poison among them) run through worker processes
//! while a proxy fails a share of their SES and S3 calls (throttling, 5xx,
//! timeouts), and workers are killed with SIGKILL in the middle of a batch. Bad
//! input is offered to the CLI all the while. Then every good job has taken
//! effect exactly once, every poison job is in the dead-letter queue with its
//! reason, and nothing is left on the queue.
//!
//! `LOAD_JOBS` (2000), `LOAD_FAULTS_PER_MILLE` (100), `LOAD_WORKERS` (2) and
//! `LOAD_KILLS` (2) size it; `make load` runs it alone and prints its figures.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use integration_tests::fault_proxy::{FaultProxy, Passed, Protocol};
use integration_tests::{
    LocalAws, TestQueues, assert_refused, attribute, bad_enqueue_inputs, eventually, run_jobs,
    unique_suffix, workspace_binary,
};
use producer::send::queue::schedule;
use producer::{Envelope, Job, SendOptions, UploadJob};

/// A job's queue and the settings of a worker that recovers quickly: short
/// visibility, lease, call timeout and backoff.
const VISIBILITY_SECONDS: u32 = 10;
const MAX_RECEIVE_COUNT: u32 = 10;
/// Jobs a worker runs at once: at most this many can be caught by a kill
/// between their effect and the ledger's record.
const CONCURRENCY: usize = 10;
const WORKER_ENV: &[(&str, &str)] = &[
    ("JOBS_CONCURRENCY", "10"),
    ("JOBS_WAIT_SECONDS", "1"),
    ("JOBS_MAX_RECEIVE_COUNT", "10"),
    ("JOBS_LEASE_SECONDS", "8"),
    ("JOBS_CALL_TIMEOUT_SECONDS", "2"),
    ("JOBS_BACKOFF_BASE_SECONDS", "1"),
    ("JOBS_BACKOFF_MAX_SECONDS", "4"),
    ("JOBS_MAX_DELAY_SECONDS", "2"),
    // No retries inside the SDK: every injected fault reaches the handler.
    ("AWS_MAX_ATTEMPTS", "1"),
    ("RUST_LOG", "info"),
];

fn setting(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("`{name}` must be a whole number, not `{value}`")),
        Err(_) => Ok(default),
    }
}

/// A worker process with its own proxies in front of SES and S3.
struct Worker {
    child: tokio::process::Child,
    ses: FaultProxy,
    s3: FaultProxy,
    log: PathBuf,
    /// How many calls each proxy had passed on before this worker started.
    passed_before: (usize, usize),
}

/// A worker killed with SIGKILL: its proxies for its replacement, and what it
/// did before it died.
struct Killed {
    ses: FaultProxy,
    s3: FaultProxy,
    /// Its calls held when it was killed.
    held: u64,
    /// Its SES and S3 calls that the proxies passed on to the services, by
    /// their place in each proxy's list.
    ses_calls: Range<usize>,
    s3_calls: Range<usize>,
    log: PathBuf,
}

impl Killed {
    /// Its calls as the services answered them: read once every job has
    /// settled, so that the calls it had on their way have their answers.
    fn calls(&self) -> Vec<Passed> {
        let part = |proxy: &FaultProxy, range: &Range<usize>| {
            proxy
                .passed()
                .get(range.clone())
                .map(<[Passed]>::to_vec)
                .unwrap_or_default()
        };
        let mut calls = part(&self.ses, &self.ses_calls);
        calls.extend(part(&self.s3, &self.s3_calls));
        calls
    }
}

impl Worker {
    fn spawn(
        local: &LocalAws,
        queues: &TestQueues,
        ses: FaultProxy,
        s3: FaultProxy,
        log: PathBuf,
    ) -> Result<Self> {
        let passed_before = (ses.passed().len(), s3.passed().len());
        let file =
            std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = tokio::process::Command::new(workspace_binary("worker")?)
            .envs(local.env.child_env())
            .envs(WORKER_ENV.iter().copied())
            .env("JOBS_QUEUE_URL", &queues.url)
            .env("JOBS_DLQ_URL", &queues.dlq_url)
            .env("AWS_ENDPOINT_URL_SESV2", ses.url())
            .env("AWS_ENDPOINT_URL_S3", s3.url())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()?;
        Ok(Worker {
            child,
            ses,
            s3,
            log,
            passed_before,
        })
    }

    fn held(&self) -> u64 {
        self.ses.held() + self.s3.held()
    }

    /// Holds the worker's SES and S3 calls until at least `calls` are waiting,
    /// kills it with SIGKILL, and lets the held calls fail: they never reach
    /// the services. Calls passed on before the hold may still be on their way,
    /// and a job may be between its effect and the ledger's record of it: the
    /// window of docs/guarantees.md, which [`effects_in_kill_window`] finds.
    async fn kill_mid_batch(mut self, calls: u64) -> Result<Killed> {
        let before = self.held();
        self.ses.hold();
        self.s3.hold();
        let waited = eventually(
            "calls in flight to kill the worker on",
            Duration::from_secs(60),
            || {
                let held = self.held() - before;
                async move { Ok((held >= calls).then_some(held)) }
            },
        )
        .await;
        self.child.start_kill()?;
        self.child.wait().await?;
        let ses_calls = self.passed_before.0..self.ses.passed().len();
        let s3_calls = self.passed_before.1..self.s3.passed().len();
        self.ses.release();
        self.s3.release();
        Ok(Killed {
            ses: self.ses,
            s3: self.s3,
            held: waited?,
            ses_calls,
            s3_calls,
            log: self.log,
        })
    }

    async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("worker has exited already")?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        assert!(sent.success(), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await??;
        assert!(status.success(), "worker exited with {status}");
        Ok(())
    }
}

/// What a worker's log reports of a job that is settled for it: it will not
/// run it again.
const SETTLED: [&str; 5] = ["done", "skipped", "dead_lettered", "duplicate", "cancelled"];

/// The effects a killed worker may have had without the ledger marking them
/// done: the mail subjects and object keys of its calls that SES or S3 accepted
/// (2xx), or whose answer never came, for jobs its log never reported settled.
/// A kill there repeats the effect, as docs/guarantees.md says; no other effect
/// may be repeated. A call the service refused (a poison job's upload to a
/// bucket that does not exist) is no effect, whoever made it.
fn effects_in_kill_window(
    calls: &[Passed],
    log: &str,
    effect_of_job: &HashMap<String, String>,
) -> Result<BTreeSet<String>> {
    let effects_of_settled: BTreeSet<&str> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| {
            entry["outcome"]
                .as_str()
                .is_some_and(|outcome| SETTLED.contains(&outcome))
        })
        .filter_map(|entry| {
            let id = entry["job_id"].as_str()?;
            effect_of_job.get(id).map(String::as_str)
        })
        .collect();
    let mut window = BTreeSet::new();
    for call in calls.iter().filter(|call| call.may_have_taken_effect()) {
        let path = call.path.split('?').next().unwrap_or_default();
        let effect = if path.starts_with("/v2/email/") {
            // SES v2 SendEmail: the subject names the job.
            serde_json::from_slice::<serde_json::Value>(&call.body)?["Content"]["Simple"]["Subject"]
                ["Data"]
                .as_str()
                .map(str::to_owned)
        } else {
            // S3 PutObject, path-style: /bucket/key.
            path.trim_start_matches('/')
                .split_once('/')
                .map(|(_, key)| key.to_owned())
        };
        if let Some(effect) = effect
            && !effects_of_settled.contains(effect.as_str())
        {
            window.insert(effect);
        }
    }
    Ok(window)
}

/// What the good jobs must leave behind.
#[derive(Debug, Default)]
struct Expected {
    /// Mail subjects.
    mails: BTreeSet<String>,
    /// Object key → its bytes' length.
    uploads: BTreeMap<String, i64>,
}

/// A poison message: its body and the code it must be dead-lettered with.
struct Poison {
    body: String,
    code: &'static str,
}

fn poison_messages(local: &LocalAws, run: &str, count: usize) -> Vec<Poison> {
    (0..count)
        .map(|i| {
            let mail = local.text_mail(format!("poison {run} #{i}"));
            let mut value: serde_json::Value =
                serde_json::from_str(&mail.to_json()).unwrap_or_default();
            match i % 6 {
                0 => Poison {
                    body: format!("not json {run} #{i} {{"),
                    code: "malformed_json",
                },
                1 => {
                    value["version"] = 99.into();
                    Poison {
                        body: value.to_string(),
                        code: "unsupported_version",
                    }
                }
                2 => {
                    value["kind"] = "fax".into();
                    // Past the grace period of unknown kinds: dead-lettered at once.
                    value["created_at"] = "2026-01-01T00:00:00Z".into();
                    Poison {
                        body: value.to_string(),
                        code: "unknown_kind",
                    }
                }
                3 => {
                    value["job"]["to"] = serde_json::json!([format!("not-an-address-{i}")]);
                    Poison {
                        body: value.to_string(),
                        code: "invalid_job",
                    }
                }
                4 => {
                    let mut upload = UploadJob::from_bytes(
                        &local.bucket,
                        format!("poison/{run}/{i}"),
                        b"these bytes",
                    );
                    upload.sha256 = producer::contract::envelope::sha256_hex(b"other bytes");
                    Poison {
                        body: Envelope::new(Job::Upload(upload)).to_json(),
                        code: "invalid_job",
                    }
                }
                // Valid, but S3 refuses it: the bucket does not exist.
                _ => Poison {
                    body: Envelope::new(Job::Upload(UploadJob::from_bytes(
                        format!("t-missing-{run}"),
                        format!("poison/{i}"),
                        b"x",
                    )))
                    .to_json(),
                    code: "s3_put_object",
                },
            }
        })
        .collect()
}

async fn send_raw(local: &LocalAws, queue_url: &str, bodies: &[String]) -> Result<()> {
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = local
            .sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
        if !output.failed.is_empty() {
            bail!("poison messages were refused: {:?}", output.failed);
        }
    }
    Ok(())
}

async fn versioned_bucket(local: &LocalAws, name: &str) -> Result<()> {
    local.s3.create_bucket().bucket(name).send().await?;
    local
        .s3
        .put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// Every write the bucket has seen: key → sizes of its versions.
async fn object_versions(local: &LocalAws, bucket: &str) -> Result<HashMap<String, Vec<i64>>> {
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = local
            .s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await?;
        for version in page.versions() {
            versions
                .entry(version.key().unwrap_or_default().to_owned())
                .or_default()
                .push(version.size().unwrap_or_default());
        }
        if page.is_truncated() != Some(true) {
            return Ok(versions);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// Offers every bad input to the CLI through a proxy that counts the SQS calls
/// it makes: none may be made. Then one good job through the same proxy, so the
/// count is known to work; its subject is returned.
async fn bad_input_is_refused(
    local: &LocalAws,
    queues: &TestQueues,
    run: &str,
    round: usize,
) -> Result<(String, String)> {
    let sqs = FaultProxy::start(local.env.get("AWS_ENDPOINT_URL")?, Protocol::RestJson, 0).await?;
    let env = [
        ("JOBS_QUEUE_URL", queues.url.as_str()),
        ("AWS_ENDPOINT_URL_SQS", &sqs.url()),
    ];
    let dir = std::env::temp_dir().join(format!("jobs-load-{run}-{round}"));
    for input in bad_enqueue_inputs(&dir, &local.bucket)? {
        let output = run_jobs(local, &env, &input.args)?;
        assert_refused(&input, &output);
    }
    assert_eq!(
        sqs.counts().requests.load(Ordering::SeqCst),
        0,
        "bad input made an AWS call"
    );
    std::fs::remove_dir_all(&dir).ok();

    let subject = format!("load {run} cli #{round}");
    let args: Vec<String> = [
        "enqueue",
        "mail",
        "--to",
        "ann@example.com",
        "--subject",
        &subject,
        "--text",
        "x",
    ]
    .map(str::to_owned)
    .into();
    let output = run_jobs(local, &env, &args)?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        sqs.counts().requests.load(Ordering::SeqCst) > 0,
        "the proxy counts calls"
    );
    // `enqueued mail job <id> as message <id>`
    let stdout = String::from_utf8_lossy(&output.stdout);
    let job_id = stdout
        .split_whitespace()
        .nth(3)
        .with_context(|| format!("no job id in `{stdout}`"))?
        .to_owned();
    Ok((subject, job_id))
}

/// Counts of each outcome the workers logged; retries also by cause, as
/// `retry: <cause>`.
fn logged_outcomes(logs: &[PathBuf]) -> Result<BTreeMap<String, u64>> {
    let mut outcomes = BTreeMap::new();
    for log in logs {
        let text = std::fs::read_to_string(log)?;
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(outcome) = entry["outcome"].as_str() else {
                continue;
            };
            *outcomes.entry(outcome.to_owned()).or_default() += 1;
            if outcome == "retry" {
                let error = entry["error"].as_str().unwrap_or_default();
                let cause = if error.contains("injected by the test's fault proxy") {
                    "injected error"
                } else if error.contains("timeout") {
                    "call timeout"
                } else if error.contains("another delivery") {
                    "running elsewhere"
                } else {
                    error
                };
                *outcomes.entry(format!("retry: {cause}")).or_default() += 1;
            }
        }
    }
    Ok(outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_jobs_under_faults_and_kills_take_effect_exactly_once() -> Result<()> {
    let jobs = setting("LOAD_JOBS", 2000)? as usize;
    let faults_per_mille = setting("LOAD_FAULTS_PER_MILLE", 100)?;
    let worker_count = setting("LOAD_WORKERS", 2)?.max(1) as usize;
    let kills = setting("LOAD_KILLS", 2)? as usize;
    let local = LocalAws::connect().await?;
    let run = unique_suffix();
    let queues = local
        .fresh_queues("load", MAX_RECEIVE_COUNT, VISIBILITY_SECONDS)
        .await?;
    let bucket = format!("t-load-{run}");
    versioned_bucket(&local, &bucket).await?;
    let logs_dir = std::env::temp_dir().join(format!("jobs-load-{run}"));
    std::fs::create_dir_all(&logs_dir)?;
    let ses_upstream = local.env.get("AWS_ENDPOINT_URL_SESV2")?.to_owned();
    let s3_upstream = local.env.get("AWS_ENDPOINT_URL")?.to_owned();

    // The jobs: two mails to one upload; every 20th scheduled a few seconds
    // ahead with a shorter first delay, so the handler carries it forward;
    // every 25th sent a second time, as SQS may deliver it.
    let now = SystemTime::now();
    let mut expected = Expected::default();
    // Job id → its mail's subject or its object's key.
    let mut effect_of_job = HashMap::new();
    let mut sends = Vec::with_capacity(jobs + jobs / 25);
    let mut second_copies = Vec::new();
    for i in 0..jobs {
        let envelope = if i % 3 == 2 {
            let key = format!("load/{run}/{i}.txt");
            let bytes = format!("upload {i} of run {run}");
            expected.uploads.insert(key.clone(), bytes.len() as i64);
            let envelope = Envelope::new(Job::Upload(UploadJob::from_bytes(
                &bucket,
                key.clone(),
                bytes.as_bytes(),
            )));
            effect_of_job.insert(envelope.id.clone(), key);
            envelope
        } else {
            let subject = format!("load {run} #{i}");
            expected.mails.insert(subject.clone());
            let envelope = local.text_mail(subject.clone());
            effect_of_job.insert(envelope.id.clone(), subject);
            envelope
        };
        let send = if i % 20 == 7 {
            let (scheduled, _) = schedule(
                &envelope,
                now + Duration::from_secs(5 + (i % 4) as u64),
                now,
            );
            (scheduled, SendOptions::delayed(1))
        } else {
            (envelope, SendOptions::default())
        };
        if i % 25 == 3 {
            second_copies.push(send.clone());
        }
        sends.push(send);
    }
    sends.extend(second_copies);
    let poison = poison_messages(&local, &run, jobs / 40);

    let mut workers = Vec::new();
    let mut logs = Vec::new();
    let (mut ses_proxies, mut s3_proxies) = (Vec::new(), Vec::new());
    for n in 0..worker_count {
        let log = logs_dir.join(format!("worker-{n}.log"));
        logs.push(log.clone());
        let ses = FaultProxy::start(&ses_upstream, Protocol::RestJson, faults_per_mille).await?;
        let s3 = FaultProxy::start(&s3_upstream, Protocol::RestXml, faults_per_mille).await?;
        ses_proxies.push(ses.clone());
        s3_proxies.push(s3.clone());
        workers.push(Worker::spawn(&local, &queues, ses, s3, log)?);
    }
    let started = Instant::now();

    // Half the jobs, the poison, then the rest, while the workers run.
    let queue = local.queue(&queues.url);
    let half = sends.len() / 2;
    let report = queue.enqueue_all(&sends[..half]).await?;
    assert!(report.all_sent(), "{:?}", report.failed);
    send_raw(
        &local,
        &queues.url,
        &poison.iter().map(|p| p.body.clone()).collect::<Vec<_>>(),
    )
    .await?;
    let report = queue.enqueue_all(&sends[half..]).await?;
    assert!(report.all_sent(), "{:?}", report.failed);
    let enqueued_in = started.elapsed();

    // The kills, spread evenly over the effects (with two, at a third and at
    // two thirds), each of the workers in turn, with bad input offered after each.
    let effects_so_far = |workers: &[Worker]| -> u64 {
        workers
            .iter()
            .map(|w| {
                w.ses.counts().forwarded.load(Ordering::SeqCst)
                    + w.s3.counts().forwarded.load(Ordering::SeqCst)
            })
            .sum()
    };
    let mut kills_made = Vec::new();
    for kill in 0..kills {
        let target = (jobs as u64) * (kill as u64 + 1) / (kills as u64 + 1);
        let (mut waited, mut last) = (Instant::now(), 0);
        while effects_so_far(&workers) < target {
            let now = effects_so_far(&workers);
            if now != last {
                (waited, last) = (Instant::now(), now);
            } else if waited.elapsed() > Duration::from_secs(60) {
                bail!("no progress for a minute at {now} effects of {target}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let place = kill % workers.len();
        let victim = workers.remove(place);
        let killed = victim.kill_mid_batch(2).await?;
        let log = logs_dir.join(format!("worker-{}.log", worker_count + kill));
        logs.push(log.clone());
        workers.insert(
            place,
            Worker::spawn(&local, &queues, killed.ses.clone(), killed.s3.clone(), log)?,
        );
        kills_made.push(killed);
        let (subject, job_id) = bad_input_is_refused(&local, &queues, &run, kill).await?;
        expected.mails.insert(subject.clone());
        effect_of_job.insert(job_id, subject);
    }

    // Wait until the queue is empty and every effect is there.
    let mail_prefix = format!("load {run} ");
    // Some 400 s for 5,000 jobs at 20 % faults: a fifth of a second a job.
    let settle_within = Duration::from_secs((jobs as u64 / 5).max(600));
    eventually("every job settled", settle_within, || async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if local.queue_depth(&queues.url).await? > 0 {
            return Ok(None);
        }
        let mails = local.mails_with(&mail_prefix)?.len();
        let objects = object_versions(&local, &bucket).await?.len();
        Ok((mails >= expected.mails.len() && objects >= expected.uploads.len()).then_some(()))
    })
    .await?;
    let settled_in = started.elapsed();
    for worker in workers.drain(..) {
        worker.stop().await?;
    }

    // Each kill's window, now that the calls it had on their way have answers.
    let mut kill_window = BTreeSet::new();
    let mut windows = Vec::new();
    for killed in &kills_made {
        let log = std::fs::read_to_string(&killed.log)?;
        let window = effects_in_kill_window(&killed.calls(), &log, &effect_of_job)?;
        // More would mean the log's settled jobs were not read.
        assert!(
            window.len() <= CONCURRENCY,
            "{} effects in one kill's window: {window:?}",
            window.len()
        );
        kill_window.extend(window.iter().cloned());
        windows.push(window);
    }
    let held_at_kills: Vec<u64> = kills_made.iter().map(|k| k.held).collect();

    // Exactly once: one mail per subject, one write per key, nothing else.
    let mut mails: BTreeMap<String, usize> = BTreeMap::new();
    for mail in local.mails_with(&mail_prefix)? {
        *mails.entry(mail.subject).or_default() += 1;
    }
    let versions = object_versions(&local, &bucket).await?;
    let lost_mails: Vec<_> = expected
        .mails
        .iter()
        .filter(|s| !mails.contains_key(*s))
        .collect();
    // A second effect is allowed only in a kill's window, and only one.
    let repeated_in_window =
        |effect: &str, times: usize| times == 2 && kill_window.contains(effect);
    let twice_mails: Vec<_> = mails.iter().filter(|(_, n)| **n > 1).collect();
    let twice_mails_outside: Vec<_> = twice_mails
        .iter()
        .filter(|(subject, n)| !repeated_in_window(subject, **n))
        .collect();
    let unexpected_mails: Vec<_> = mails
        .keys()
        .filter(|s| !expected.mails.contains(*s))
        .collect();
    let lost_uploads: Vec<_> = expected
        .uploads
        .keys()
        .filter(|k| !versions.contains_key(*k))
        .collect();
    let twice_uploads: Vec<_> = versions.iter().filter(|(_, v)| v.len() > 1).collect();
    let twice_uploads_outside: Vec<_> = twice_uploads
        .iter()
        .filter(|(key, v)| !repeated_in_window(key, v.len()))
        .collect();
    let wrong_size: Vec<_> = versions
        .iter()
        .filter(|(key, sizes)| {
            expected
                .uploads
                .get(*key)
                .is_none_or(|size| sizes.iter().any(|s| s != size))
        })
        .collect();
    let duplicates = twice_mails.iter().map(|(_, n)| **n - 1).sum::<usize>()
        + twice_uploads
            .iter()
            .map(|(_, v)| v.len() - 1)
            .sum::<usize>();
    let lost = lost_mails.len() + lost_uploads.len();

    // Every poison message in the dead-letter queue with its reason, and nothing else.
    let mut dead = Vec::new();
    let draining = Instant::now();
    while dead.len() < poison.len() && draining.elapsed() < Duration::from_secs(30) {
        dead.extend(local.drain(&queues.dlq_url).await?);
    }
    let expected_codes: HashMap<&str, &str> =
        poison.iter().map(|p| (p.body.as_str(), p.code)).collect();
    let mut dead_codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong_dead_letters = Vec::new();
    for message in &dead {
        let body = message.body().unwrap_or_default();
        let code = attribute(message, "jobs.error.code").unwrap_or_default();
        let class = attribute(message, "jobs.error.class").unwrap_or_default();
        let reason = attribute(message, "jobs.error.message").unwrap_or_default();
        if expected_codes.get(body) != Some(&code.as_str())
            || class != "permanent"
            || reason.is_empty()
        {
            wrong_dead_letters.push(format!("{class} {code} ({reason}): {body}"));
        }
        *dead_codes.entry(code).or_default() += 1;
    }
    let outcomes = logged_outcomes(&logs)?;
    let injected = |proxies: &[FaultProxy]| -> (u64, u64, u64) {
        proxies.iter().fold((0, 0, 0), |(t, e, o), p| {
            let c = p.counts();
            (
                t + c.throttled.load(Ordering::SeqCst),
                e + c.server_errors.load(Ordering::SeqCst),
                o + c.timeouts.load(Ordering::SeqCst),
            )
        })
    };
    let calls = |proxies: &[FaultProxy]| -> u64 {
        proxies
            .iter()
            .map(|p| p.counts().requests.load(Ordering::SeqCst))
            .sum()
    };
    let (ses_faults, s3_faults) = (injected(&ses_proxies), injected(&s3_proxies));

    let effects_in_windows = kill_window.len();
    // Each kill's window by count: mails and objects in it, and those taken twice.
    let by_kill: Vec<String> = windows
        .iter()
        .zip(&held_at_kills)
        .enumerate()
        .map(|(n, (window, held))| {
            let in_mails = window.iter().filter(|e| expected.mails.contains(*e)).count();
            let twice = window
                .iter()
                .filter(|e| mails.get(*e) == Some(&2) || versions.get(*e).is_some_and(|v| v.len() == 2))
                .count();
            format!(
                "kill {}: {held} calls held, {} effects in its window ({in_mails} mails, {} objects), {twice} of them twice",
                n + 1,
                window.len(),
                window.len() - in_mails,
            )
        })
        .collect();
    eprintln!(
        "load: {} jobs ({} mails, {} uploads, {} sent twice, {} scheduled) and {} poison in {} messages; \
         {faults_per_mille}‰ of SES and S3 calls failed: SES {} calls, {ses_faults:?} \
         (throttled, 5xx, timed out), S3 {} calls, {s3_faults:?}; {worker_count} workers, {} kills with {:?} calls in flight; \
         enqueued in {:.1} s, settled in {:.1} s; outcomes {outcomes:?}; dead letters {dead_codes:?}; \
         {effects_in_windows} effects in the kills' windows ({}); duplicates {duplicates}, lost {lost}",
        expected.mails.len() + expected.uploads.len(),
        expected.mails.len(),
        expected.uploads.len(),
        jobs.div_ceil(25),
        jobs.div_ceil(20),
        poison.len(),
        sends.len() + poison.len() + kills,
        calls(&ses_proxies),
        calls(&s3_proxies),
        held_at_kills.len(),
        held_at_kills,
        enqueued_in.as_secs_f64(),
        settled_in.as_secs_f64(),
        by_kill.join("; "),
    );
    assert!(lost_mails.is_empty(), "mails never sent: {lost_mails:?}");
    assert!(
        twice_mails_outside.is_empty(),
        "mails sent more than once, not in a kill's window {kill_window:?}: {twice_mails_outside:?}"
    );
    assert!(
        unexpected_mails.is_empty(),
        "mails no job asked for: {unexpected_mails:?}"
    );
    assert!(
        lost_uploads.is_empty(),
        "objects never written: {lost_uploads:?}"
    );
    assert!(
        twice_uploads_outside.is_empty(),
        "objects written more than once, not in a kill's window {kill_window:?}: {twice_uploads_outside:?}"
    );
    assert!(
        wrong_size.is_empty(),
        "objects of the wrong size: {wrong_size:?}"
    );
    assert!(
        wrong_dead_letters.is_empty(),
        "unexpected dead letters: {wrong_dead_letters:#?}"
    );
    assert_eq!(dead.len(), poison.len(), "dead letters: {dead_codes:?}");
    assert_eq!(
        local.queue_depth(&queues.url).await?,
        0,
        "nothing left on the queue"
    );
    assert!(
        ses_faults.0 > 0 && ses_faults.1 > 0 && ses_faults.2 > 0,
        "SES faults: {ses_faults:?}"
    );
    assert!(
        s3_faults.0 > 0 && s3_faults.1 > 0 && s3_faults.2 > 0,
        "S3 faults: {s3_faults:?}"
    );
    // The test means something only if it went through what it claims.
    assert!(
        outcomes.get("retry").is_some_and(|n| *n > 0),
        "no job was retried: {outcomes:?}"
    );
    assert!(
        outcomes.get("duplicate").is_some_and(|n| *n > 0),
        "no duplicate delivery: {outcomes:?}"
    );
    assert!(
        outcomes.get("rescheduled").is_some_and(|n| *n > 0),
        "nothing carried forward: {outcomes:?}"
    );
    std::fs::remove_dir_all(&logs_dir).ok();
    Ok(())
}

#[test]
fn a_kill_window_holds_what_the_services_accepted_or_never_answered_of_unsettled_jobs() -> Result<()>
{
    let mail = |subject: &str, status| Passed {
        path: "/v2/email/outbound-emails".into(),
        body: serde_json::json!({"Content": {"Simple": {"Subject": {"Data": subject}}}})
            .to_string()
            .into(),
        status,
    };
    let object = |bucket: &str, key: &str, status| Passed {
        path: format!("/{bucket}/{key}?x-id=PutObject"),
        body: bytes::Bytes::new(),
        status,
    };
    let effect_of_job: HashMap<String, String> = [
        ("job-done", "load r #1"),
        ("job-sent", "load r #2"),
        ("job-dead", "load r #3"),
        ("job-put", "load/r/4.txt"),
        ("job-on-its-way", "load/r/5.txt"),
        ("job-refused", "load/r/6.txt"),
    ]
    .map(|(job, effect)| (job.to_owned(), effect.to_owned()))
    .into();
    let log = [
        r#"{"level":"INFO","message":"job done","outcome":"done","job_id":"job-done"}"#,
        r#"{"level":"WARN","outcome":"dead_lettered","job_id":"job-dead"}"#,
        // A retry does not settle a job: it comes back.
        r#"{"level":"WARN","outcome":"retry","job_id":"job-sent"}"#,
        "not JSON: a line of the runtime's",
    ]
    .join("\n");
    let calls = [
        // Accepted, and the job reported done: the ledger has it.
        mail("load r #1", Some(200)),
        // Accepted, never settled: a kill here sends it again.
        mail("load r #2", Some(200)),
        // Refused by SES: no mail went out.
        mail("load r #3", Some(400)),
        // A poison job's upload to a bucket that does not exist: refused.
        object("t-missing-r", "poison/7", Some(404)),
        // Accepted, and nothing logged before the kill.
        object("t-load-r", "load/r/4.txt", Some(200)),
        // On its way when the worker died: it may have been written.
        object("t-load-r", "load/r/5.txt", None),
        // Refused by S3 (SlowDown): nothing was written.
        object("t-load-r", "load/r/6.txt", Some(503)),
    ];
    let window = effects_in_kill_window(&calls, &log, &effect_of_job)?;
    assert_eq!(
        window,
        BTreeSet::from(["load r #2", "load/r/4.txt", "load/r/5.txt"].map(str::to_owned))
    );
    Ok(())
}
