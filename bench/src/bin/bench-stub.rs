//! A stub SQS (JSON protocol) and S3 endpoint that answers at once with canned
//! responses, so that a client's own cost shows. Its `ReceiveMessage` never
//! runs dry: every call gets as many upload jobs as it asks for; except on a
//! queue whose name ends in `-empty`, which never has a message (a receive
//! waits its whole `WaitTimeSeconds`, as SQS's long poll of an empty queue
//! does), and one ending in `-trickle`, which has one message every 20 ms
//! (a receive waits for the next, within its `WaitTimeSeconds`).
//!
//! `bench-stub --port P [--body-bytes B]`; `GET /__stats` counts what it saw.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use md5::{Digest as _, Md5};
use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    received: AtomicU64,
    deleted: AtomicU64,
    /// Deletions on the `-trickle` queue, left out of `deleted`.
    deleted_trickle: AtomicU64,
    put: AtomicU64,
    next_id: AtomicU64,
}

/// The trickle queue's pace.
const TRICKLE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

struct Stub {
    counts: Counts,
    /// When the trickle queue has its next message.
    next_trickle: tokio::sync::Mutex<tokio::time::Instant>,
    body: String,
    body_md5: String,
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

impl Stub {
    fn message(&self) -> Value {
        let n = self.counts.next_id.fetch_add(1, Ordering::Relaxed);
        json!({
            "MessageId": format!("stub-{n}"),
            "ReceiptHandle": format!("receipt-{n}"),
            "MD5OfBody": self.body_md5,
            "Body": self.body,
            "Attributes": {"ApproximateReceiveCount": "1"},
        })
    }

    /// A receive of the `-empty` or `-trickle` queue; `None` for any other.
    async fn scarce_receive(&self, request: &Value) -> Option<Value> {
        let queue = request["QueueUrl"].as_str().unwrap_or_default();
        let wait = std::time::Duration::from_secs(
            request["WaitTimeSeconds"].as_u64().unwrap_or(0).min(20),
        );
        let deadline = tokio::time::Instant::now() + wait;
        if queue.ends_with("-empty") {
            tokio::time::sleep_until(deadline).await;
            return Some(json!({}));
        }
        if !queue.ends_with("-trickle") {
            return None;
        }
        loop {
            let due = {
                let mut next = self.next_trickle.lock().await;
                let now = tokio::time::Instant::now();
                if now >= *next {
                    *next = now + TRICKLE_EVERY;
                    self.counts.received.fetch_add(1, Ordering::Relaxed);
                    return Some(json!({"Messages": [self.message()]}));
                }
                *next
            };
            if due > deadline {
                tokio::time::sleep_until(deadline).await;
                return Some(json!({}));
            }
            tokio::time::sleep_until(due).await;
        }
    }

    async fn sqs(&self, target: &str, request: &Value) -> Value {
        if target == "ReceiveMessage"
            && let Some(answer) = self.scarce_receive(request).await
        {
            return answer;
        }
        match target {
            "SendMessageBatch" => {
                let entries = request["Entries"].as_array().cloned().unwrap_or_default();
                self.counts
                    .sent
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                let successful: Vec<Value> = entries
                    .iter()
                    .map(|entry| {
                        json!({
                            "Id": entry["Id"],
                            "MessageId": uuid::Uuid::new_v4().to_string(),
                            "MD5OfMessageBody": md5_hex(entry["MessageBody"].as_str().unwrap_or_default()),
                        })
                    })
                    .collect();
                json!({"Successful": successful, "Failed": []})
            }
            "SendMessage" => {
                self.counts.sent.fetch_add(1, Ordering::Relaxed);
                json!({
                    "MessageId": uuid::Uuid::new_v4().to_string(),
                    "MD5OfMessageBody": md5_hex(request["MessageBody"].as_str().unwrap_or_default()),
                })
            }
            "ReceiveMessage" => {
                let count = request["MaxNumberOfMessages"]
                    .as_u64()
                    .unwrap_or(1)
                    .clamp(1, 10);
                self.counts.received.fetch_add(count, Ordering::Relaxed);
                let messages: Vec<Value> = (0..count).map(|_| self.message()).collect();
                json!({"Messages": messages})
            }
            "DeleteMessageBatch" => {
                let entries = request["Entries"].as_array().cloned().unwrap_or_default();
                let counter = if request["QueueUrl"]
                    .as_str()
                    .is_some_and(|q| q.ends_with("-trickle"))
                {
                    &self.counts.deleted_trickle
                } else {
                    &self.counts.deleted
                };
                counter.fetch_add(entries.len() as u64, Ordering::Relaxed);
                let successful: Vec<Value> =
                    entries.iter().map(|e| json!({"Id": e["Id"]})).collect();
                json!({"Successful": successful, "Failed": []})
            }
            "DeleteMessage" => {
                self.counts.deleted.fetch_add(1, Ordering::Relaxed);
                json!({})
            }
            "GetQueueAttributes" => json!({"Attributes": {
                "VisibilityTimeout": "60",
                "ApproximateNumberOfMessages": "0",
                "ApproximateNumberOfMessagesNotVisible": "0",
                "ApproximateNumberOfMessagesDelayed": "0",
            }}),
            "GetQueueUrl" => json!({"QueueUrl": format!("http://127.0.0.1/000000000000/{}",
                request["QueueName"].as_str().unwrap_or("bench"))}),
            // ChangeMessageVisibility, PurgeQueue and the rest: nothing to say.
            _ => json!({}),
        }
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .and_then(|t| t.strip_prefix("AmazonSQS."))
            .map(str::to_owned);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let response = Response::builder();
        if let Some(target) = target {
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            let answer = self.sqs(&target, &request).await;
            return response
                .header("content-type", "application/x-amz-json-1.0")
                .body(Full::new(Bytes::from(answer.to_string())))
                .unwrap_or_default();
        }
        if path == "/__stats" {
            let c = &self.counts;
            let stats = json!({
                "sent": c.sent.load(Ordering::Relaxed),
                "received": c.received.load(Ordering::Relaxed),
                "deleted": c.deleted.load(Ordering::Relaxed),
                "deleted_trickle": c.deleted_trickle.load(Ordering::Relaxed),
                "put": c.put.load(Ordering::Relaxed),
            });
            return response
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(stats.to_string())))
                .unwrap_or_default();
        }
        if method == hyper::Method::PUT {
            self.counts.put.fetch_add(1, Ordering::Relaxed);
            return response
                .header("etag", "\"stub\"")
                .body(Full::new(Bytes::new()))
                .unwrap_or_default();
        }
        response.body(Full::new(Bytes::new())).unwrap_or_default()
    }
}

fn flag(args: &[String], name: &str) -> Result<Option<usize>> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let value = args
                .get(i + 1)
                .with_context(|| format!("`{name}` needs a value"))?;
            Ok(Some(value.parse().with_context(|| {
                format!("`{name}`: `{value}` is not a number")
            })?))
        }
        None => Ok(None),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(port) = flag(&args, "--port")? else {
        bail!("usage: bench-stub --port P [--body-bytes B]");
    };
    let body = bench::upload_body(flag(&args, "--body-bytes")?.unwrap_or(1024), "bench/stub");
    let stub = Arc::new(Stub {
        counts: Counts::default(),
        next_trickle: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        body_md5: md5_hex(&body),
        body,
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", u16::try_from(port)?)).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let stub = Arc::clone(&stub);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let stub = Arc::clone(&stub);
                async move { Ok::<_, Infallible>(stub.answer(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
