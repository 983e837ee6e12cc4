//! The `jobs` command line: arguments, and what each command does.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

use crate::dead_letters as ops;
use crate::lines::JsonLines;
use crate::schema::PayloadSchema;
use producer::contract::envelope::{Envelope, Job, MailJob, UploadJob, UploadSource};
use producer::contract::http::{HttpBody, HttpJob};
use producer::contract::validate::parse_rfc3339;
use producer::send::payloads::{PayloadStore, StageError};
use producer::send::routes::{QUEUE_URLS_ENV, QueueRoutes};

use crate::queues::JobQueue;
use producer::send::queue::{
    BatchReport, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SENDS_IN_FLIGHT, EnqueueError, FailedJob,
    QUEUE_URL_ENV, Queue, SendOptions, SentJob, fits_inline, queue_name_of, schedule,
};

/// Exit code when the input was refused and nothing was sent.
pub const EXIT_INVALID: u8 = 2;
/// Exit code when SQS did not take some or all of the jobs.
pub const EXIT_SEND_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "jobs", version, about = "Enqueue background jobs on SQS")]
pub struct Cli {
    /// `json` prints each command's result as one JSON document on stdout (see the
    /// docs/cli.md, "Machine-readable output"); problems still go to stderr.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Show the whole chain of an AWS error (`RUST_LOG=debug` does too).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate jobs and send them to the queue; nothing is sent if any job is invalid.
    Enqueue(Box<EnqueueArgs>),
    /// Jobs queued, in flight, delayed, and dead.
    Stats(QueueArgs),
    /// Look after the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Periodic jobs: the EventBridge Scheduler schedules of the stack's group,
    /// what each puts on which queue, and its next runs in its time zone.
    Schedules(SchedulesArgs),
    /// Cancel a job that has not run yet (a scheduled one, say), by its job id.
    /// Needs the idempotency ledger, which the handler reads.
    Cancel {
        /// The job id `jobs enqueue` printed.
        job_id: String,
        /// The ledger's DynamoDB table.
        #[arg(long, env = producer::contract::ledger::TABLE_ENV)]
        table: Option<String>,
    },
    /// Serve the web console (Dashboard, Dead, job pages) on 127.0.0.1; see docs/console.md.
    Ui(Box<UiArgs>),
    /// Check the setup, in order: credentials and region, the queues, the ledger
    /// table, the upload bucket, SES; says how to fix each problem (exit 1 if any).
    Doctor(DoctorArgs),
    /// Print a shell completion script: `jobs completions bash > /etc/bash_completion.d/jobs`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `jobs man > jobs.1 && man ./jobs.1`.
    Man,
}

/// What `jobs doctor` checks; each one left out is reported as not checked.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// One job queue's URL. Without it: every queue of `JOBS_QUEUE_URLS`,
    /// else `JOBS_QUEUE_URL`.
    #[arg(long)]
    pub queue_url: Option<String>,
    /// Its dead-letter queue's URL; without it, the one its redrive policy
    /// names (a lone `JOBS_QUEUE_URL` pairs with `JOBS_DLQ_URL`).
    #[arg(long)]
    pub dlq_url: Option<String>,
    /// The idempotency ledger's DynamoDB table.
    #[arg(long, env = producer::contract::ledger::TABLE_ENV)]
    pub table: Option<String>,
    /// The bucket upload jobs write to.
    #[arg(long, env = "JOBS_BUCKET")]
    pub bucket: Option<String>,
    /// The address mail jobs come from.
    #[arg(long, env = "JOBS_MAIL_FROM")]
    pub sender: Option<String>,
    /// The Lambda function's timeout (the stack's `FunctionTimeout`): the queue's
    /// visibility timeout must be at least six times as long.
    #[arg(long, value_name = "SECONDS")]
    pub function_timeout: Option<u32>,
}

/// How `jobs ui` serves the console.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The address to listen on. Any but a loopback address needs a token.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: std::net::IpAddr,
    /// The port; 0 picks a free one (the address is printed at start).
    #[arg(long, env = "JOBS_UI_PORT", default_value_t = crate::console::DEFAULT_PORT)]
    pub port: u16,
    /// A secret every request must carry (basic auth, any user name, the token as
    /// password); required to listen on a non-loopback address.
    #[arg(long, env = crate::console::TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// Show everything, change nothing: no buttons, and every change is refused.
    #[arg(long)]
    pub read_only: bool,
    /// Another name the console answers to (`Host` header), as behind a proxy;
    /// repeatable. Requests under any other name are refused.
    #[arg(long = "allow-host", value_name = "NAME[:PORT]")]
    pub allow_hosts: Vec<String>,
    /// The idempotency ledger's DynamoDB table, for the job pages.
    #[arg(long, env = producer::contract::ledger::TABLE_ENV)]
    pub table: Option<String>,
    /// The CloudWatch namespace of the job metrics, for the dashboard's chart.
    #[arg(long, env = "JOBS_METRICS_NAMESPACE", default_value = "Jobs")]
    pub metrics_namespace: String,
    /// Leave the chart out (as when the handler runs with `JOBS_METRICS=off`).
    #[arg(long)]
    pub no_metrics: bool,
    /// The local moto server (`make local-up` sets `MOTO_URL`): adds the Local
    /// tab, with the mails it recorded and the objects in the upload bucket.
    /// Loopback only.
    #[arg(long, env = "MOTO_URL", value_name = "URL")]
    pub local_mails: Option<String>,
    /// The upload bucket, listed on the Local tab.
    #[arg(long, env = "JOBS_BUCKET")]
    pub bucket: Option<String>,
    #[command(flatten)]
    pub queues: QueueArgs,
}

/// The clients the commands use, built once by `main`.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub doctor: crate::doctor::DoctorClients,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Clients {
            sqs: aws_sdk_sqs::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            doctor: crate::doctor::DoctorClients::new(config),
        }
    }
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// One queue, by a name of `JOBS_QUEUE_URLS` (or any SQS queue name) or by
    /// URL. Without it: every queue of `JOBS_QUEUE_URLS`, else `JOBS_QUEUE_URL`.
    #[arg(long, value_name = "NAME|URL", conflicts_with = "queue_url")]
    pub queue: Option<String>,
    /// The queue's URL (as `--queue URL`).
    #[arg(long)]
    pub queue_url: Option<String>,
    /// Its dead-letter queue's URL, when its redrive policy does not name one
    /// (a lone `JOBS_QUEUE_URL` also falls back on `JOBS_DLQ_URL`).
    #[arg(long)]
    pub dlq_url: Option<String>,
    /// Read at most this many dead letters.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct SchedulesArgs {
    /// The schedule group (the stack's output `ScheduleGroupName`).
    #[arg(long, env = crate::periodic::SCHEDULE_GROUP_ENV, default_value = "default")]
    pub group: String,
    /// How many next runs to show for each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100).map(usize::from))]
    pub next: usize,
    /// The runs after this time (RFC 3339, such as `2026-03-08T00:00:00Z`) instead of now.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters grouped by kind and reason.
    List(QueueArgs),
    /// One dead letter in full: its body and the reason it failed.
    Show {
        /// A job id or an SQS message id.
        id: String,
        #[command(flatten)]
        queues: QueueArgs,
    },
    /// Send dead letters back to the job queue, bodies unchanged.
    Redrive {
        #[command(flatten)]
        queues: QueueArgs,
        /// Every dead letter.
        #[arg(long, conflicts_with_all = ["kind", "id"])]
        all: bool,
        /// Those of one kind (`mail`, `upload`, `http`, …).
        #[arg(long, conflicts_with = "id")]
        kind: Option<String>,
        /// One job, by job id or SQS message id.
        #[arg(long)]
        id: Option<String>,
        /// Say what would be sent back, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every dead letter (asks first).
    Purge {
        #[command(flatten)]
        queues: QueueArgs,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The queue, by a name of `JOBS_QUEUE_URLS` (or any SQS queue name) or
    /// by URL. Without it: mail to `mailers`, other jobs to `default` (from
    /// `JOBS_QUEUE_URLS`), else `JOBS_QUEUE_URL`.
    #[arg(
        long,
        global = true,
        value_name = "NAME|URL",
        conflicts_with = "queue_url"
    )]
    pub queue: Option<String>,
    /// The queue's URL (as `--queue URL`).
    #[arg(long, global = true)]
    pub queue_url: Option<String>,
    /// The queue's `MaximumMessageSize`, if below SQS's 1 MiB.
    #[arg(long, env = "JOBS_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES, global = true)]
    pub max_message_bytes: usize,
    /// `SendMessageBatch` calls in flight at once when sending many jobs.
    #[arg(long, env = "JOBS_SENDS_IN_FLIGHT", default_value_t = DEFAULT_SENDS_IN_FLIGHT, value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from), global = true)]
    pub sends_in_flight: usize,
    /// The idempotency ledger's table: jobs sent with a time or a delay are
    /// listed there, for the console's Scheduled tab (Run now, Cancel).
    #[arg(long, env = producer::contract::ledger::TABLE_ENV, global = true)]
    pub table: Option<String>,
    /// The payload bucket: envelopes over the queue's limit are stored there
    /// (the SQS Extended Client's format), and an upload's file too large to
    /// travel in the message is staged there for the handler to copy.
    #[arg(long, env = producer::send::payloads::PAYLOAD_BUCKET_ENV, global = true, value_name = "BUCKET")]
    pub payload_bucket: Option<String>,
    /// Seconds before the job may run (0–900).
    #[arg(long, default_value_t = 0, global = true)]
    pub delay: u32,
    /// Run at this RFC 3339 time, however far ahead (e.g. `2026-12-01T09:00:00Z`).
    #[arg(long, global = true, value_name = "TIME")]
    pub at: Option<String>,
    /// Run after this long, however long (e.g. `90m`, `3h`, `2days`).
    #[arg(long = "in", global = true, value_name = "DURATION")]
    pub in_: Option<String>,
    /// A file holding one envelope, or one envelope per line (JSON Lines); `-` reads standard input.
    /// Any registered kind: `mail`, `upload`, `http`, or one of the application's own.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// A payload schema exported from a job type (`YOUR-WORKER schema KIND`): jobs of
    /// its kind in `--json` must match it. Repeat for more kinds.
    #[arg(long, value_name = "FILE", requires = "json")]
    pub schema: Vec<PathBuf>,
    #[command(subcommand)]
    pub kind: Option<EnqueueKind>,
}

