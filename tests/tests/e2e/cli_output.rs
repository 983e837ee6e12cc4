//! What the `jobs` CLI says: AWS failures as one readable line with a hint,
//! each class the local AWS can produce; `--output json` parsed; completions
//! and the manual page.

use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context as _, Result};
use integration_tests::{
    LocalAws, MAIL_ARGS, TestQueues, run_jobs, run_worker_until, unique_suffix, workspace_binary,
};
use serde_json::Value;

fn jobs(local: &LocalAws, queues: &TestQueues, args: &[&str]) -> Result<Output> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_jobs(
        local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_DLQ_URL", &queues.dlq_url),
        ],
        &args,
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Result<Value> {
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "stdout is not one JSON document: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// One line, no Rust debug dump, the class and the hint.
fn assert_readable(output: &Output, class: &str, hint: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    assert!(text.contains(class), "`{class}` in: {text}");
    assert!(text.contains(hint), "`{hint}` in: {text}");
    assert!(
        !text.contains("DispatchFailure") && !text.contains("ConnectorError"),
        "no debug dump: {text}"
    );
}

#[tokio::test]
async fn aws_failures_read_as_one_line_with_what_to_do() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli-errors", 3, 5).await?;
    let mail = [&["enqueue"][..], &MAIL_ARGS].concat();

    // A queue that does not exist.
    let missing_queue = format!("{}-gone", queues.url);
    let mut args = mail.clone();
    args.extend(["--queue-url", &missing_queue]);
    let output = jobs(&local, &queues, &args)?;
    assert_readable(&output, "not found: ", "JOBS_QUEUE_URL");

    // A ledger table that does not exist.
    let table = format!("no-such-table-{}", unique_suffix());
    let output = jobs(&local, &queues, &["cancel", "job-1", "--table", &table])?;
    assert_readable(
        &output,
        "not found: ResourceNotFoundException",
        "JOBS_IDEMPOTENCY_TABLE",
    );

    // Nothing listening at the endpoint.
    let output = Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args([
            "stats",
            "--queue-url",
            &queues.url,
            "--dlq-url",
            &queues.dlq_url,
        ])
        .output()?;
    assert_readable(&output, "endpoint unreachable", "`http://127.0.0.1:9`");

    // No credentials anywhere, instance metadata off: named before any request.
    let home = std::env::temp_dir().join(format!("no-aws-profile-{}", unique_suffix()));
    std::fs::create_dir_all(&home)?;
    let no_credentials = |verbose: bool| -> Result<Output> {
        let mut command = Command::new(workspace_binary("jobs")?);
        command
            .envs(local.env.child_env())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", &home)
            .env("AWS_CONFIG_FILE", home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
            .env("JOBS_QUEUE_URL", &queues.url)
            .args(&mail);
        if verbose {
            command.arg("-v");
        }
        Ok(command.output()?)
    };
    let output = no_credentials(false)?;
    assert_readable(&output, "no credentials", "AWS_ACCESS_KEY_ID");
    let verbose = stderr(&no_credentials(true)?);
    assert!(
        verbose.contains("Attempted"),
        "-v shows the chain: {verbose}"
    );
    std::fs::remove_dir_all(&home).ok();
    assert_eq!(local.queue_depth(&queues.url).await?, 0);
    Ok(())
}

#[tokio::test]
async fn output_json_is_one_document_per_command() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli-json", 3, 5).await?;
    let marker = unique_suffix();

    // enqueue: one result per job.
    let id = format!("json-{marker}");
    let output = jobs(
        &local,
        &queues,
        &[
            "enqueue",
            "--output",
            "json",
            "mail",
            "--id",
            &id,
            "--to",
            "ann@example.com",
            "--subject",
            "hi",
            "--text",
            "x",
        ],
    )?;
    assert!(output.status.success(), "{}", stderr(&output));
    let sent = json(&output)?;
    assert_eq!(sent["sent"], 1);
    assert_eq!(sent["jobs"][0]["job_id"], id.as_str());
    assert_eq!(sent["jobs"][0]["kind"], "mail");
    assert!(
        sent["jobs"][0]["message_id"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    // enqueue refused: the refusal, nothing sent.
    let output = jobs(
        &local,
        &queues,
        &[
            "enqueue",
            "--output",
            "json",
            "mail",
            "--to",
            "not-an-address",
            "--subject",
            "hi",
            "--text",
            "x",
        ],
    )?;
    assert_eq!(output.status.code(), Some(2));
    let refused = json(&output)?;
    assert_eq!(refused["sent"], 0);
    assert_eq!(refused["refused"]["errors"][0]["field"], "job.to[0]");

    // stats
    let output = jobs(&local, &queues, &["stats", "--output", "json"])?;
    assert!(output.status.success(), "{}", stderr(&output));
    let stats = json(&output)?["queues"][0].clone();
    assert_eq!(stats["url"], queues.url.as_str(), "{stats}");
    assert_eq!(stats["queued"], 1, "{stats}");
    assert_eq!(stats["dead"], 0, "{stats}");
    assert!(stats["oldest_age_seconds"].is_null() || stats["oldest_age_seconds"].is_u64());

    // A dead letter to list and show: a date that does not exist.
    local.drain(&queues.url).await?;
    let dead_id = format!("february-30-{marker}");
    let mut envelope = local.text_mail("json dead letter").with_id(&dead_id);
    envelope.created_at = "2026-02-30T00:00:00Z".into();
    local
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(envelope.to_json())
        .send()
        .await?;
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        Duration::from_secs(30),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? == 1).then_some(())) },
    )
    .await?;
    let output = jobs(&local, &queues, &["dlq", "list", "--output", "json"])?;
    let list = json(&output)?;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["dead_letters"][0]["job_id"], dead_id.as_str());
    assert_eq!(list["dead_letters"][0]["error_code"], "invalid_job");
    assert!(
        list["dead_letters"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("`created_at`")),
        "{list}"
    );
    let output = jobs(
        &local,
        &queues,
        &["dlq", "show", &dead_id, "--output", "json"],
    )?;
    let shown = json(&output)?;
    assert_eq!(
        shown["body"]["created_at"], "2026-02-30T00:00:00Z",
        "{shown}"
    );

    // cancel
    let table = local.env.get("JOBS_IDEMPOTENCY_TABLE")?.to_owned();
    let cancel_id = format!("cancel-{marker}");
    let output = jobs(
        &local,
        &queues,
        &["cancel", &cancel_id, "--table", &table, "--output", "json"],
    )?;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        json(&output)?,
        serde_json::json!({"job_id": cancel_id, "cancelled": "now"})
    );
    Ok(())
}

