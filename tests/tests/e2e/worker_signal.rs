//! The worker binary, sent SIGTERM while a batch is in hand, finishes that
//! batch (effects and deletes) and exits 0.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use integration_tests::{LocalAws, eventually, unique_suffix, workspace_binary};
use producer::SendOptions;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy that waits before passing each connection on, so that SES calls
/// through it take a while: long enough to stop the worker in the middle.
async fn slow_proxy(target: SocketAddr, delay: Duration) -> Result<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok((address, accepted))
}

#[tokio::test]
async fn the_worker_finishes_its_batch_on_sigterm_and_exits_0() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("sigterm", 3, 30).await?;
    let marker = unique_suffix();
    let jobs: Vec<_> = (0..5)
        .map(|i| {
            (
                local.text_mail(format!("sigterm {marker} {i}")),
                SendOptions::default(),
            )
        })
        .collect();
    let report = local.queue(&queues.url).enqueue_all(&jobs).await?;
    assert!(report.all_sent());

    let moto: SocketAddr = local
        .env
        .get("MOTO_URL")?
        .trim_start_matches("http://")
        .parse()?;
    let (proxy, accepted) = slow_proxy(moto, Duration::from_millis(1500)).await?;
    let mut worker = tokio::process::Command::new(workspace_binary("worker")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .env("JOBS_DLQ_URL", &queues.dlq_url)
        .env("JOBS_WAIT_SECONDS", "1")
        .env("AWS_ENDPOINT_URL_SESV2", format!("http://{proxy}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = worker.id().context("worker pid")?;

    // A batch is in hand once the first SES call has reached the proxy.
    eventually("the first SES call", Duration::from_secs(60), || async {
        Ok((accepted.load(Ordering::SeqCst) > 0).then_some(()))
    })
    .await?;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(killed.success());

    let status = tokio::time::timeout(Duration::from_secs(60), worker.wait()).await??;
    let mut logs = String::new();
    if let Some(mut stdout) = worker.stdout.take() {
        stdout.read_to_string(&mut logs).await?;
    }
    assert!(
        status.success(),
        "worker exited with {status}; logs:\n{logs}"
    );
    let stop = logs.find("stop requested").context("no stop log")?;
    let done_lines: Vec<usize> = logs
        .match_indices("\"outcome\":\"done\"")
        .map(|(i, _)| i)
        .collect();
    assert!(
        !done_lines.is_empty(),
        "the batch in hand was finished: {logs}"
    );
    assert!(
        done_lines.iter().any(|&i| i > stop),
        "jobs finished after the stop request: {logs}"
    );

    let done = done_lines.len();
    let mails = local.mails_with(&format!("sigterm {marker}"))?;
    assert_eq!(mails.len(), done, "every finished job sent its mail");
    assert_eq!(
        local.queue_depth(&queues.url).await? as usize,
        5 - done,
        "finished jobs were deleted; the rest wait untouched"
    );
    Ok(())
}
