//! Helpers for the end-to-end tests: clients for the local AWS that `make test`
//! starts, fresh queues per test, and readers for what the emulators recorded.
//!
//! The tests fail (they never skip) when the local AWS is not there.

pub mod emf;
pub mod fault_proxy;
pub mod http_server;

/// The Rust blocks of the README and of every page of `docs/`, compiled (and,
/// unless marked `no_run`, run) as doc tests by `make test`, so that none of
/// them can rot. A new page of `docs/` is added here.
#[cfg(doctest)]
pub mod documentation {
    #[doc = include_str!("../../README.md")]
    pub struct Readme;
    #[doc = include_str!("../../docs/library.md")]
    pub struct Library;
    #[doc = include_str!("../../docs/message-format.md")]
    pub struct MessageFormat;
    #[doc = include_str!("../../docs/cli.md")]
    pub struct Cli;
    #[doc = include_str!("../../docs/guarantees.md")]
    pub struct Guarantees;
    #[doc = include_str!("../../docs/settings.md")]
    pub struct Settings;
    #[doc = include_str!("../../docs/stack.md")]
    pub struct Stack;
    #[doc = include_str!("../../docs/performance.md")]
    pub struct Performance;
    #[doc = include_str!("../../docs/tests.md")]
    pub struct Tests;
    #[doc = include_str!("../../docs/console.md")]
    pub struct Console;
    #[doc = include_str!("../../docs/http.md")]
    pub struct Http;
    #[doc = include_str!("../../docs/large-jobs.md")]
    pub struct LargeJobs;
    #[doc = include_str!("../../docs/periodic-jobs.md")]
    pub struct PeriodicJobs;
}

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use handler::ledger::{Ledger, LedgerSettings};
use handler::worker::{WorkerSettings, WorkerStats, shutdown_channel};
use handler::{Handler, Settings};
use producer::send::routes::QUEUE_URLS_ENV;
use producer::{Envelope, Job, MailJob, Queue};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory of the test executable's profile: `target/<profile>`.
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> -> target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("test executable has no target directory")
}

/// The workspace's target directory (`target/`, or `CARGO_TARGET_DIR`).
pub fn target_dir() -> Result<PathBuf> {
    profile_dir()?
        .parent()
        .map(Path::to_path_buf)
        .context("test executable has no target directory")
}

/// A binary of this workspace, built next to the test executable.
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    let path = profile_dir()?.join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the workspace first (`make test` does)",
            path.display()
        );
    }
    Ok(path)
}

/// Settings of the local AWS: from the environment, else from `.local/env`
/// written by `make local-up`.
#[derive(Debug, Clone)]
pub struct LocalEnv {
    vars: HashMap<String, String>,
}

impl LocalEnv {
    pub fn load() -> Result<Self> {
        let mut vars = HashMap::new();
        let file = repo_root().join(".local/env");
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                    // As the shell reads it: one pair of quotes around the value goes.
                    let v = ['"', '\'']
                        .iter()
                        .find_map(|q| v.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                        .unwrap_or(v);
                    vars.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        for (k, v) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("JOBS_") || k == "MOTO_URL" {
                vars.insert(k, v);
            }
        }
        let env = LocalEnv { vars };
        for required in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_SESV2",
            "MOTO_URL",
            "JOBS_BUCKET",
            "JOBS_MAIL_FROM",
        ] {
            if env.get(required).is_err() {
                bail!(
                    "`{required}` is not set and .local/env does not have it: these tests need the local AWS; \
                     run them with `make test`, or after `make local-up`"
                );
            }
        }
        Ok(env)
    }

    pub fn get(&self, name: &str) -> Result<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .with_context(|| format!("`{name}` is not set"))
    }

    /// What a child process (the worker, the `jobs` CLI, the AWS CLI) needs to
    /// reach the local AWS. The stack's queue map is blanked (it would take
    /// precedence over the `JOBS_QUEUE_URL` of a test's own fresh queue); a
    /// test that wants a map sets one after this.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let mut vars: Vec<_> = self
            .vars
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("JOBS_"))
            .filter(|(k, _)| k.as_str() != QUEUE_URLS_ENV)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.push((QUEUE_URLS_ENV.into(), String::new()));
        vars.push(("AWS_ACCESS_KEY_ID".into(), "test".into()));
        vars.push(("AWS_SECRET_ACCESS_KEY".into(), "test".into()));
        vars.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
        vars
    }
}