#[derive(Debug, Subcommand)]
pub enum EnqueueKind {
    /// An e-mail sent through SES.
    Mail(MailArgs),
    /// A file written to S3.
    Upload(UploadArgs),
    /// A call to another site, made by the handler: `Idempotency-Key: <job id>`
    /// on every try, signed as Standard Webhooks with `--sign`.
    Http(HttpArgs),
}

#[derive(Debug, Args)]
pub struct MailArgs {
    /// Sender: `addr@example.com` or `Name <addr@example.com>`, a verified SES identity.
    #[arg(long, env = "JOBS_MAIL_FROM")]
    pub from: String,
    #[arg(long, required = true)]
    pub to: Vec<String>,
    #[arg(long)]
    pub cc: Vec<String>,
    #[arg(long)]
    pub bcc: Vec<String>,
    #[arg(long)]
    pub reply_to: Vec<String>,
    #[arg(long)]
    pub subject: String,
    /// Plain-text body.
    #[arg(long, conflicts_with = "text_file")]
    pub text: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub text_file: Option<PathBuf>,
    /// HTML body.
    #[arg(long, conflicts_with = "html_file")]
    pub html: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub html_file: Option<PathBuf>,
    /// The job's id; a random UUID when left out.
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[arg(long, env = "JOBS_BUCKET")]
    pub bucket: String,
    #[arg(long)]
    pub key: String,
    /// The file to upload. Its bytes travel in the message when they fit;
    /// a larger file is staged in the payload bucket (`--payload-bucket`),
    /// streamed, and copied by the handler.
    #[arg(long)]
    pub file: PathBuf,
    /// Media type; guessed from the file name when left out.
    #[arg(long)]
    pub content_type: Option<String>,
    /// Object metadata as `name=value`; repeat for more.
    #[arg(long, value_name = "NAME=VALUE")]
    pub metadata: Vec<String>,
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// `https://…`, or `http://…` to an address the handler's `JOBS_HTTP_ALLOW` allows.
    #[arg(long)]
    pub url: String,
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS` (any case).
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// A header as `Name: value`; repeat for more.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A JSON body, sent as it is written, as `application/json`.
    #[arg(long, value_name = "JSON", conflicts_with = "body_file")]
    pub json_body: Option<String>,
    /// The body from a file: as text when it is UTF-8, else as bytes (base64 in the job).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// The media type of `--body-file` [default: application/octet-stream].
    #[arg(long, requires = "body_file")]
    pub content_type: Option<String>,
    /// Seconds for the whole call, redirects included (1–900; 30 when left out).
    #[arg(long, value_name = "SECONDS")]
    pub timeout_seconds: Option<u32>,
    /// A status that counts as done besides any 2xx (such as 404 for a DELETE);
    /// repeat for more.
    #[arg(long = "success-status", value_name = "STATUS")]
    pub success_statuses: Vec<u16>,
    /// Sign the call as Standard Webhooks with the secret this SSM parameter holds
    /// (`ssm:/aws/reference/secretsmanager/NAME` for a Secrets Manager secret);
    /// the handler reads it, the job only names it.
    #[arg(long, value_name = "ssm:/PATH")]
    pub sign: Option<String>,
    /// Write the answer's body to S3 when the call succeeds.
    #[arg(long, value_name = "s3://BUCKET/KEY")]
    pub save_to: Option<String>,
    /// Check the job and print the request the handler will send; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The job's id, sent as `Idempotency-Key`; a random UUID when left out.
    #[arg(long)]
    pub id: Option<String>,
}

/// A refusal before anything was sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(String);

/// What `jobs enqueue` was given: one job, or a JSON Lines file read twice.
#[derive(Debug)]
pub enum Input {
    One(Box<Envelope>),
    Lines(JsonLines),
}

/// A file this size or smaller may hold one envelope over several lines.
const ONE_ENVELOPE_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Turns the arguments into the input, reading files as needed.
pub fn input(args: &EnqueueArgs) -> Result<Input, InputError> {
    input_with(args, None)
}

/// The input, with an upload's file staged in S3 already when `staged` says where.
fn input_with(args: &EnqueueArgs, staged: Option<UploadSource>) -> Result<Input, InputError> {
    match (&args.json, &args.kind) {
        (Some(path), None) => json_input(path),
        (None, Some(EnqueueKind::Mail(mail))) => Ok(Input::One(Box::new(mail_envelope(mail)?))),
        (None, Some(EnqueueKind::Upload(upload))) => {
            Ok(Input::One(Box::new(upload_envelope(upload, staged)?)))
        }
        (None, Some(EnqueueKind::Http(http))) => Ok(Input::One(Box::new(http_envelope(http)?))),
        _ => Err(InputError(
            "say what to enqueue, one way only: `jobs enqueue mail …`, `jobs enqueue upload …`, `jobs enqueue http …` or `jobs enqueue --json FILE`".into(),
        )),
    }
}

/// One envelope (which may span lines), or JSON Lines: one envelope per
/// non-empty line.
fn json_input(path: &Path) -> Result<Input, InputError> {
    let lines = JsonLines::open(path).map_err(|e| {
        InputError(if path == Path::new("-") {
            format!("cannot read standard input: {e}")
        } else {
            format!("cannot read `{}`: {e}", path.display())
        })
    })?;
    let unreadable =
        |e: std::io::Error| InputError(format!("cannot read `{}`: {e}", lines.shown()));
    if lines.size_bytes().map_err(unreadable)? <= ONE_ENVELOPE_MAX_BYTES {
        let text = read_text(lines.path())?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(InputError(format!("`{}` holds no jobs", path.display())));
        }
        if let Ok(envelope) = Envelope::decode(trimmed) {
            return Ok(Input::One(Box::new(envelope)));
        }
    }
    Ok(Input::Lines(lines))
}

/// The payload schemas given with `--schema`, by kind.
fn payload_schemas(schemas: &[PathBuf]) -> Result<BTreeMap<String, PayloadSchema>, InputError> {
    let mut by_kind = BTreeMap::new();
    for path in schemas {
        let text = read_text(path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| InputError(format!("`{}` is not JSON: {e}", path.display())))?;
        let schema = PayloadSchema::from_json(&value)
            .map_err(|e| InputError(format!("`{}` {e}", path.display())))?;
        by_kind.insert(schema.kind().to_owned(), schema);
    }
    Ok(by_kind)
}

/// Checks a job against its kind's schema, when one was given.
fn check_payload(
    schemas: &BTreeMap<String, PayloadSchema>,
    index: usize,
    envelope: &Envelope,
) -> Result<(), InputError> {
    match schemas.get(envelope.kind()) {
        Some(schema) => schema.check(&envelope.job.payload()).map_err(|errors| {
            InputError(format!(
                "job {index} (id `{}`) is invalid: {errors}",
                envelope.id
            ))
        }),
        None => Ok(()),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|e| InputError(format!("cannot read `{}`: {e}", path.display())))
}

fn read_text(path: &Path) -> Result<String, InputError> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| InputError(format!("`{}` is not UTF-8 text", path.display())))
}

fn mail_envelope(args: &MailArgs) -> Result<Envelope, InputError> {
    let text = match &args.text_file {
        Some(path) => Some(read_text(path)?),
        None => args.text.clone(),
    };
    let html = match &args.html_file {
        Some(path) => Some(read_text(path)?),
        None => args.html.clone(),
    };
    let envelope = Envelope::new(Job::Mail(MailJob {
        from: args.from.clone(),
        to: args.to.clone(),
        cc: args.cc.clone(),
        bcc: args.bcc.clone(),
        reply_to: args.reply_to.clone(),
        subject: args.subject.clone(),
        text,
        html,
        template: None,
    }));
    Ok(match &args.id {
        Some(id) => envelope.with_id(id),
        None => envelope,
    })
}

fn upload_envelope(
    args: &UploadArgs,
    staged: Option<UploadSource>,
) -> Result<Envelope, InputError> {
    let mut upload = match staged {
        Some(source) => UploadJob::from_source(&args.bucket, &args.key, source),
        None => UploadJob::from_bytes(&args.bucket, &args.key, &read_file(&args.file)?),
    };
    upload.content_type = Some(
        args.content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(&args.file).to_owned()),
    );
    let mut metadata = BTreeMap::new();
    for pair in &args.metadata {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| InputError(format!("`--metadata` takes `name=value`, not `{pair}`")))?;
        metadata.insert(name.to_owned(), value.to_owned());
    }
    upload.metadata = metadata;
    let envelope = Envelope::new(Job::Upload(upload));
    Ok(match &args.id {
        Some(id) => envelope.with_id(id),
        None => envelope,
    })
}

fn http_envelope(args: &HttpArgs) -> Result<Envelope, InputError> {
    const BLANKS: [char; 2] = [' ', '\t'];
    let mut job = HttpJob::new(args.method.to_ascii_uppercase(), &args.url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| InputError(format!("`--header` takes `Name: value`, not `{header}`")))?;
        let name = name.trim_matches(BLANKS);
        if job.headers.contains_key(name) {
            return Err(InputError(format!("`--header` gives `{name}` twice")));
        }
        job.headers
            .insert(name.to_owned(), value.trim_matches(BLANKS).to_owned());
    }
    if let Some(text) = &args.json_body {
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| InputError(format!("`--json-body` is not JSON: {e}")))?;
        job = job.text_body(text.as_str(), "application/json");
    } else if let Some(path) = &args.body_file {
        let content_type = args
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        job = match String::from_utf8(read_file(path)?) {
            Ok(text) => job.text_body(text, content_type),
            Err(bytes) => job.bytes_body(bytes.as_bytes(), content_type),
        };
    }
    job.timeout_seconds = args.timeout_seconds;
    job.success_statuses.clone_from(&args.success_statuses);
    job.sign_with.clone_from(&args.sign);
    if let Some(target) = &args.save_to {
        let (bucket, key) = target
            .strip_prefix("s3://")
            .and_then(|place| place.split_once('/'))
            .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
            .ok_or_else(|| {
                InputError(format!(
                    "`--save-to` takes `s3://bucket/key`, not `{target}`"
                ))
            })?;
        job = job.save_to(bucket, key);
    }
    let envelope = Envelope::new(Job::Http(job));
    Ok(match &args.id {
        Some(id) => envelope.with_id(id),
        None => envelope,
    })
}

