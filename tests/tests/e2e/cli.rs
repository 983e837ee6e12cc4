//! The `jobs` CLI refuses bad input before sending anything.

use std::process::Output;

use anyhow::Result;
use integration_tests::{LocalAws, TestQueues, workspace_binary};

fn jobs(local: &LocalAws, queues: &TestQueues, args: &[&str]) -> Result<Output> {
    Ok(std::process::Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .args(args)
        .output()?)
}

#[tokio::test]
async fn bad_input_exits_non_zero_names_the_field_and_sends_nothing() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("cli", 3, 5).await?;
    let dir = std::env::temp_dir().join(format!("jobs-cli-{}", integration_tests::unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let small = dir.join("small.txt");
    std::fs::write(&small, b"hello")?;
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![b'x'; 800 * 1024])?;
    let jsonl = dir.join("batch.jsonl");
    let good = producer::Envelope::new(producer::Job::Upload(producer::UploadJob::from_bytes(
        &local.bucket,
        "ok.txt",
        b"ok",
    )));
    let mut bad = good.clone().with_id("bad-key");
    if let producer::Job::Upload(u) = &mut bad.job {
        u.key = "a/../b".into();
    }
    std::fs::write(
        &jsonl,
        format!(
            "{}\n{}\n{}\n",
            good.to_json(),
            good.clone().with_id("second").to_json(),
            bad.to_json()
        ),
    )?;

    let many_to: Vec<String> = (0..51)
        .map(|i| format!("--to=user{i}@example.com"))
        .collect();
    let mut fifty_one = vec!["enqueue", "mail", "--subject", "hi", "--text", "x"];
    fifty_one.extend(many_to.iter().map(String::as_str));
    let small = small.to_string_lossy().into_owned();
    let big = big.to_string_lossy().into_owned();
    let jsonl = jsonl.to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "enqueue",
                "mail",
                "--to",
                "ann@example.com",
                "--subject",
                "hi\r\nBcc: all@example.com",
                "--text",
                "x",
            ],
            "job.subject",
        ),
        (fifty_one, "job.to"),
        (
            vec![
                "enqueue",
                "upload",
                "--key",
                "../secret.txt",
                "--file",
                &small,
            ],
            "job.key",
        ),
        (
            vec![
                "enqueue",
                "--delay",
                "901",
                "mail",
                "--to",
                "ann@example.com",
                "--subject",
                "hi",
                "--text",
                "x",
            ],
            "delay_seconds",
        ),
        (
            vec![
                "enqueue",
                "upload",
                "--key",
                "big.bin",
                "--file",
                &big,
                "--max-message-bytes",
                "262144",
            ],
            "job.body_base64",
        ),
        (vec!["enqueue", "--json", &jsonl], "job.key"),
        (
            vec![
                "enqueue",
                "mail",
                "--to",
                "not-an-address",
                "--subject",
                "hi",
                "--text",
                "x",
            ],
            "job.to[0]",
        ),
    ];
    for (args, field) in &cases {
        let output = jobs(&local, &queues, args)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("`{field}`")),
            "{args:?} should name `{field}`: {stderr}"
        );
        assert!(stderr.contains("nothing was sent"), "{stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        local.queue_depth(&queues.url).await?,
        0,
        "the queue stays empty"
    );

    // The same queue takes good input, so the emptiness above means something.
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
