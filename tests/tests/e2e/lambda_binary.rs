//! The Lambda binary that ships (`handler`), run under a Lambda Runtime API
//! emulator (`cargo lambda watch --only-lambda-apis`) against the local AWS and
//! invoked with every file in `events/`: start-up, configuration from the
//! environment and the response's shape, not only the library function.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use handler::batch::dead_letter_attributes as attr;
use integration_tests::{LocalAws, attribute, repo_root, workspace_binary};
use serde_json::Value;

/// Kills the child when dropped, so a failing test leaves nothing running.
pub(crate) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cargo_lambda() -> PathBuf {
    repo_root().join(".venv/lambda/bin/cargo-lambda")
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16) -> Result<()> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the runtime emulator did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Starts the emulator and the handler binary connected to it.
fn start(local: &LocalAws, port: u16, dlq_url: &str) -> Result<(Running, Running)> {
    start_binary("handler", local, port, dlq_url, &[], Stdio::null())
}

/// Starts the emulator and the Lambda binary `name` connected to it, with
/// `env` on top of the local AWS's settings and its logs to `logs`.
pub(crate) fn start_binary(
    name: &str,
    local: &LocalAws,
    port: u16,
    dlq_url: &str,
    env: &[(&str, &str)],
    logs: Stdio,
) -> Result<(Running, Running)> {
    let emulator = Command::new(cargo_lambda())
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "{} (installed by `make local-install`)",
                cargo_lambda().display()
            )
        })?;
    let emulator = Running(emulator);
    wait_for_port(port)?;
    let function = Command::new(workspace_binary(name)?)
        .envs(local.env.child_env())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("JOBS_DLQ_URL", dlq_url)
        .env_remove("JOBS_MAX_RECEIVE_COUNT")
        .envs(env.iter().copied())
        .stdout(logs)
        .stderr(Stdio::null())
        .spawn()?;
    Ok((emulator, Running(function)))
}

/// Invokes the function with the event in `event` (a path from the repository
/// root, or absolute); returns the `batchItemFailures`.
pub(crate) fn invoke(port: u16, event: &str) -> Result<Vec<String>> {
    let output = Command::new(cargo_lambda())
        .args(["lambda", "invoke", "_", "--invoke-address", "127.0.0.1"])
        .args([
            "--invoke-port",
            &port.to_string(),
            "--output-format",
            "json",
            "--data-file",
            event,
        ])
        .current_dir(repo_root())
        .output()?;
    if !output.status.success() {
        bail!(
            "invoke {event}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let response: Value = serde_json::from_slice(&output.stdout).context("the response is JSON")?;
    let failures = response["batchItemFailures"]
        .as_array()
        .context("batchItemFailures")?;
    Ok(failures
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect())
}

fn expected(name: &str) -> Result<(Vec<String>, BTreeSet<String>)> {
    let path = repo_root().join("events/expected").join(name);
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let failures = value["batchItemFailures"]
        .as_array()
        .context("batchItemFailures")?
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect();
    let dead = value["deadLettered"]
        .as_array()
        .context("deadLettered")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    Ok((failures, dead))
}

fn event_files() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("events"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn the_shipped_binary_answers_every_event_with_its_expected_failures() -> Result<()> {
    let local = LocalAws::connect().await?;
    let files = event_files()?;
    assert!(files.len() >= 3);

    let queues = local.fresh_queues("runtime", 3, 5).await?;
    let port = free_port()?;
    let running = start(&local, port, &queues.dlq_url)?;
    for name in &files {
        let (failures, dead) = expected(name)?;
        let got = invoke(port, &format!("events/{name}"))?;
        assert_eq!(got, failures, "{name}: batchItemFailures");
        let dead_lettered: BTreeSet<String> = local
            .drain(&queues.dlq_url)
            .await?
            .iter()
            .filter_map(|m| attribute(m, attr::SOURCE))
            .map(|source| attr::parse_source(&source).1.to_owned())
            .collect();
        assert_eq!(dead_lettered, dead, "{name}: dead-lettered");
    }
    drop(running);

    // Configured with a dead-letter queue that does not exist, the binary must
    // report the permanent failures back to Lambda rather than drop them.
    let port = free_port()?;
    let _running = start(&local, port, &format!("{}-gone", queues.dlq_url))?;
    for name in &files {
        let (failures, dead) = expected(name)?;
        let got: BTreeSet<String> = invoke(port, &format!("events/{name}"))?
            .into_iter()
            .collect();
        let must_come_back: BTreeSet<String> = dead.into_iter().chain(failures).collect();
        assert_eq!(got, must_come_back, "{name}: without a dead-letter queue");
    }
    Ok(())
}

#[tokio::test]
async fn the_shipped_binary_writes_its_job_metrics_as_embedded_metric_format_lines() -> Result<()> {
    use integration_tests::emf::{extract, is_emf};

    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("emf", 3, 5).await?;
    let log_path = std::env::temp_dir().join(format!(
        "emf-lambda-{}.log",
        integration_tests::unique_suffix()
    ));
    let port = free_port()?;
    let running = start_binary(
        "handler",
        &local,
        port,
        &queues.dlq_url,
        // The ledger off: the event's fixed job id may have run before.
        &[
            ("JOBS_METRICS_NAMESPACE", "JobsTest"),
            ("JOBS_IDEMPOTENCY_TABLE", ""),
        ],
        Stdio::from(std::fs::File::create(&log_path)?),
    )?;
    let failures = invoke(port, "events/mail.json")?;
    drop(running);
    let logs = std::fs::read_to_string(&log_path)?;
    std::fs::remove_file(&log_path).ok();
    assert!(failures.is_empty(), "{failures:?}");

    let lines: Vec<&str> = logs.lines().filter(|line| is_emf(line)).collect();
    assert_eq!(lines.len(), 1, "one line for the one job:\n{logs}");
    let metrics = extract(lines[0])?;
    // events/mail.json names the queue `jobs-local-JobQueue`; its job is done.
    let dimensions = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let by_kind = dimensions(&[
        ("Queue", "jobs-local-JobQueue"),
        ("Kind", "mail"),
        ("Outcome", "done"),
    ]);
    let by_queue = dimensions(&[("Queue", "jobs-local-JobQueue"), ("Outcome", "done")]);
    let find = |name: &str, dims: &std::collections::BTreeMap<String, String>| {
        metrics
            .iter()
            .find(|m| m.name == name && &m.dimensions == dims)
            .cloned()
    };
    let jobs = find("Jobs", &by_kind)
        .with_context(|| format!("Jobs by queue, kind and outcome in {metrics:?}"))?;
    assert_eq!(
        (
            jobs.namespace.as_str(),
            jobs.unit.as_str(),
            jobs.values.as_slice()
        ),
        ("JobsTest", "Count", &[1.0][..])
    );
    let duration = find("Duration", &by_kind).context("Duration")?;
    assert_eq!(duration.unit, "Milliseconds");
    assert!(
        duration.values.len() == 1 && duration.values[0] > 0.0,
        "{duration:?}"
    );
    assert_eq!(
        find("QueueJobs", &by_queue)
            .context("QueueJobs by queue")?
            .values,
        [1.0]
    );
    assert_eq!(metrics.len(), 3, "{metrics:?}");
    // The metrics are a log line of their own, never a field of another line.
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("CloudWatchMetrics"))
            .count(),
        1,
        "{logs}"
    );
    Ok(())
}