/// True for `jobs enqueue http --dry-run`.
fn dry_run(args: &EnqueueArgs) -> bool {
    matches!(&args.kind, Some(EnqueueKind::Http(http)) if http.dry_run)
}

/// The headers `--dry-run` shows, in the order the handler sends them:
/// `host` and `user-agent`, those it sets from the job, for a signed call the
/// two it makes at each try (as placeholders: the signature covers the time of
/// the try), and `content-length`.
fn planned_headers(job: &HttpJob, job_id: &str) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if let Ok(target) = producer::contract::http::parse_url(&job.url) {
        headers.push(("host".to_owned(), target.host_header()));
    }
    headers.push((
        "user-agent".to_owned(),
        producer::contract::http::USER_AGENT.to_owned(),
    ));
    headers.extend(job.planned_headers(job_id));
    if let Some(reference) = &job.sign_with {
        headers.push((
            "webhook-timestamp".into(),
            "<unix seconds at send time>".into(),
        ));
        headers.push((
            "webhook-signature".into(),
            format!("v1,<HMAC-SHA256 with the secret at {reference}, at send time>"),
        ));
    }
    let body_len = job.body_bytes().map_or(0, |bytes| bytes.len());
    if let Some(length) = producer::contract::http::content_length(&job.method, body_len) {
        headers.push(("content-length".to_owned(), length.to_string()));
    }
    headers
}

