//! The `jobs` CLI refuses bad input before sending anything.

use std::process::Output;

use anyhow::Result;
use integration_tests::{LocalAws, TestQueues, assert_refused, bad_enqueue_inputs, run_jobs};

fn jobs(local: &LocalAws, queues: &TestQueues, args: &[&str]) -> Result<Output> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_jobs(local, &[("JOBS_QUEUE_URL", &queues.url)], &args)
}

#[tokio::test]
async fn bad_input_exits_non_zero_names_the_field_and_sends_nothing() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli", 3, 5).await?;
    let dir = std::env::temp_dir().join(format!("jobs-cli-{}", integration_tests::unique_suffix()));
    for input in bad_enqueue_inputs(&dir, &local.bucket)? {
        let output = run_jobs(&local, &[("JOBS_QUEUE_URL", &queues.url)], &input.args)?;
        assert_refused(&input, &output);
    }
    assert_eq!(
        local.queue_depth(&queues.url).await?,
        0,
        "the queue stays empty"
    );

    // The same queue takes good input, so the emptiness above means something.
    let small = dir.join("small.txt").to_string_lossy().into_owned();
    let jsonl = dir.join("batch.jsonl").to_string_lossy().into_owned();
    let good = producer::Envelope::new(producer::Job::Upload(producer::UploadJob::from_bytes(
        &local.bucket,
        "ok.txt",
        b"ok",
    )));
    let output = jobs(
        &local,
        &queues,
        &["enqueue", "upload", "--key", "ok.txt", "--file", &small],
    )?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("enqueued upload job "));
    let good_lines = format!(
        "{}\n{}\n",
        good.to_json(),
        good.clone().with_id("second").to_json()
    );
    std::fs::write(&jsonl, good_lines)?;
    let output = jobs(&local, &queues, &["enqueue", "--json", &jsonl])?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(local.queue_depth(&queues.url).await?, 3);

    // Three hours ahead: the first leg waits SQS's longest delay, the time travels in the job.
    let output = jobs(
        &local,
        &queues,
        &[
            "enqueue",
            "--in",
            "3h",
            "upload",
            "--key",
            "later.txt",
            "--file",
            &small,
        ],
    )?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let delayed = local
        .queue_attribute(
            &queues.url,
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        )
        .await?;
    assert_eq!(delayed, "1");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// `jobs enqueue --json -` with `lines` on standard input.
fn enqueue_stdin(local: &LocalAws, queues: &TestQueues, lines: &str) -> Result<Output> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(integration_tests::workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .args(["enqueue", "--json", "-", "--sends-in-flight", "4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(lines.as_bytes())?;
    drop(stdin);
    Ok(child.wait_with_output()?)
}

/// `count` mail envelopes as JSON Lines, with ids `{name}-{marker}-{i}` in order.
fn numbered_mails(local: &LocalAws, name: &str, marker: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            local
                .text_mail(format!("{name} {marker} {i}"))
                .with_id(format!("{name}-{marker}-{i}"))
                .to_json()
        })
        .collect()
}

#[tokio::test]
async fn json_lines_on_stdin_are_all_checked_then_sent_concurrently_in_order() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli-stdin", 3, 30).await?;
    let marker = integration_tests::unique_suffix();
    let good = numbered_mails(&local, "stdin", &marker, 95);

    // A bad last line: standard input is read to its end and checked before
    // anything goes out, so nothing is sent.
    let mut bad = good.clone();
    bad.push(good[0].replace("\"to\":[", "\"to\":[\"not an address\","));
    let refused = enqueue_stdin(&local, &queues, &(bad.join("\n") + "\n"))?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("job 95 "), "{stderr}");
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(local.queue_depth(&queues.url).await?, 0);

    // All good: ten calls, four in flight, reported in the order of the input.
    let sent = enqueue_stdin(&local, &queues, &(good.join("\n") + "\n"))?;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let stdout = String::from_utf8_lossy(&sent.stdout);
    let ids: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("enqueued mail job "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    let expected: Vec<String> = (0..95).map(|i| format!("stdin-{marker}-{i}")).collect();
    assert_eq!(ids, expected);
    // Piped, no progress bar: stderr stays empty.
    assert!(
        sent.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(local.queue_depth(&queues.url).await?, 95);
    Ok(())
}

/// Single quotes for `sh -c`: a path or URL taken as one word, whatever it holds.
fn shell_word(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[tokio::test]
async fn a_terminal_sees_the_progress_of_both_passes() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli-tty", 3, 30).await?;
    let marker = integration_tests::unique_suffix();
    let lines = numbered_mails(&local, "tty", &marker, 95);
    let dir = std::env::temp_dir().join(format!("jobs-tty-{marker}"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("jobs.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n")?;

    // `script` (util-linux) runs the command on a pseudo-terminal of its own and
    // copies what the terminal shows, stdout and stderr together, to its stdout.
    let command = [
        shell_word(&integration_tests::workspace_binary("jobs")?.to_string_lossy()),
        "enqueue".into(),
        "--json".into(),
        shell_word(&file.to_string_lossy()),
        "--sends-in-flight".into(),
        "4".into(),
    ]
    .join(" ");
    let shown = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .stdin(std::process::Stdio::null())
        .output()?;
    std::fs::remove_dir_all(&dir).ok();
    let screen = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{screen}");

    // The check's count, then the bar, as indicatif draws them: each line
    // cleared before it is drawn again, and left full.
    assert!(screen.contains("\x1b[2K"), "{screen:?}");
    assert!(screen.contains("checking 95 jobs, "), "{screen:?}");
    let full_bar = format!("sending [{}] 95/95 jobs, ", "#".repeat(30));
    assert!(screen.contains(&full_bar), "{screen:?}");
    // The results are there too, each on a line the bar was taken off.
    let sent = screen
        .matches(&format!("enqueued mail job tty-{marker}-"))
        .count();
    assert_eq!(sent, 95, "{screen:?}");
    assert_eq!(local.queue_depth(&queues.url).await?, 95);
    Ok(())
}
