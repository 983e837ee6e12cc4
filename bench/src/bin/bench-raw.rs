//! The limits `make bench` compares with: the plainest loops the AWS SDK for
//! Rust allows, with none of the runner's checks, reports or heartbeats.
//!
//! `bench-raw send --queue-url U --file F --concurrency S`: each line of F as a
//! message body, ten per `SendMessageBatch`, S calls in flight.
//! `bench-raw drain --queue-url U --jobs N --concurrency C`: receive, decode the
//! upload, `PutObject`, delete; C jobs in flight; stops after N jobs.
//! Each prints `{"jobs": n, "seconds": s}`.

use std::io::BufRead as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use base64::Engine as _;
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};

fn value<'a>(args: &'a [String], name: &str) -> Result<&'a str> {
    let i = args
        .iter()
        .position(|a| a == name)
        .with_context(|| format!("`{name}` is required"))?;
    args.get(i + 1)
        .map(String::as_str)
        .with_context(|| format!("`{name}` needs a value"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = producer::aws::load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = value(&args, "--queue-url")?.to_owned();
    let concurrency: usize = value(&args, "--concurrency")?.parse()?;
    let started = Instant::now();
    let jobs = match args.first().map(String::as_str) {
        Some("send") => send(&sqs, &queue_url, value(&args, "--file")?, concurrency).await?,
        Some("drain") => {
            let s3 = producer::aws::s3_client(&config);
            let jobs = value(&args, "--jobs")?.parse()?;
            drain(&sqs, &s3, &queue_url, jobs, concurrency).await?
        }
        _ => bail!("usage: bench-raw send|drain --queue-url U …"),
    };
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", serde_json::json!({"jobs": jobs, "seconds": seconds}));
    Ok(())
}

async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    file: &str,
    concurrency: usize,
) -> Result<usize> {
    let reader = std::io::BufReader::new(std::fs::File::open(file)?);
    let mut lines = reader
        .lines()
        .filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty()));
    let batches = std::iter::from_fn(move || {
        let batch: Vec<String> = lines.by_ref().take(10).map_while(Result::ok).collect();
        (!batch.is_empty()).then_some(batch)
    });
    let mut calls = futures::stream::iter(batches)
        .map(|batch| async move {
            let count = batch.len();
            let entries = batch
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await?;
            ensure!(
                output.failed.is_empty(),
                "sqs refused {} entries",
                output.failed.len()
            );
            anyhow::Ok(count)
        })
        .buffer_unordered(concurrency.max(1));
    let mut sent = 0;
    while let Some(count) = calls.next().await {
        sent += count?;
    }
    Ok(sent)
}

async fn drain(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    queue_url: &str,
    jobs: usize,
    concurrency: usize,
) -> Result<usize> {
    let done = Arc::new(AtomicUsize::new(0));
    let loops = concurrency.div_ceil(10).max(1);
    let per_receive = concurrency.div_ceil(loops).min(10) as i32;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..loops {
        let (sqs, s3, queue_url, done) = (
            sqs.clone(),
            s3.clone(),
            queue_url.to_owned(),
            Arc::clone(&done),
        );
        tasks.spawn(async move {
            while done.load(Ordering::Relaxed) < jobs {
                let received = sqs
                    .receive_message()
                    .queue_url(&queue_url)
                    .max_number_of_messages(per_receive)
                    .wait_time_seconds(1)
                    .send()
                    .await?;
                let messages = received.messages.unwrap_or_default();
                let puts = messages
                    .iter()
                    .map(|m| put(&s3, m.body().unwrap_or_default()));
                for put in futures::future::join_all(puts).await {
                    put?;
                }
                let entries = messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if !entries.is_empty() {
                    sqs.delete_message_batch()
                        .queue_url(&queue_url)
                        .set_entries(Some(entries))
                        .send()
                        .await?;
                }
                done.fetch_add(messages.len(), Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(finished) = tasks.join_next().await {
        finished??;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// The upload job's work: decode, check the digest, `PutObject` with it.
async fn put(s3: &aws_sdk_s3::Client, body: &str) -> Result<()> {
    let envelope: serde_json::Value = serde_json::from_str(body)?;
    let job = &envelope["job"];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(job["body_base64"].as_str().context("no body_base64")?)?;
    let digest = Sha256::digest(&bytes);
    ensure!(
        hex::encode(digest) == job["sha256"].as_str().unwrap_or_default(),
        "sha256 differs"
    );
    s3.put_object()
        .bucket(job["bucket"].as_str().context("no bucket")?)
        .key(job["key"].as_str().context("no key")?)
        .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest))
        .body(bytes.into())
        .send()
        .await?;
    Ok(())
}