/// The request as `--dry-run` prints it: `METHOD URL`, a `name: value` line
/// per header, then a blank line and the body (a text body as it is, bytes as
/// their count).
fn dry_run_text(job: &HttpJob, job_id: &str) -> String {
    let mut text = format!("{} {}\n", job.method, job.url);
    for (name, value) in planned_headers(job, job_id) {
        text.push_str(&format!("{name}: {value}\n"));
    }
    match &job.body {
        None => {}
        Some(HttpBody {
            text: Some(body), ..
        }) => {
            text.push('\n');
            text.push_str(body);
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        Some(_) => {
            let bytes = job.body_bytes().map_or(0, |bytes| bytes.len());
            text.push_str(&format!("\n<{bytes} bytes, base64 in the job>\n"));
        }
    }
    text
}

/// Prints a checked job's request, and sends nothing.
fn print_dry_run(envelope: &Envelope, output: Output) -> ExitCode {
    let Job::Http(job) = &envelope.job else {
        eprintln!("error: `--dry-run` shows an `http` job's request");
        return ExitCode::from(EXIT_INVALID);
    };
    match output {
        Output::Json => {
            let headers: Vec<_> = planned_headers(job, &envelope.id)
                .into_iter()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect();
            print_json(&serde_json::json!({"sent": 0, "dry_run": {
                "job_id": envelope.id, "kind": envelope.kind(),
                "method": job.method, "url": job.url, "headers": headers, "body": job.body,
            }}));
        }
        Output::Text => print!("{}", dry_run_text(job, &envelope.id)),
    }
    eprintln!("nothing was sent (--dry-run)");
    ExitCode::SUCCESS
}

fn guess_content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The time `--at` or `--in` asks for, if either; at most one of them and `--delay`.
fn when(args: &EnqueueArgs) -> Result<Option<SystemTime>, InputError> {
    let given = [args.delay != 0, args.at.is_some(), args.in_.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(InputError(
            "give one of `--delay`, `--at` and `--in`".into(),
        ));
    }
    if let Some(at) = &args.at {
        return parse_rfc3339(at).map(Some).ok_or_else(|| {
            InputError(format!(
                "`--at` takes an RFC 3339 time such as `2026-12-01T09:00:00Z`, not `{at}`"
            ))
        });
    }
    if let Some(wait) = &args.in_ {
        let wait = humantime::parse_duration(wait).map_err(|e| {
            InputError(format!(
                "`--in` takes a duration such as `90m` or `3h`, not `{wait}`: {e}"
            ))
        })?;
        return Ok(Some(SystemTime::now() + wait));
    }
    Ok(None)
}

/// Runs a parsed command line; prints results on stdout and problems on stderr.
pub async fn run(cli: Cli, clients: Clients) -> ExitCode {
    producer::aws::set_verbose(cli.verbose);
    let output = cli.output;
    let sqs = clients.sqs;
    let result = match cli.command {
        Command::Enqueue(args) => {
            return enqueue(*args, sqs, &clients.doctor.s3, &clients.dynamodb, output).await;
        }
        Command::Stats(queues) => stats(&sqs, &clients.cloudwatch, &queues, output).await,
        Command::Dlq(command) => dlq(&sqs, &clients.doctor.s3, command, output).await,
        Command::Schedules(args) => schedules(&clients.scheduler, args, output).await,
        Command::Cancel { job_id, table } => {
            return cancel(&clients.dynamodb, table.as_deref(), &job_id, output).await;
        }
        Command::Doctor(args) => return doctor(&clients.doctor, args, output).await,
        Command::Ui(args) => {
            let clients = crate::console::ConsoleClients {
                sqs,
                dynamodb: clients.dynamodb,
                cloudwatch: clients.cloudwatch,
                lambda: clients.lambda,
                s3: clients.doctor.s3,
            };
            return ui(clients, *args).await;
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "jobs", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            use clap::CommandFactory as _;
            return match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the manual page: {e}");
                    ExitCode::from(EXIT_SEND_FAILED)
                }
            };
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

/// Serves the console until Ctrl-C or SIGTERM.
async fn ui(clients: crate::console::ConsoleClients, args: UiArgs) -> ExitCode {
    use crate::console::{ConsoleError, ConsoleSettings};

    let local = match args.local_mails.as_deref().filter(|url| !url.is_empty()) {
        None => None,
        Some(url) => match crate::console::local::LocalMode::new(url, args.bucket.clone()) {
            Ok(local) => Some(local),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let queues = match job_queues(&clients.sqs, &args.queues).await {
        Ok(queues) => queues,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
    let names = names.join(", ");
    let event_sources = match crate::pause::event_sources_from(
        std::env::var(crate::pause::EVENT_SOURCES_ENV)
            .ok()
            .as_deref(),
    ) {
        Ok(ids) => ids,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let settings = ConsoleSettings {
        event_sources,
        address: std::net::SocketAddr::new(args.address, args.port),
        token: args.token,
        read_only: args.read_only,
        allow_hosts: args.allow_hosts,
        ledger_table: args.table,
        limit: args.queues.limit,
        metrics_namespace: (!args.no_metrics).then_some(args.metrics_namespace),
        local,
    };
    let listening = match crate::console::listen(settings, clients, queues).await {
        Ok(listening) => listening,
        Err(e @ ConsoleError::OpenWithoutToken(_)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_SEND_FAILED);
        }
    };
    println!(
        "jobs ui: the console is on http://{}/ (queues: {names}{})",
        listening.address,
        if args.read_only { "; read-only" } else { "" }
    );
    // A parent reading the first line (a test, a script) gets it at once.
    let _ = std::io::stdout().flush();
    match listening.serve(stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn cancel(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: Option<&str>,
    job_id: &str,
    output: Output,
) -> ExitCode {
    let Some(table) = table.filter(|t| !t.is_empty()) else {
        eprintln!(
            "error: no ledger table: pass `--table` or set `{}`; cancelling needs the idempotency ledger",
            producer::contract::ledger::TABLE_ENV
        );
        return ExitCode::from(EXIT_INVALID);
    };
    match crate::cancel::cancel(dynamodb, table, job_id).await {
        Ok(cancelled) => {
            let already = cancelled == crate::cancel::Cancelled::Already;
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "job_id": job_id,
                    "cancelled": if already { "already" } else { "now" },
                })),
                Output::Text if already => println!("job {job_id} was already cancelled"),
                Output::Text => println!("cancelled job {job_id}: it will not run"),
            }
            ExitCode::SUCCESS
        }
        Err(e @ crate::cancel::CancelError::EmptyId) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

/// The queues a command covers, each with its dead-letter queue.
async fn job_queues(sqs: &aws_sdk_sqs::Client, args: &QueueArgs) -> Result<Vec<JobQueue>, String> {
    crate::queues::job_queues(
        sqs,
        &crate::queues::Chosen {
            queue: args.queue.clone().or_else(|| args.queue_url.clone()),
            dlq_url: args.dlq_url.clone(),
        },
    )
    .await
}

/// The queues that have a dead-letter queue; an error when none has.
async fn with_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    args: &QueueArgs,
) -> Result<Vec<(JobQueue, String)>, String> {
    let queues = job_queues(sqs, args).await?;
    let names: Vec<String> = queues.iter().map(|q| format!("`{}`", q.name)).collect();
    let found: Vec<_> = queues
        .into_iter()
        .filter_map(|q| q.dead_letters.clone().map(|dlq| (q, dlq)))
        .collect();
    if found.is_empty() {
        return Err(format!(
            "no dead-letter queue: {} has no redrive policy; pass `--dlq-url` or set `{}`",
            names.join(", "),
            crate::queues::DLQ_URL_ENV
        ));
    }
    Ok(found)
}

async fn stats(
    sqs: &aws_sdk_sqs::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    args: &QueueArgs,
    output: Output,
) -> Result<ExitCode, String> {
    let queues = job_queues(sqs, args).await?;
    let mut rows = Vec::new();
    for queue in &queues {
        let stats = crate::stats::stats(sqs, &queue.url, queue.dead_letters.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        // The counts stand on their own; the age is extra, so it never fails the command.
        let oldest = crate::stats::oldest_age(cloudwatch, &queue.url).await;
        rows.push((queue, stats, oldest));
    }
    if output == Output::Json {
        let queues: Vec<_> = rows
            .iter()
            .map(|(queue, stats, oldest)| {
                let (age, measured_at, why_unknown) = match oldest {
                    Ok(Some(oldest)) => (
                        Some(oldest.age.as_secs()),
                        Some(humantime::format_rfc3339_seconds(oldest.measured_at).to_string()),
                        None,
                    ),
                    Ok(None) => (None, None, Some("no CloudWatch reading".to_owned())),
                    Err(e) => (None, None, Some(e.to_string())),
                };
                serde_json::json!({
                    "queue": queue.name,
                    "url": queue.url,
                    "dead_letter_url": queue.dead_letters,
                    "queued": stats.queued,
                    "in_flight": stats.in_flight,
                    "delayed": stats.delayed,
                    "dead": stats.dead,
                    "oldest_age_seconds": age,
                    "oldest_measured_at": measured_at,
                    "oldest_unknown_because": why_unknown,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "queues": queues }));
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows
        .iter()
        .map(|(q, ..)| q.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    println!(
        "{:width$}  {:>8}  {:>9}  {:>8}  {:>8}  oldest",
        "queue", "queued", "in flight", "delayed", "dead"
    );
    for (queue, stats, oldest) in &rows {
        let dead = match (&queue.dead_letters, stats.dead) {
            (None, _) => "-".to_owned(),
            (Some(_), dead) => dead.to_string(),
        };
        let oldest = match oldest {
            Ok(Some(oldest)) => {
                let whole_seconds = std::time::Duration::from_secs(oldest.age.as_secs());
                let taken = SystemTime::now()
                    .duration_since(oldest.measured_at)
                    .map_or(0, |d| d.as_secs());
                format!(
                    "{} (CloudWatch, {taken}s ago)",
                    humantime::format_duration(whole_seconds)
                )
            }
            Ok(None) => format!(
                "unknown (no CloudWatch reading in the last {} minutes)",
                crate::stats::OLDEST_AGE_LOOKBACK.as_secs() / 60
            ),
            Err(e) => format!("unknown ({e})"),
        };
        println!(
            "{:width$}  {:>8}  {:>9}  {:>8}  {:>8}  {oldest}",
            queue.name, stats.queued, stats.in_flight, stats.delayed, dead
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn dlq(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    command: DlqCommand,
    output: Output,
) -> Result<ExitCode, String> {
    match command {
        DlqCommand::List(args) => {
            let mut all = Vec::new();
            for (queue, dlq) in with_dead_letters(sqs, &args).await? {
                let letters = ops::list_dead_letters(sqs, &dlq, args.limit)
                    .await
                    .map_err(|e| e.to_string())?;
                all.push((queue, letters));
            }
            if output == Output::Json {
                let letters: Vec<_> = all
                    .iter()
                    .flat_map(|(queue, letters)| {
                        letters.iter().map(|l| {
                            let mut json = dead_letter_json(l, false);
                            json["queue"] = queue.name.clone().into();
                            json
                        })
                    })
                    .collect();
                print_json(&serde_json::json!({"count": letters.len(), "dead_letters": letters}));
                return Ok(ExitCode::SUCCESS);
            }
            for (i, (queue, letters)) in all.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{}: {} dead letters", queue.name, letters.len());
                for ((kind, code), group) in ops::group(letters) {
                    println!("\n  {kind} / {code}: {}", group.len());
                    for letter in group {
                        println!(
                            "    {}  {}  {}",
                            letter.job_id, letter.failed_at, letter.reason
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { id, queues: args } => {
            let mut found = None;
            for (queue, dlq) in with_dead_letters(sqs, &args).await? {
                let letters = ops::list_dead_letters(sqs, &dlq, args.limit)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(letter) = letters
                    .into_iter()
                    .find(|l| l.job_id == id || l.message_id == id)
                {
                    found = Some((queue, letter));
                    break;
                }
            }
            let (queue, mut letter) =
                found.ok_or_else(|| format!("no dead letter with job id or message id `{id}`"))?;
            // A pointer message is shown with the envelope it points at.
            let stored = ops::stored_body(s3, &letter)
                .await
                .map_err(|e| e.to_string())?;
            let pointer = letter.body.clone();
            if let Some(stored) = stored {
                letter.body = stored;
            }
            if output == Output::Json {
                let mut json = dead_letter_json(&letter, true);
                json["queue"] = queue.name.clone().into();
                if let Some(stored) = &letter.payload {
                    json["stored_at"] = stored.url().into();
                    json["pointer"] = pointer.into();
                }
                print_json(&json);
                return Ok(ExitCode::SUCCESS);
            }
            println!("job id:      {}", letter.job_id);
            println!("message id:  {}", letter.message_id);
            println!("queue:       {}", queue.name);
            println!("kind:        {}", letter.kind);
            println!(
                "error:       {} ({})",
                letter.error_code, letter.error_class
            );
            println!("reason:      {}", letter.reason);
            println!("failed at:   {}", letter.failed_at);
            if let Some(stored) = &letter.payload {
                println!("stored at:   {}", stored.url());
            }
            let body = serde_json::from_str::<serde_json::Value>(&letter.body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| letter.body.clone());
            println!("body:\n{body}");
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Redrive {
            queues: args,
            all,
            kind,
            id,
            dry_run,
        } => {
            let selection = match (all, kind, id) {
                (true, _, _) => ops::Selection::All,
                (_, Some(kind), _) => ops::Selection::Kind(kind),
                (_, _, Some(id)) => ops::Selection::Id(id),
                _ => return Err("say which: `--all`, `--kind KIND` or `--id ID`".into()),
            };
            let verb = if dry_run {
                "would send back"
            } else {
                "sent back"
            };
            for (queue, dlq) in with_dead_letters(sqs, &args).await? {
                let done = ops::redrive(sqs, &dlq, &queue.url, &selection, dry_run, args.limit)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(task) = done.move_task {
                    println!(
                        "{}: SQS is moving every dead letter back (move task {task})",
                        queue.name
                    );
                    continue;
                }
                println!(
                    "{}: {verb} {} dead letters; {} left alone",
                    queue.name,
                    done.moved.len(),
                    done.left
                );
                for job_id in &done.moved {
                    println!("  {job_id}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Purge { queues: args, yes } => {
            let mut chosen = Vec::new();
            for (queue, dlq) in with_dead_letters(sqs, &args).await? {
                let stats = crate::stats::stats(sqs, &queue.url, Some(&dlq))
                    .await
                    .map_err(|e| e.to_string())?;
                chosen.push((dlq, stats.dead));
            }
            if !yes {
                let listed: Vec<String> = chosen
                    .iter()
                    .map(|(dlq, dead)| format!("{dead} from {dlq}"))
                    .collect();
                eprint!(
                    "delete all dead letters ({})? type `yes`: ",
                    listed.join(", ")
                );
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if answer.trim() != "yes" {
                    eprintln!("nothing was deleted");
                    return Ok(ExitCode::from(EXIT_SEND_FAILED));
                }
            }
            let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            for (dlq, _) in chosen {
                let purged = ops::purge(sqs, s3, &dlq, |so_far| {
                    if on_terminal {
                        eprint!("\r{dlq}: {so_far} deleted");
                    }
                })
                .await;
                if on_terminal {
                    eprintln!();
                }
                let purged = purged.map_err(|e| e.to_string())?;
                println!(
                    "purged {dlq}: {} dead letters, {} stored envelopes",
                    purged.jobs.len(),
                    purged.stored_bodies
                );
                for left in &purged.bodies_left {
                    eprintln!(
                        "warning: a stored envelope was left to the bucket's lifecycle rule: {left}"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn schedules(
    scheduler: &aws_sdk_scheduler::Client,
    args: SchedulesArgs,
    output: Output,
) -> Result<ExitCode, String> {
    let after = match &args.from {
        None => jiff::Timestamp::now(),
        Some(text) => parse_rfc3339(text)
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .ok_or_else(|| {
                format!(
                    "`--from` takes an RFC 3339 time such as `2026-03-08T00:00:00Z`, not `{text}`"
                )
            })?,
    };
    let schedules = crate::periodic::list_schedules(scheduler, &args.group, after, args.next)
        .await
        .map_err(|e| e.to_string())?;
    let local = |schedule: &crate::periodic::Schedule, t: &jiff::Timestamp| {
        jiff::tz::TimeZone::get(&schedule.timezone)
            .map(|tz| {
                t.to_zoned_datetime(tz)
                    .strftime("%Y-%m-%d %H:%M %:z")
                    .to_string()
            })
            .unwrap_or_else(|_| t.to_string())
    };
    if output == Output::Json {
        let listed: Vec<_> = schedules
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "group": s.group,
                    "state": s.state,
                    "expression": s.expression,
                    "timezone": s.timezone,
                    "queue": s.queue,
                    "kind": s.kind,
                    "job_id": s.job_id,
                    "next_runs": s.next_runs.iter().map(|t| serde_json::json!({
                        "at": t.to_string(),
                        "local": local(s, t),
                    })).collect::<Vec<_>>(),
                    "problem": s.problem,
                })
            })
            .collect();
        print_json(&serde_json::json!({"group": args.group, "schedules": listed}));
        return Ok(ExitCode::SUCCESS);
    }
    if schedules.is_empty() {
        println!("no schedules in group `{}`", args.group);
    }
    for (i, schedule) in schedules.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!(
            "{}  {}  {} in {}",
            schedule.name, schedule.state, schedule.expression, schedule.timezone
        );
        println!(
            "  puts {} on {}{}",
            schedule
                .kind
                .as_deref()
                .map_or("a message".to_owned(), |k| format!("a `{k}` job")),
            schedule.queue,
            schedule
                .job_id
                .as_deref()
                .map_or(String::new(), |id| format!(" (id `{id}`)"))
        );
        if let Some(problem) = &schedule.problem {
            println!("  next runs unknown: {problem}");
        } else if schedule.state != "ENABLED" {
            println!("  disabled: no runs");
        } else if schedule.next_runs.is_empty() {
            println!("  no runs left");
        }
        for run in &schedule.next_runs {
            println!("  next  {}  ({run})", local(schedule, run));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn doctor(
    clients: &crate::doctor::DoctorClients,
    args: DoctorArgs,
    output: Output,
) -> ExitCode {
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let routes = match QueueRoutes::from_env() {
        Ok(routes) => routes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let explicit = given(args.queue_url.clone());
    let (queues, queue_url, dlq_url) = match explicit {
        Some(url) => (Vec::new(), Some(url), given(args.dlq_url)),
        None if !routes.is_empty() => (
            routes
                .iter()
                .map(|(n, u)| (n.to_owned(), u.to_owned()))
                .collect(),
            None,
            None,
        ),
        None => (
            Vec::new(),
            given(std::env::var(QUEUE_URL_ENV).ok()),
            given(args.dlq_url).or_else(|| given(std::env::var(crate::queues::DLQ_URL_ENV).ok())),
        ),
    };
    let input = crate::doctor::DoctorInput {
        queues,
        queue_url,
        dlq_url,
        table: args.table,
        bucket: args.bucket,
        sender: args.sender,
        function_timeout_seconds: args.function_timeout,
    };
    let report = crate::doctor::check(clients, &input).await;
    match output {
        // Serialized directly, so the keys keep the documented order.
        Output::Json => println!("{}", serde_json::to_string(&report).unwrap_or_default()),
        Output::Text => println!("{report}"),
    }
    if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SEND_FAILED)
    }
}

/// One JSON document on stdout.
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// A dead letter as `dlq list` and `dlq show` print it in JSON; `show` adds the body.
fn dead_letter_json(letter: &ops::DeadLetter, with_body: bool) -> serde_json::Value {
    let mut value = serde_json::json!({
        "job_id": letter.job_id,
        "message_id": letter.message_id,
        "kind": letter.kind,
        "error_class": letter.error_class,
        "error_code": letter.error_code,
        "reason": letter.reason,
        "failed_at": letter.failed_at,
    });
    if with_body {
        // The body as JSON when it is JSON (a poison message may not be).
        value["body"] = serde_json::from_str(&letter.body)
            .unwrap_or_else(|_| serde_json::Value::String(letter.body.clone()));
    }
    value
}

async fn enqueue(
    args: EnqueueArgs,
    sqs: aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    output: Output,
) -> ExitCode {
    let payloads = args
        .payload_bucket
        .as_deref()
        .filter(|bucket| !bucket.is_empty())
        .map(|bucket| PayloadStore::new(s3.clone(), bucket));
    let staged = match stage_upload(&args, payloads.as_ref()).await {
        Ok(staged) => staged,
        Err(e) => {
            if output == Output::Json {
                print_json(&serde_json::json!({"sent": 0, "refused": {"message": e.to_string()}}));
            }
            eprintln!("error: {e}");
            eprintln!("nothing was sent");
            return ExitCode::from(if e.is_transient() {
                EXIT_SEND_FAILED
            } else {
                EXIT_INVALID
            });
        }
    };
    let exit = enqueue_staged(
        args,
        sqs,
        payloads.clone(),
        staged.clone(),
        dynamodb,
        output,
    )
    .await;
    // A job refused after its file was staged leaves nothing behind.
    if exit != ExitCode::SUCCESS
        && let (Some(store), Some(source)) = (&payloads, &staged)
    {
        store.remove_source(source).await;
    }
    exit
}

/// Stages an upload's file in the payload bucket when it is too large to
/// travel in the message, with its progress on a terminal.
async fn stage_upload(
    args: &EnqueueArgs,
    payloads: Option<&PayloadStore>,
) -> Result<Option<UploadSource>, StageError> {
    let (Some(EnqueueKind::Upload(upload)), Some(store), None) = (&args.kind, payloads, &args.json)
    else {
        return Ok(None);
    };
    let size = std::fs::metadata(&upload.file)
        .map_err(|source| StageError::Read {
            path: upload.file.clone(),
            source,
        })?
        .len();
    if fits_inline(size, args.max_message_bytes) {
        return Ok(None);
    }
    const MIB: u64 = 1024 * 1024;
    let mut progress = Progress::new("staging", Some(size.div_ceil(MIB) as usize)).counting("MiB");
    let staged = store
        .stage_file_with_progress(&upload.file, |done| {
            let done = (done / MIB) as usize;
            progress.advance(done.saturating_sub(progress.done));
        })
        .await;
    progress.finish();
    staged.map(Some)
}

async fn enqueue_staged(
    args: EnqueueArgs,
    sqs: aws_sdk_sqs::Client,
    payloads: Option<PayloadStore>,
    staged: Option<UploadSource>,
    dynamodb: &aws_sdk_dynamodb::Client,
    output: Output,
) -> ExitCode {
    let refuse = |message: String| {
        if output == Output::Json {
            print_json(&serde_json::json!({"sent": 0, "refused": {"message": message}}));
        }
        eprintln!("error: {message}");
        eprintln!("nothing was sent");
        ExitCode::from(EXIT_INVALID)
    };
    let refuse_job = |e: EnqueueError| {
        if let (
            Output::Json,
            EnqueueError::Invalid {
                index,
                job_id,
                errors,
            },
        ) = (output, &e)
        {
            let errors: Vec<_> = errors
                .0
                .iter()
                .map(|f| serde_json::json!({"field": f.field, "problem": f.problem}))
                .collect();
            print_json(&serde_json::json!({
                "sent": 0,
                "refused": {"index": index, "job_id": job_id, "errors": errors},
            }));
        }
        eprintln!("error: {e}");
        eprintln!("nothing was sent");
        ExitCode::from(EXIT_INVALID)
    };
    let input = match input_with(&args, staged) {
        Ok(input) => input,
        Err(e) => return refuse(e.0),
    };
    let schemas = match payload_schemas(&args.schema) {
        Ok(schemas) => schemas,
        Err(e) => return refuse(e.0),
    };
    let routing = match Routing::from_args(&args) {
        Ok(routing) => routing,
        Err(e) => return refuse(e),
    };
    let schedules = args
        .table
        .as_deref()
        .filter(|table| !table.is_empty())
        .map(|table| producer::send::schedules::ScheduleBook::new(dynamodb.clone(), table));
    let queue_for = |url: String| {
        Queue::new(sqs.clone(), url)
            .with_max_message_bytes(args.max_message_bytes)
            .with_sends_in_flight(args.sends_in_flight)
            .with_schedules(schedules.clone())
            .with_payloads(payloads.clone())
    };
    // The checks of a send, before any queue is chosen.
    let checker = queue_for(String::new());
    let at = match when(&args) {
        Ok(at) => at,
        Err(e) => return refuse(e.0),
    };
    // One `now` for every job, so both passes shape each job alike.
    let now = SystemTime::now();
    let shape = |envelope: Envelope| match at {
        None => (envelope, SendOptions::delayed(args.delay)),
        Some(at) => schedule(&envelope, at, now),
    };
    let lines = match input {
        Input::One(envelope) => {
            if let Err(e) = check_payload(&schemas, 0, &envelope) {
                return refuse(e.0);
            }
            let (envelope, options) = shape(*envelope);
            if dry_run(&args) {
                // The same checks as a send, and the same refusal.
                if let Err(errors) = checker.check(&envelope, options) {
                    return refuse_job(EnqueueError::Invalid {
                        index: 0,
                        job_id: envelope.id,
                        errors,
                    });
                }
                return print_dry_run(&envelope, output);
            }
            let url = match routing.url_for(&sqs, &envelope.job).await {
                Ok(url) => url,
                Err(e) => return refuse(e),
            };
            let label = routing
                .routes
                .name_of(&url)
                .unwrap_or(queue_name_of(&url))
                .to_owned();
            return enqueue_one(
                &queue_for(url),
                &label,
                &envelope,
                options,
                output,
                refuse_job,
            )
            .await;
        }
        Input::Lines(lines) => lines,
    };

    // First pass: every job is checked before the first is sent.
    let unreadable = |e: std::io::Error| format!("cannot read `{}`: {e}", lines.shown());
    let envelopes = match lines.envelopes() {
        Ok(envelopes) => envelopes,
        Err(e) => return refuse(unreadable(e)),
    };
    let mut checking = Progress::new("checking", None);
    let mut count = 0;
    // Each queue the jobs go to, in the order first named.
    let mut targets: Vec<String> = Vec::new();
    for read in envelopes {
        let envelope = match read {
            Ok((_, envelope)) => envelope,
            Err(e) => return refuse(e.to_string()),
        };
        if let Err(e) = check_payload(&schemas, count, &envelope) {
            return refuse(e.0);
        }
        let (envelope, options) = shape(envelope);
        if let Err(errors) = checker.check(&envelope, options) {
            return refuse_job(EnqueueError::Invalid {
                index: count,
                job_id: envelope.id,
                errors,
            });
        }
        match routing.target(&envelope.job) {
            Some(target) if !targets.contains(&target) => targets.push(target),
            Some(_) => {}
            None => return refuse(no_queue()),
        }
        count += 1;
        checking.advance(1);
    }
    checking.finish();
    if count == 0 {
        return refuse(format!("`{}` holds no jobs", lines.shown()));
    }

    // Every queue is found before the first job is sent.
    let mut urls = Vec::new();
    for target in &targets {
        match routing.resolve(&sqs, target).await {
            Ok(url) => urls.push(url),
            Err(e) => return refuse(e),
        }
    }

    // Second pass, once per queue: stream the sends, reporting each call's
    // jobs in order.
    let mut changed = None;
    let mut report = SendReport::new(output, count);
    for (target, url) in targets.iter().zip(urls) {
        let envelopes = match lines.envelopes() {
            Ok(envelopes) => envelopes,
            Err(e) => return refuse(unreadable(e)),
        };
        let jobs = envelopes
            .map_while(|read| match read {
                Ok((_, envelope)) => Some(envelope),
                Err(e) => {
                    changed = Some(e);
                    None
                }
            })
            .enumerate()
            .filter(|(_, envelope)| routing.target(&envelope.job).as_ref() == Some(target))
            .map(|(index, envelope)| {
                let (envelope, options) = shape(envelope);
                (index, envelope, options)
            });
        queue_for(url)
            .send_checked(jobs, |batch| report.add(batch))
            .await;
    }
    let (sent, failed) = report.finish();
    if let Some(e) = changed {
        eprintln!("error: the input changed while it was being sent: {e}");
    }
    if failed == 0 && sent == count {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} of {count} jobs were not sent", count - sent);
        ExitCode::from(EXIT_SEND_FAILED)
    }
}

async fn enqueue_one(
    queue: &Queue,
    label: &str,
    envelope: &Envelope,
    options: SendOptions,
    output: Output,
    refuse_job: impl Fn(EnqueueError) -> ExitCode,
) -> ExitCode {
    match queue.enqueue(envelope, options).await {
        Ok(sent) => {
            match output {
                Output::Json => print_json(&serde_json::json!({"sent": 1, "jobs": [{
                    "index": 0, "job_id": sent.job_id, "kind": envelope.kind(),
                    "message_id": sent.message_id,
                    "queue": label,
                }]})),
                Output::Text => println!(
                    "enqueued {} job {} as message {} on {}",
                    envelope.kind(),
                    sent.job_id,
                    sent.message_id,
                    label
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e @ EnqueueError::Invalid { .. }) => refuse_job(e),
        Err(e) => {
            if output == Output::Json {
                print_json(&serde_json::json!({"sent": 0, "jobs": [{
                    "index": 0, "job_id": envelope.id, "kind": envelope.kind(),
                    "error": {"message": e.to_string()},
                }]}));
            }
            eprintln!("error: job {}: {e}", envelope.id);
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

fn no_queue() -> String {
    format!(
        "no queue: pass `--queue NAME|URL`, or set `{QUEUE_URLS_ENV}` (with a `default`) or `{QUEUE_URL_ENV}`"
    )
}

/// Where `jobs enqueue` sends each job: `--queue` (or `--queue-url`) for
/// every job; else by kind through `JOBS_QUEUE_URLS` (mail to `mailers`, the
/// rest to `default`); else the lone `JOBS_QUEUE_URL`.
struct Routing {
    explicit: Option<String>,
    routes: QueueRoutes,
    lone: Option<String>,
}

impl Routing {
    fn from_args(args: &EnqueueArgs) -> Result<Self, String> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        Ok(Routing {
            explicit: given(&args.queue).or_else(|| given(&args.queue_url)),
            routes: QueueRoutes::from_env().map_err(|e| e.to_string())?,
            lone: given(&std::env::var(QUEUE_URL_ENV).ok()),
        })
    }

    /// The queue (a name or a URL) `job` goes to.
    fn target(&self, job: &producer::Job) -> Option<String> {
        self.explicit
            .clone()
            .or_else(|| self.routes.queue_for(job, None).map(str::to_owned))
            .or_else(|| self.lone.clone())
    }

    /// A target's URL: itself, its entry in the routes, or SQS's answer.
    async fn resolve(&self, sqs: &aws_sdk_sqs::Client, target: &str) -> Result<String, String> {
        if let Some(url) = self.routes.url_of(target) {
            return Ok(url.to_owned());
        }
        let found = sqs
            .get_queue_url()
            .queue_name(target)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot find queue `{target}`: {}",
                    producer::aws::describe(&e)
                )
            })?;
        found
            .queue_url
            .ok_or_else(|| format!("cannot find queue `{target}`: sqs returned no URL"))
    }

    async fn url_for(
        &self,
        sqs: &aws_sdk_sqs::Client,
        job: &producer::Job,
    ) -> Result<String, String> {
        let target = self.target(job).ok_or_else(no_queue)?;
        self.resolve(sqs, &target).await
    }
}

/// Writes what became of each job as its call returns: a line per job (text),
/// or one JSON document `{"jobs": [...], "sent": N}` written as it grows, so
/// that nothing of a long input is held in memory.
struct SendReport {
    output: Output,
    out: std::io::BufWriter<std::io::Stdout>,
    progress: Progress,
    sent: usize,
    failed: usize,
}

impl SendReport {
    fn new(output: Output, total: usize) -> Self {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
        if output == Output::Json {
            let _ = write!(out, "{{\"jobs\":[");
        }
        SendReport {
            output,
            out,
            progress: Progress::new("sending", Some(total)),
            sent: 0,
            failed: 0,
        }
    }

    fn add(&mut self, batch: BatchReport) {
        let mut results: Vec<Result<SentJob, FailedJob>> = batch
            .sent
            .into_iter()
            .map(Ok)
            .chain(batch.failed.into_iter().map(Err))
            .collect();
        results.sort_by_key(|r| match r {
            Ok(sent) => sent.index,
            Err(failed) => failed.index,
        });
        self.progress.clear();
        for result in &results {
            self.write(result);
        }
        if self.progress.shown() {
            let _ = self.out.flush();
        }
        self.progress.advance(results.len());
    }

    fn write(&mut self, result: &Result<SentJob, FailedJob>) {
        let first = self.sent + self.failed == 0;
        match result {
            Ok(_) => self.sent += 1,
            Err(_) => self.failed += 1,
        }
        let written = match (self.output, result) {
            (Output::Json, Ok(sent)) => write!(
                self.out,
                "{}{}",
                if first { "" } else { "," },
                serde_json::json!({
                    "index": sent.index, "job_id": sent.job_id,
                    "kind": sent.kind, "message_id": sent.message_id,
                })
            ),
            (Output::Json, Err(failed)) => write!(
                self.out,
                "{}{}",
                if first { "" } else { "," },
                serde_json::json!({
                    "index": failed.index, "job_id": failed.job_id, "kind": failed.kind,
                    "error": {"code": failed.code, "message": failed.message,
                              "may_succeed_if_sent_again": !failed.sender_fault},
                })
            ),
            (Output::Text, Ok(sent)) => writeln!(
                self.out,
                "enqueued {} job {} as message {}",
                sent.kind, sent.job_id, sent.message_id
            ),
            (Output::Text, Err(_)) => Ok(()),
        };
        // Stdout closed (a pipe whose reader left): the sends go on; the exit code tells.
        drop(written);
        if let Err(failed) = result {
            eprintln!(
                "failed: job {} (id `{}`): {}: {}{}",
                failed.index,
                failed.job_id,
                failed.code,
                failed.message,
                if failed.sender_fault {
                    ""
                } else {
                    " (may succeed if sent again)"
                }
            );
        }
    }

    /// Closes the document; returns how many jobs were sent and how many failed.
    fn finish(mut self) -> (usize, usize) {
        self.progress.finish();
        if self.output == Output::Json {
            let _ = writeln!(self.out, "],\"sent\":{}}}", self.sent);
        }
        let _ = self.out.flush();
        (self.sent, self.failed)
    }
}

/// A progress bar on standard error, drawn only when it is a terminal, at most
/// ten times a second.
struct Progress {
    label: &'static str,
    /// What is counted: `jobs`, or `MiB` for a file being staged.
    unit: &'static str,
    total: Option<usize>,
    done: usize,
    started: std::time::Instant,
    drawn: Option<std::time::Instant>,
    terminal: bool,
}

impl Progress {
    fn new(label: &'static str, total: Option<usize>) -> Self {
        use std::io::IsTerminal as _;
        Progress {
            label,
            unit: "jobs",
            total,
            done: 0,
            started: std::time::Instant::now(),
            drawn: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn counting(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    fn shown(&self) -> bool {
        self.terminal
    }

    fn advance(&mut self, by: usize) {
        self.done += by;
        if self.terminal
            && self
                .drawn
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_millis(100))
        {
            self.draw();
        }
    }

    fn draw(&mut self) {
        self.drawn = Some(std::time::Instant::now());
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let line = match self.total {
            Some(total) => {
                let width = 30;
                let filled = (self.done * width).checked_div(total).unwrap_or(width);
                format!(
                    "{} [{}{}] {}/{} {}, {:.0}/s",
                    self.label,
                    "#".repeat(filled.min(width)),
                    "-".repeat(width - filled.min(width)),
                    self.done,
                    total,
                    self.unit,
                    rate
                )
            }
            None => format!("{} {} {}, {:.0}/s", self.label, self.done, self.unit, rate),
        };
        eprint!("\r\x1b[K{line}");
    }

    /// Takes the bar off the line, so other output starts clean.
    fn clear(&self) {
        if self.terminal && self.drawn.is_some() {
            eprint!("\r\x1b[K");
        }
    }

    fn finish(&mut self) {
        if self.terminal && self.done > 0 {
            self.draw();
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn mail_arguments_become_a_mail_job() {
        let cli = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "mail",
            "--from",
            "a@example.com",
            "--to",
            "b@example.com",
            "--to",
            "c@example.com",
            "--subject",
            "hi",
            "--text",
            "body",
            "--id",
            "order-42",
        ])
        .expect("parses");
        let Command::Enqueue(args) = cli.command else {
            panic!("not enqueue")
        };
        let Ok(Input::One(envelope)) = input(&args) else {
            panic!("not one job")
        };
        assert_eq!(envelope.id, "order-42");
        let Job::Mail(mail) = &envelope.job else {
            panic!("not mail")
        };
        assert_eq!(mail.to, ["b@example.com", "c@example.com"]);
    }

    #[test]
    fn json_and_a_kind_conflict() {
        let cli = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "--json",
            "x.json",
            "mail",
            "--from",
            "a@example.com",
            "--to",
            "b@example.com",
            "--subject",
            "s",
        ])
        .expect("parses");
        let Command::Enqueue(args) = cli.command else {
            panic!("not enqueue")
        };
        let Err(err) = input(&args) else {
            panic!("one or the other")
        };
        assert!(
            err.to_string()
                .starts_with("say what to enqueue, one way only"),
            "{err}"
        );
    }

    fn http_input(arguments: &[&str]) -> Result<Input, InputError> {
        let cli = Cli::try_parse_from(["jobs", "enqueue", "http"].iter().chain(arguments))
            .expect("parses");
        let Command::Enqueue(args) = cli.command else {
            panic!("not enqueue")
        };
        input(&args)
    }

    fn http_job(arguments: &[&str]) -> (String, HttpJob) {
        let Ok(Input::One(envelope)) = http_input(arguments) else {
            panic!("not one job")
        };
        let Job::Http(job) = envelope.job else {
            panic!("not http")
        };
        (envelope.id, job)
    }

    #[test]
    fn http_dry_run_shows_the_request_with_its_idempotency_key_and_signature() {
        let (id, job) = http_job(&[
            "--url",
            "https://partner.example/hooks/orders",
            "--header",
            "X-Shop:  north ",
            "--json-body",
            r#"{"order": 42}"#,
            "--sign",
            "ssm:/jobs/webhooks/partner",
            "--id",
            "order-42",
            "--dry-run",
        ]);
        assert_eq!(id, "order-42");
        assert_eq!(
            dry_run_text(&job, &id),
            "POST https://partner.example/hooks/orders\n\
             host: partner.example\n\
             user-agent: jobs-handler/0.1.0\n\
             x-shop: north\n\
             content-type: application/json\n\
             idempotency-key: order-42\n\
             webhook-id: order-42\n\
             webhook-timestamp: <unix seconds at send time>\n\
             webhook-signature: v1,<HMAC-SHA256 with the secret at ssm:/jobs/webhooks/partner, at send time>\n\
             content-length: 13\n\
             \n\
             {\"order\": 42}\n"
        );
        let (id, unsigned) = http_job(&["--url", "https://a.example/", "--method", "delete"]);
        assert_eq!(unsigned.method, "DELETE");
        assert_eq!(
            dry_run_text(&unsigned, &id),
            format!(
                "DELETE https://a.example/\nhost: a.example\nuser-agent: jobs-handler/0.1.0\nidempotency-key: {id}\n"
            )
        );
    }

    #[test]
    fn a_body_file_is_text_when_utf8_else_base64() {
        let dir = std::env::temp_dir().join(format!("jobs-cli-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let text = dir.join("order.csv");
        std::fs::write(&text, "order,total\n42,19.99\n").expect("write");
        let binary = dir.join("blob.bin");
        std::fs::write(&binary, [0u8, 1, 2, 0xff]).expect("write");
        let (id, job) = http_job(&[
            "--url",
            "https://a.example/in",
            "--method",
            "PUT",
            "--body-file",
            text.to_str().expect("utf-8"),
            "--content-type",
            "text/csv",
        ]);
        let body = job.body.clone().expect("a body");
        assert_eq!(body.text.as_deref(), Some("order,total\n42,19.99\n"));
        assert_eq!(body.content_type.as_deref(), Some("text/csv"));
        assert!(dry_run_text(&job, &id).ends_with("\n\norder,total\n42,19.99\n"));
        let (id, job) = http_job(&[
            "--url",
            "https://a.example/in",
            "--body-file",
            binary.to_str().expect("utf-8"),
        ]);
        let body = job.body.clone().expect("a body");
        assert_eq!(body.base64.as_deref(), Some("AAEC/w=="));
        assert_eq!(
            body.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert!(
            dry_run_text(&job, &id).ends_with("\n\n<4 bytes, base64 in the job>\n"),
            "{}",
            dry_run_text(&job, &id)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_header_without_a_colon_is_refused_naming_header() {
        let Err(err) = http_input(&["--url", "https://a.example/", "--header", "X-Shop north"])
        else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--header`"), "{err}");
        let Err(err) = http_input(&[
            "--url",
            "https://a.example/",
            "--header",
            "X-Shop: a",
            "--header",
            "X-Shop: b",
        ]) else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--header`"), "{err}");
    }

    #[test]
    fn a_json_body_that_is_not_json_is_refused_naming_json_body() {
        let Err(err) = http_input(&["--url", "https://a.example/", "--json-body", "{order: 42"])
        else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--json-body`"), "{err}");
        let Err(err) = http_input(&["--url", "https://a.example/", "--save-to", "bucket/key"])
        else {
            panic!("refused")
        };
        assert!(err.to_string().contains("`--save-to`"), "{err}");
    }

    #[test]
    fn the_body_options_exclude_each_other() {
        let both = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "http",
            "--url",
            "https://a.example/",
            "--json-body",
            "{}",
            "--body-file",
            "x",
        ]);
        assert!(both.is_err());
        let type_alone = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "http",
            "--url",
            "https://a.example/",
            "--content-type",
            "text/plain",
        ]);
        assert!(type_alone.is_err());
    }

    #[tokio::test]
    async fn http_dry_run_sends_nothing_and_a_broken_job_exits_2() {
        use aws_sdk_sqs::operation::send_message::SendMessageOutput;
        use aws_smithy_mocks::{mock, mock_client};

        let rule = mock!(aws_sdk_sqs::Client::send_message)
            .then_output(|| SendMessageOutput::builder().message_id("m").build());
        let sqs = mock_client!(aws_sdk_sqs, [&rule]);
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(producer::aws::https_client())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let run_with = |extra: &[&str]| {
            let arguments = [
                "jobs",
                "enqueue",
                "--queue-url",
                "http://queue",
                "http",
                "--url",
                "https://partner.example/hooks/orders",
                "--sign",
                "ssm:/jobs/webhooks/partner",
                "--dry-run",
            ]
            .iter()
            .chain(extra);
            let cli = Cli::try_parse_from(arguments).expect("parses");
            run(
                cli,
                Clients {
                    sqs: sqs.clone(),
                    ..Clients::new(&config)
                },
            )
        };
        assert_eq!(run_with(&[]).await, ExitCode::SUCCESS);
        assert_eq!(
            run_with(&["--timeout-seconds", "0"]).await,
            ExitCode::from(EXIT_INVALID)
        );
        assert_eq!(
            run_with(&["--header", "Host: metadata.internal"]).await,
            ExitCode::from(EXIT_INVALID)
        );
        assert_eq!(rule.num_calls(), 0, "a dry run sends nothing");
    }

    #[tokio::test]
    async fn entries_sqs_refuses_are_named_and_the_exit_code_says_so() {
        use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
        use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
        use aws_smithy_mocks::{mock, mock_client};

        let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(|input| {
            let mut output = SendMessageBatchOutput::builder();
            for (i, entry) in input.entries().iter().enumerate() {
                output = if i == 1 {
                    output.failed(
                        BatchResultErrorEntry::builder()
                            .id(entry.id())
                            .code("KmsThrottled")
                            .sender_fault(false)
                            .build()
                            .expect("valid entry"),
                    )
                } else {
                    output.successful(
                        SendMessageBatchResultEntry::builder()
                            .id(entry.id())
                            .message_id("m")
                            .md5_of_message_body("x")
                            .build()
                            .expect("valid entry"),
                    )
                };
            }
            output.build().expect("valid output")
        });
        let sqs = mock_client!(aws_sdk_sqs, [&rule]);
        let dir = std::env::temp_dir().join(format!("jobs-cli-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let lines: Vec<String> = (0..3)
            .map(|i| {
                Envelope::new(Job::Upload(UploadJob::from_bytes(
                    "bucket-1",
                    format!("k{i}"),
                    b"x",
                )))
                .with_id(format!("job-{i}"))
                .to_json()
            })
            .collect();
        let file = dir.join("jobs.jsonl");
        std::fs::write(&file, lines.join("\n")).expect("write");
        let cli = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "--queue-url",
            "http://queue",
            "--json",
            file.to_str().expect("utf-8"),
        ])
        .expect("parses");
        // Only SQS is called; the other clients are never used.
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(producer::aws::https_client())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let code = run(
            cli,
            Clients {
                sqs,
                ..Clients::new(&config)
            },
        )
        .await;
        assert_eq!(code, ExitCode::from(EXIT_SEND_FAILED));
        assert_eq!(rule.num_calls(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