#[test]
fn completions_and_the_manual_page_are_generated() -> Result<()> {
    let jobs = workspace_binary("jobs")?;
    for (shell, marker) in [
        ("bash", "_jobs()"),
        ("zsh", "#compdef jobs"),
        ("fish", "complete -c jobs"),
    ] {
        let output = Command::new(&jobs).args(["completions", shell]).output()?;
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{shell}");
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("enqueue") && script.contains("doctor"),
            "{shell}"
        );
    }
    let output = Command::new(&jobs).arg("man").output()?;
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH jobs"),
        "{page}"
    );
    assert!(page.contains("enqueue"), "{page}");
    Ok(())
}

#[tokio::test]
async fn jobs_doctor_passes_the_local_stack_and_names_what_is_broken() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli-doctor", 3, 30).await?;
    // The fresh queue's visibility timeout is 30 s: six times 5 s.
    let output = jobs(
        &local,
        &queues,
        &["doctor", "--function-timeout", "5", "--output", "json"],
    )?;
    let report = json(&output)?;
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert_eq!(report["healthy"], true, "{report}");
    let statuses: Vec<&str> = report["checks"]
        .as_array()
        .context("checks")?
        .iter()
        .filter_map(|c| c["status"].as_str())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == "ok" || *s == "unchecked"),
        "{report}"
    );
    assert!(
        statuses.iter().filter(|s| **s == "ok").count() >= 8,
        "{report}"
    );

    local
        .sqs
        .delete_queue()
        .queue_url(&queues.dlq_url)
        .send()
        .await?;
    let missing_table = format!("no-such-ledger-{}", unique_suffix());
    let output = jobs(
        &local,
        &queues,
        &[
            "doctor",
            "--function-timeout",
            "5",
            "--table",
            &missing_table,
        ],
    )?;
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(problems.len(), 2, "{text}");
    assert!(
        problems.iter().any(|l| l.contains("dead-letter queue")),
        "{text}"
    );
    assert!(
        problems.iter().any(|l| l.contains("ledger table")),
        "{text}"
    );
    assert!(
        text.matches("fix:").count() >= 2,
        "each problem has its fix: {text}"
    );
    Ok(())
}

