//! `jobs enqueue`: jobs from arguments or a file, every one checked before the
//! first is sent, then sent concurrently and reported in order.

mod dry_run;
mod envelopes;
mod input;
mod report;
mod routing;
mod staging;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand};
use producer::contract::envelope::{Envelope, UploadSource};
use producer::contract::validate::parse_rfc3339;
use producer::send::payloads::PayloadStore;
use producer::send::queue::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SENDS_IN_FLIGHT, EnqueueError, Queue, SendOptions,
    queue_name_of, schedule,
};

pub use envelopes::{HttpArgs, MailArgs, UploadArgs};
pub use input::{Input, InputError};

use super::output::print_json;
use super::progress::Progress;
use super::{EXIT_INVALID, EXIT_SEND_FAILED, Output};
use dry_run::{dry_run, print_dry_run};
use envelopes::{http_envelope, mail_envelope, upload_envelope};
use input::{check_payload, json_input, payload_schemas};
use report::SendReport;
use routing::{Routing, no_queue};
use staging::stage_upload;

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
    /// Drop the job as `expired` if it has not started within this long (e.g.
    /// `1h`): a code by mail an hour late is worse than none.
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        conflicts_with = "expires_at"
    )]
    pub expires_in: Option<String>,
    /// Drop the job as `expired` if it has not started by this RFC 3339 time.
    #[arg(long, global = true, value_name = "TIME")]
    pub expires_at: Option<String>,
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

/// The time `--at` or `--in` asks for, if either; at most one of them and `--delay`.
fn when(args: &EnqueueArgs) -> Result<Option<SystemTime>, InputError> {
    let given = [args.delay != 0, args.at.is_some(), args.in_.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(InputError(
            "give one of `--delay`, `--at` and `--in`".into(),
        ));
    }
    time_from(
        ("--at", args.at.as_deref()),
        ("--in", args.in_.as_deref()),
        SystemTime::now(),
    )
}

/// The time `--expires-in` or `--expires-at` sets, if either.
fn expiry(args: &EnqueueArgs, now: SystemTime) -> Result<Option<SystemTime>, InputError> {
    time_from(
        ("--expires-at", args.expires_at.as_deref()),
        ("--expires-in", args.expires_in.as_deref()),
        now,
    )
}

/// An RFC 3339 time given to the option `at`, else a duration from `now`
/// given to the option `after`; each refusal names its option.
fn time_from(
    (at_option, at): (&str, Option<&str>),
    (after_option, after): (&str, Option<&str>),
    now: SystemTime,
) -> Result<Option<SystemTime>, InputError> {
    if let Some(at) = at {
        return parse_rfc3339(at).map(Some).ok_or_else(|| {
            InputError(format!(
                "`{at_option}` takes an RFC 3339 time such as `2026-12-01T09:00:00Z`, not `{at}`"
            ))
        });
    }
    if let Some(wait) = after {
        let wait = humantime::parse_duration(wait).map_err(|e| {
            InputError(format!(
                "`{after_option}` takes a duration such as `30m` or `3h`, not `{wait}`: {e}"
            ))
        })?;
        return Ok(Some(now + wait));
    }
    Ok(None)
}

pub(super) async fn enqueue(
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
                let _ = print_json(
                    &serde_json::json!({"sent": 0, "refused": {"message": e.to_string()}}),
                );
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
            let _ = print_json(&serde_json::json!({"sent": 0, "refused": {"message": message}}));
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
            let _ = print_json(&serde_json::json!({
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
    let expires_at = match expiry(&args, now) {
        Ok(expiry) => expiry.map(|at| humantime::format_rfc3339_millis(at).to_string()),
        Err(e) => return refuse(e.0),
    };
    let shape = |mut envelope: Envelope| {
        if let Some(expiry) = &expires_at {
            envelope.expires_at = Some(expiry.clone());
        }
        match at {
            None => (envelope, SendOptions::delayed(args.delay)),
            Some(at) => schedule(&envelope, at, now),
        }
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
    let checking = Progress::count("checking", "jobs");
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
            // The job is on its queue: a closed stdout does not change the exit code.
            let _ = match output {
                Output::Json => print_json(&serde_json::json!({"sent": 1, "jobs": [{
                    "index": 0, "job_id": sent.job_id, "kind": envelope.kind(),
                    "message_id": sent.message_id,
                    "queue": label,
                }]})),
                Output::Text => outln!(
                    "enqueued {} job {} as message {} on {}",
                    envelope.kind(),
                    sent.job_id,
                    sent.message_id,
                    label
                ),
            };
            ExitCode::SUCCESS
        }
        Err(e @ EnqueueError::Invalid { .. }) => refuse_job(e),
        Err(e) => {
            if output == Output::Json {
                let _ = print_json(&serde_json::json!({"sent": 0, "jobs": [{
                    "index": 0, "job_id": envelope.id, "kind": envelope.kind(),
                    "error": {"message": e.to_string()},
                }]}));
            }
            eprintln!("error: job {}: {e}", envelope.id);
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Clients, EXIT_INVALID, EXIT_SEND_FAILED, run};
    use clap::Parser as _;
    use producer::contract::envelope::{Envelope, Job, UploadJob};
    use std::process::ExitCode;

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