/// Clients for the local AWS.
#[derive(Debug, Clone)]
pub struct LocalAws {
    pub env: LocalEnv,
    pub config: SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub bucket: String,
    pub sender: String,
}

impl LocalAws {
    pub async fn connect() -> Result<Self> {
        let env = LocalEnv::load()?;
        let region = env.get("AWS_REGION").unwrap_or("us-east-1").to_owned();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(producer::aws::https_client())
            .region(Region::new(region))
            .endpoint_url(env.get("AWS_ENDPOINT_URL")?)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "local",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let ses = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&config)
                .endpoint_url(env.get("AWS_ENDPOINT_URL_SESV2")?)
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .endpoint_url(env.get("AWS_ENDPOINT_URL_DYNAMODB")?)
                .build(),
        );
        let local = LocalAws {
            dynamodb,
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            s3,
            ses,
            bucket: env.get("JOBS_BUCKET")?.to_owned(),
            sender: env.get("JOBS_MAIL_FROM")?.to_owned(),
            config,
            env,
        };
        local
            .sqs
            .list_queues()
            .send()
            .await
            .context("LocalStack does not answer: start the local AWS with `make local-up`")?;
        http_get(local.env.get("MOTO_URL")?, "/moto-api/data.json")
            .context("moto does not answer: start the local AWS with `make local-up`")?;
        Ok(local)
    }

    /// A job queue and its dead-letter queue, made for one test.
    pub async fn fresh_queues(
        &self,
        hint: &str,
        max_receive_count: u32,
        visibility_timeout: u32,
    ) -> Result<TestQueues> {
        let suffix = unique_suffix();
        let dlq_url = self
            .create_queue(&format!("t-{hint}-dlq-{suffix}"), HashMap::new())
            .await?;
        let dlq_arn = self
            .queue_attribute(&dlq_url, QueueAttributeName::QueueArn)
            .await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receive_count,
        });
        let url = self
            .create_queue(
                &format!("t-{hint}-{suffix}"),
                HashMap::from([
                    (
                        QueueAttributeName::VisibilityTimeout,
                        visibility_timeout.to_string(),
                    ),
                    (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                ]),
            )
            .await?;
        Ok(TestQueues { url, dlq_url })
    }

    async fn create_queue(
        &self,
        name: &str,
        attributes: HashMap<QueueAttributeName, String>,
    ) -> Result<String> {
        let output = self
            .sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .with_context(|| format!("create queue {name}"))?;
        output.queue_url.context("no queue url")
    }

    pub async fn queue_attribute(&self, url: &str, name: QueueAttributeName) -> Result<String> {
        let output = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await?;
        output
            .attributes
            .and_then(|mut a| a.remove(&name))
            .with_context(|| format!("queue has no {name:?}"))
    }

    /// Messages visible, in flight and delayed, as SQS counts them.
    pub async fn queue_depth(&self, url: &str) -> Result<u64> {
        let mut total = 0;
        for name in [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ] {
            total += self.queue_attribute(url, name).await?.parse::<u64>()?;
        }
        Ok(total)
    }

    /// One receive (up to ten messages), long-polling `wait_seconds`.
    pub async fn receive(&self, url: &str, wait_seconds: i32) -> Result<Vec<Message>> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await?;
        Ok(output.messages.unwrap_or_default())
    }

    /// Receives every message now on a queue (with all attributes) and deletes them.
    pub async fn drain(&self, url: &str) -> Result<Vec<Message>> {
        let mut all = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await?;
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(all);
            }
            for m in &messages {
                if let Some(handle) = &m.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
            }
            all.extend(messages);
        }
    }

    /// A plain-text mail from the stack's sender to `ann@example.com`.
    pub fn text_mail(&self, subject: impl Into<String>) -> Envelope {
        Envelope::new(Job::Mail(MailJob {
            from: self.sender.clone(),
            to: vec!["ann@example.com".into()],
            subject: subject.into(),
            text: Some("x".into()),
            ..MailJob::default()
        }))
    }

    /// The producer's view of a queue.
    pub fn queue(&self, url: &str) -> Queue {
        Queue::new(self.sqs.clone(), url)
    }

    /// A handler like the deployed one, dead-lettering to `dlq_url`.
    pub fn handler(&self, dlq_url: &str, max_receive_count: Option<u32>) -> Handler {
        self.handler_with_ses(self.ses.clone(), dlq_url, max_receive_count)
    }

    pub fn handler_with_ses(
        &self,
        ses: aws_sdk_sesv2::Client,
        dlq_url: &str,
        max_receive_count: Option<u32>,
    ) -> Handler {
        self.handler_with(
            ses,
            Settings {
                max_receive_count,
                backoff: None,
                ..Settings::new(dlq_url)
            },
        )
    }

    /// A handler like the deployed one whose payload bucket (the one place it
    /// follows pointers into) is `payload_bucket`.
    pub fn handler_for_payloads(&self, dlq_url: &str, payload_bucket: &str) -> Handler {
        self.handler_with(
            self.ses.clone(),
            Settings {
                backoff: None,
                payload_bucket: Some(payload_bucket.to_owned()),
                ..Settings::new(dlq_url)
            },
        )
    }

    /// The local stack's idempotency ledger, with the given lease.
    pub fn ledger(&self, lease: Duration) -> Result<Ledger> {
        Ok(Ledger::new(
            self.dynamodb.clone(),
            LedgerSettings {
                lease,
                ..LedgerSettings::new(self.env.get("JOBS_IDEMPOTENCY_TABLE")?)
            },
        ))
    }

    /// SES that cannot be reached: every call fails with a connection error.
    pub fn unreachable_ses(&self) -> aws_sdk_sesv2::Client {
        // Port 9 (discard) has no listener here: connections are refused at once.
        aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&self.config)
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        )
    }

    pub fn handler_with(&self, ses: aws_sdk_sesv2::Client, settings: Settings) -> Handler {
        Handler::from_clients(ses, self.s3.clone(), self.sqs.clone(), settings)
    }

    /// An enabled EventBridge Scheduler schedule in LocalStack (which stores it
    /// but does not fire it), putting `input` on the queue `queue_arn`, with its
    /// expression read in `zone` (`None`: UTC).
    pub async fn create_schedule(
        &self,
        group: &str,
        name: &str,
        expression: &str,
        zone: Option<&str>,
        queue_arn: &str,
        input: &str,
    ) -> Result<()> {
        use aws_sdk_scheduler::types::{
            FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
        };
        aws_sdk_scheduler::Client::new(&self.config)
            .create_schedule()
            .group_name(group)
            .name(name)
            .schedule_expression(expression)
            .set_schedule_expression_timezone(zone.map(str::to_owned))
            .state(ScheduleState::Enabled)
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()?,
            )
            .target(
                Target::builder()
                    .arn(queue_arn)
                    .role_arn("arn:aws:iam::000000000000:role/schedule-test")
                    .input(input)
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("create schedule {name}"))?;
        Ok(())
    }

    /// Every mail moto has recorded.
    pub fn sent_mails(&self) -> Result<Vec<SentMail>> {
        let body = http_get(self.env.get("MOTO_URL")?, "/moto-api/data.json")?;
        let data: serde_json::Value =
            serde_json::from_str(&body).context("moto data is not JSON")?;
        let messages = data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(messages
            .into_iter()
            .map(|m| {
                let list = |key: &str| -> Vec<String> {
                    m["destinations"][key]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                SentMail {
                    source: m["source"].as_str().unwrap_or_default().to_owned(),
                    to: list("ToAddresses"),
                    cc: list("CcAddresses"),
                    bcc: list("BccAddresses"),
                    subject: m["subject"].as_str().unwrap_or_default().to_owned(),
                    body: m["body"].as_str().unwrap_or_default().to_owned(),
                }
            })
            .collect())
    }

    /// The mails whose subject contains `marker`.
    pub fn mails_with(&self, marker: &str) -> Result<Vec<SentMail>> {
        Ok(self
            .sent_mails()?
            .into_iter()
            .filter(|m| m.subject.contains(marker))
            .collect())
    }

    pub async fn object_exists(&self, key: &str) -> Result<bool> {
        self.object_exists_in(&self.bucket, key).await
    }

    pub async fn object_exists_in(&self, bucket: &str, key: &str) -> Result<bool> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestQueues {
    pub url: String,
    pub dlq_url: String,
}

/// A mail as moto recorded it (moto keeps only the html part of a mail that has both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub source: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// A short random suffix for names and markers.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the worker loop in this process until `done` says so, then stops it the
/// way SIGTERM does and returns its counts.
pub async fn run_worker_until<F, Fut>(
    handler: Handler,
    local: &LocalAws,
    queue_url: &str,
    timeout: Duration,
    done: F,
) -> Result<WorkerStats>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<()>>>,
{
    let (stop, stopped) = shutdown_channel();
    let sqs = local.sqs.clone();
    let mut settings = WorkerSettings::new(queue_url);
    settings.wait_seconds = 1;
    let worker =
        tokio::spawn(async move { handler::worker::run(&handler, &sqs, &settings, stopped).await });
    let waited = eventually("the worker's effects", timeout, done).await;
    stop.send(true).ok();
    let stats = worker.await.context("worker task")??;
    waited?;
    Ok(stats)
}

/// A plain HTTP/1.0 GET on loopback, enough for moto's state endpoint.
pub fn http_get(base_url: &str, path: &str) -> Result<String> {
    let host = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream =
        std::net::TcpStream::connect(host).with_context(|| format!("connect {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8(response).context("response is not UTF-8")?;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP header")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_owned())
}

/// `envelope`'s body as a `fax` job, a kind no handler here runs, created two
/// hours ago: past the handler's grace period for unknown kinds (1 hour), so
/// it is dead-lettered as `unknown_kind` on its first delivery.
pub fn fax_body(envelope: &Envelope) -> String {
    let mut old = envelope.clone();
    old.created_at = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() - Duration::from_secs(2 * 3_600),
    )
    .to_string();
    old.to_json()
        .replace("\"kind\":\"mail\"", "\"kind\":\"fax\"")
}