/// What `jobs ARGS | head -n LINES` leaves: the command's exit status and
/// stderr, once the test has read `lines` lines of its stdout and closed it.
/// The output must go on for more than a pipe holds (64 KiB), so that the
/// command is still writing when the pipe closes; with `lines` 0 the pipe is
/// closed before the command has written anything.
fn jobs_into_closed_pipe(
    local: &LocalAws,
    env: &[(&str, &str)],
    args: &[&str],
    lines: usize,
) -> Result<(std::process::ExitStatus, Vec<String>, String)> {
    use std::io::BufRead as _;

    let mut child = Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let read: Vec<String> = std::io::BufReader::new(stdout)
        .lines()
        .take(lines)
        .collect::<Result<_, _>>()?;
    // The reader is dropped here: the pipe has no reader left.
    let output = child.wait_with_output()?;
    Ok((output.status, read, stderr(&output)))
}

/// A command whose reader went away ends quietly: exit 0, nothing on stderr
/// (no panic, no backtrace), as `cargo` and `rg` end.
fn assert_ends_quietly(what: &str, status: std::process::ExitStatus, stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: {stderr}"
    );
    assert_eq!(status.code(), Some(0), "{what}: {stderr}");
}

#[tokio::test]
async fn a_reader_that_closes_the_pipe_ends_each_command_quietly() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli-pipe", 3, 30).await?;
    let marker = unique_suffix();
    let env = [
        ("JOBS_QUEUE_URL", queues.url.as_str()),
        ("JOBS_DLQ_URL", queues.dlq_url.as_str()),
    ];

    // Dead letters as anyone with `SendMessage` on the dead-letter queue can
    // write them: 40 with a 2,000-character reason (80 KB of `dlq list`), and
    // one whose body is a 100 KB mail (over 100 KB of `dlq show`).
    let reason = "r".repeat(2_000);
    for batch in 0..4 {
        let mut send = local.sqs.send_message_batch().queue_url(&queues.dlq_url);
        for i in 0..10 {
            send = send.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("e{i}"))
                    .message_body(format!("not json {batch}-{i}"))
                    .message_attributes(
                        "jobs.error.message",
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(&reason)
                            .build()?,
                    )
                    .build()?,
            );
        }
        send.send().await?;
    }
    let big_id = format!("pipe-{marker}");
    let mut big = local.text_mail("a long mail").with_id(&big_id);
    if let producer::Job::Mail(mail) = &mut big.job {
        mail.text = Some("line of a long mail\n".repeat(5_000));
    }
    local
        .sqs
        .send_message()
        .queue_url(&queues.dlq_url)
        .message_body(big.to_json())
        .send()
        .await?;

    let (status, read, stderr) = jobs_into_closed_pipe(&local, &env, &["dlq", "list"], 1)?;
    assert!(read[0].ends_with(": 41 dead letters"), "{read:?}");
    assert_ends_quietly("dlq list", status, &stderr);

    let (status, read, stderr) = jobs_into_closed_pipe(&local, &env, &["dlq", "show", &big_id], 1)?;
    assert_eq!(read, [format!("job id:      {big_id}")]);
    assert_ends_quietly("dlq show", status, &stderr);

    // A row or two: the pipe is closed before the command writes.
    let (status, read, stderr) = jobs_into_closed_pipe(&local, &env, &["stats"], 0)?;
    assert!(read.is_empty());
    assert_ends_quietly("stats", status, &stderr);

    // 20 schedules of a group of the test's own, 100 next runs each (some 110 KB).
    let group = format!("pipe-{}", marker.to_lowercase());
    aws_sdk_scheduler::Client::new(&local.config)
        .create_schedule_group()
        .name(&group)
        .send()
        .await?;
    let queue_arn = local
        .queue_attribute(
            &queues.url,
            aws_sdk_sqs::types::QueueAttributeName::QueueArn,
        )
        .await?;
    for i in 0..20 {
        let (name, expression) = (format!("hourly-{i:02}"), format!("cron({i} * * * ? *)"));
        local
            .create_schedule(&group, &name, &expression, None, &queue_arn, "{}")
            .await?;
    }
    let (status, read, stderr) = jobs_into_closed_pipe(
        &local,
        &env,
        &["schedules", "--group", &group, "--next", "100"],
        1,
    )?;
    assert_eq!(read, ["hourly-00  ENABLED  cron(0 * * * ? *) in UTC"]);
    assert_ends_quietly("schedules", status, &stderr);

    // Nothing of AWS: the completion script to a reader that is gone.
    let (status, _, stderr) = jobs_into_closed_pipe(&local, &[], &["completions", "bash"], 0)?;
    assert_ends_quietly("completions", status, &stderr);
    Ok(())
}