/// A message attribute's string value.
pub fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes
        .as_ref()?
        .get(name)?
        .string_value()
        .map(str::to_owned)
}

/// The arguments of a small valid mail, for `jobs enqueue`.
pub const MAIL_ARGS: [&str; 7] = [
    "mail",
    "--to",
    "ann@example.com",
    "--subject",
    "hi",
    "--text",
    "x",
];

/// An input the `jobs` CLI must refuse, and the field its error must name.
#[derive(Debug, Clone)]
pub struct BadInput {
    pub args: Vec<String>,
    pub field: &'static str,
}

/// The bad inputs `jobs enqueue` refuses before any AWS call; the files they
/// read are written to `dir` (`small.txt`, `big.bin`, `batch.jsonl`).
pub fn bad_enqueue_inputs(dir: &Path, bucket: &str) -> Result<Vec<BadInput>> {
    std::fs::create_dir_all(dir)?;
    let small = dir.join("small.txt");
    std::fs::write(&small, b"hello")?;
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![b'x'; 800 * 1024])?;
    // A good job, a second good one, and one with a bad key: none may be sent.
    let jsonl = dir.join("batch.jsonl");
    let good = Envelope::new(Job::Upload(producer::UploadJob::from_bytes(
        bucket, "ok.txt", b"ok",
    )));
    let mut bad = good.clone().with_id(format!("bad-key-{}", unique_suffix()));
    if let Job::Upload(upload) = &mut bad.job {
        upload.key = "a/../b".into();
    }
    std::fs::write(
        &jsonl,
        format!(
            "{}\n{}\n{}\n",
            good.to_json(),
            good.clone().with_id(unique_suffix()).to_json(),
            bad.to_json()
        ),
    )?;
    // A date that does not exist, in an envelope of its own.
    let impossible_date = dir.join("february-30.json");
    let mut february_30 = good
        .clone()
        .with_id(format!("february-30-{}", unique_suffix()));
    february_30.created_at = "2026-02-30T00:00:00Z".into();
    std::fs::write(&impossible_date, february_30.to_json())?;
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mail = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["enqueue"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect()
    };
    let mut fifty_one = mail(&["mail", "--subject", "hi", "--text", "x"]);
    fifty_one.extend((0..51).map(|i| format!("--to=user{i}@example.com")));
    let case = |args: Vec<String>, field| BadInput { args, field };
    Ok(vec![
        case(
            mail(&[
                "mail",
                "--to",
                "ann@example.com",
                "--subject",
                "hi\r\nBcc: all@example.com",
                "--text",
                "x",
            ]),
            "job.subject",
        ),
        case(fifty_one, "job.to"),
        case(
            mail(&["upload", "--key", "../secret.txt", "--file", &path(&small)]),
            "job.key",
        ),
        case(
            mail(&[&["--delay", "901"][..], &MAIL_ARGS].concat()),
            "delay_seconds",
        ),
        case(
            mail(&[
                "upload",
                "--key",
                "big.bin",
                "--file",
                &path(&big),
                "--max-message-bytes",
                "262144",
                // Too large for the message, and no payload bucket to stage it in.
                "--payload-bucket",
                "",
            ]),
            "job.body_base64",
        ),
        case(mail(&["--json", &path(&jsonl)]), "job.key"),
        case(mail(&["--json", &path(&impossible_date)]), "created_at"),
        case(
            mail(&[&["--at", "2026-02-30T00:00:00Z"][..], &MAIL_ARGS].concat()),
            "--at",
        ),
        case(
            mail(&[&["--expires-in", "soon"][..], &MAIL_ARGS].concat()),
            "--expires-in",
        ),
        // It would expire an hour before it may start.
        case(
            mail(&[&["--in", "2h", "--expires-in", "1h"][..], &MAIL_ARGS].concat()),
            "expires_at",
        ),
        case(
            mail(&[
                "mail",
                "--to",
                "not-an-address",
                "--subject",
                "hi",
                "--text",
                "x",
            ]),
            "job.to[0]",
        ),
    ])
}

/// Runs the `jobs` CLI against the local AWS, with `env` set on top.
pub fn run_jobs(
    local: &LocalAws,
    env: &[(&str, &str)],
    args: &[String],
) -> Result<std::process::Output> {
    Ok(std::process::Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .envs(env.iter().copied())
        .args(args)
        .output()?)
}

/// Checks that the CLI refused `input`: exit code 2, the field named, nothing sent.
pub fn assert_refused(input: &BadInput, output: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{:?}: {stderr}", input.args);
    assert!(
        stderr.contains(&format!("`{}`", input.field)),
        "{:?} should name `{}`: {stderr}",
        input.args,
        input.field
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(output.stdout.is_empty(), "{:?}", input.args);
}
