//! Jobs larger than a message, through S3 in the SQS Extended Client's format:
//! a 5 MiB upload job stored, run and cleaned up; a pointer to a missing
//! envelope dead-lettered with its reason, the pointer and its size kept;
//! without the ledger, a stored job delivered twice runs twice, its envelope
//! kept for the second delivery; dead letters shown, redriven, deleted and
//! purged with their envelopes. And uploads of any size: files staged in the
//! payload bucket and copied server-side, their CRC64NVME checked by S3.

use std::time::Duration;

use anyhow::{Context as _, Result};
use handler::batch::dead_letter_attributes as attr;
use integration_tests::{LocalAws, attribute, run_worker_until, unique_suffix};
use producer::contract::pointer::{PAYLOAD_SIZE, PayloadPointer};
use producer::send::payloads::{PAYLOAD_PREFIX, PayloadStore};
use producer::{Envelope, Job, SendOptions, UploadJob};
use sha2::{Digest as _, Sha256};

const WAIT: Duration = Duration::from_secs(90);

/// A bucket of its own for one test's stored envelopes.
async fn payload_bucket(local: &LocalAws) -> Result<String> {
    let bucket = format!("payloads-{}", unique_suffix()).to_lowercase();
    local
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .context("create the payload bucket")?;
    Ok(bucket)
}

/// One message of the queue, with its attributes, left hidden for 30 s.
async fn receive_one(local: &LocalAws, url: &str) -> Result<aws_sdk_sqs::types::Message> {
    let output = local
        .sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(5)
        .message_attribute_names("All")
        .send()
        .await?;
    output
        .messages
        .unwrap_or_default()
        .into_iter()
        .next()
        .context("a message on the queue")
}

/// Makes a message read by the test visible again at once, for the worker.
async fn release(local: &LocalAws, url: &str, message: &aws_sdk_sqs::types::Message) -> Result<()> {
    local
        .sqs
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().unwrap_or_default())
        .visibility_timeout(0)
        .send()
        .await?;
    Ok(())
}

/// Runs the worker, with the ledger on, until the queue is empty and `key`
/// is in the test bucket.
async fn run_until_uploaded(
    local: &LocalAws,
    queues: &integration_tests::TestQueues,
    payloads: &str,
    key: &str,
) -> Result<handler::worker::WorkerStats> {
    let handler = local
        .handler_for_payloads(&queues.dlq_url, payloads)
        .with_ledger(local.ledger(Duration::from_secs(60))?);
    run_worker_until(handler, local, &queues.url, WAIT, || async {
        Ok(
            (local.queue_depth(&queues.url).await? == 0 && local.object_exists(key).await?)
                .then_some(()),
        )
    })
    .await
}

/// Fails with `why` unless nothing is left under `payloads/` in the bucket.
async fn nothing_stored(local: &LocalAws, bucket: &str, why: &str) -> Result<()> {
    let left = stored_keys(local, bucket).await?;
    anyhow::ensure!(left.is_empty(), "{why}: {left:?}");
    Ok(())
}

async fn stored_keys(local: &LocalAws, bucket: &str) -> Result<Vec<String>> {
    let listed = local
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(PAYLOAD_PREFIX)
        .send()
        .await?;
    Ok(listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn a_5_mib_upload_goes_through_s3_takes_effect_and_leaves_nothing_stored() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let bytes: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let key = format!("large/{}.bin", unique_suffix());
    let envelope = Envelope::new(Job::Upload(UploadJob::from_bytes(
        &local.bucket,
        &key,
        &bytes,
    )));
    let store = PayloadStore::new(local.s3.clone(), &payloads);
    local
        .queue(&queues.url)
        .with_payloads(Some(store))
        .enqueue(&envelope, SendOptions::default())
        .await?;

    // What went on the queue is a pointer of the Extended Client's format.
    let message = &receive_one(&local, &queues.url).await?;
    let pointer = PayloadPointer::from_body(message.body().unwrap_or_default())
        .context("the body is a pointer")?;
    assert_eq!(pointer.bucket, payloads);
    let envelope_len = envelope.to_json().len();
    assert_eq!(
        attribute(message, PAYLOAD_SIZE),
        Some(envelope_len.to_string())
    );
    assert_eq!(
        attribute(message, attr::JOB_ID),
        Some(envelope.id.clone()),
        "the job id travels beside the pointer"
    );
    release(&local, &queues.url, message).await?;

    let stats = run_until_uploaded(&local, &queues, &payloads, &key).await?;
    assert_eq!((stats.done, stats.dead_lettered), (1, 0), "{stats:?}");
    let uploaded = local
        .s3
        .get_object()
        .bucket(&local.bucket)
        .key(&key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    assert_eq!(
        hex::encode(Sha256::digest(&uploaded)),
        hex::encode(Sha256::digest(&bytes)),
        "the uploaded bytes are the job's"
    );
    nothing_stored(&local, &payloads, "the settled job's envelope was deleted").await?;
    Ok(())
}

#[tokio::test]
async fn a_pointer_to_a_missing_envelope_is_dead_lettered_with_its_reason() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-missing", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let pointer = PayloadPointer::new(
        &payloads,
        format!("{PAYLOAD_PREFIX}gone/{}", unique_suffix()),
    );
    local
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(pointer.to_body())
        .message_attributes(
            PAYLOAD_SIZE,
            producer::send::queue::number_attribute(2_000_000),
        )
        .send()
        .await?;
    let handler = local.handler_for_payloads(&queues.dlq_url, &payloads);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? >= 1).then_some(()))
    })
    .await?;
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
    let letters = local.drain(&queues.dlq_url).await?;
    let letter = letters.first().context("the dead letter")?;
    assert_eq!(
        letter.body(),
        Some(pointer.to_body().as_str()),
        "the pointer is kept"
    );
    assert_eq!(attribute(letter, PAYLOAD_SIZE).as_deref(), Some("2000000"));
    assert_eq!(
        attribute(letter, attr::ERROR_CODE).as_deref(),
        Some("payload_missing")
    );
    let reason = attribute(letter, attr::ERROR_MESSAGE).unwrap_or_default();
    assert!(reason.contains(&pointer.url()), "{reason}");
    assert_eq!(
        attribute(letter, attr::ERROR_CLASS).as_deref(),
        Some("permanent")
    );
    Ok(())
}

#[tokio::test]
async fn without_the_ledger_a_stored_job_delivered_twice_runs_twice() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-twice", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let marker = unique_suffix();
    let envelope = local.text_mail(format!("twice through s3 {marker}"));
    // Every envelope through S3, whatever its size.
    let store = PayloadStore::new(local.s3.clone(), &payloads).always(true);
    local
        .queue(&queues.url)
        .with_payloads(Some(store))
        .enqueue(&envelope, SendOptions::default())
        .await?;
    // SQS delivers a message at least once: the same message again.
    let message = &receive_one(&local, &queues.url).await?;
    let mut again = local
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(message.body().unwrap_or_default());
    for name in [PAYLOAD_SIZE, attr::JOB_ID, attr::JOB_KIND] {
        if let Some(value) = message.message_attributes().and_then(|a| a.get(name)) {
            again = again.message_attributes(name, value.clone());
        }
    }
    again.send().await?;
    release(&local, &queues.url, message).await?;

    let handler = local.handler_for_payloads(&queues.dlq_url, &payloads);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok(
            (local.queue_depth(&queues.url).await? == 0 && local.mails_with(&marker)?.len() == 2)
                .then_some(()),
        )
    })
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (2, 0), "{stats:?}");
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert_eq!(
        stored_keys(&local, &payloads).await?.len(),
        1,
        "without the ledger the envelope waits for the lifecycle rule"
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_sends_large_jobs_through_s3_beside_small_ones() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-batch", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let suffix = unique_suffix();
    let sizes = [1_500_000usize, 1_024, 1_200_000];
    let jobs: Vec<(Envelope, SendOptions)> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            let bytes = vec![i as u8; *size];
            let key = format!("large-batch/{suffix}/{i}.bin");
            let job = Job::Upload(UploadJob::from_bytes(&local.bucket, key, &bytes));
            (Envelope::new(job), SendOptions::default())
        })
        .collect();
    let report = local
        .queue(&queues.url)
        .with_payloads(Some(PayloadStore::new(local.s3.clone(), &payloads)))
        .enqueue_all(&jobs)
        .await?;
    assert!(report.all_sent(), "{report:?}");
    assert_eq!(
        stored_keys(&local, &payloads).await?.len(),
        2,
        "the two jobs over the limit were stored, the small one was not"
    );
    let handler = local
        .handler_for_payloads(&queues.dlq_url, &payloads)
        .with_ledger(local.ledger(Duration::from_secs(60))?);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (3, 0), "{stats:?}");
    for i in 0..sizes.len() {
        assert!(
            local
                .object_exists(&format!("large-batch/{suffix}/{i}.bin"))
                .await?,
            "upload {i}"
        );
    }
    assert!(stored_keys(&local, &payloads).await?.is_empty());
    Ok(())
}

/// AWS's Python SQS Extended Client (`amazon-sqs-extended-client` from PyPI,
/// in the local stack's tools): `send` puts stdin's `body` on `queue_url`
/// through S3 (always, under `payloads/`), `receive` prints the body it reads from `queue_url`.
const EXTENDED_CLIENT: &str = r#"
import json, os, sys, uuid
from botocore.config import Config
from sqs_extended_client import SQSExtendedClientSession
r = json.load(sys.stdin)
session = SQSExtendedClientSession(region_name=os.environ.get("AWS_REGION", "us-east-1"))
endpoint = os.environ["AWS_ENDPOINT_URL"]
sqs = session.client("sqs", endpoint_url=endpoint)
sqs.s3_client = session.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
sqs.large_payload_support = r["bucket"]
sqs.always_through_s3 = True
if sys.argv[1] == "send":
    # Under the payload bucket's `payloads/`, the one place the handler
    # follows a pointer into (the library's `S3Key` attribute names the key).
    key = {"DataType": "String", "StringValue": "payloads/python/" + str(uuid.uuid4())}
    sqs.send_message(QueueUrl=r["queue_url"], MessageBody=r["body"], MessageAttributes={"S3Key": key})
else:
    got = sqs.receive_message(QueueUrl=r["queue_url"], MessageAttributeNames=["All"], WaitTimeSeconds=5)
    print(got["Messages"][0]["Body"])
"#;

fn extended_client(local: &LocalAws, mode: &str, input: &serde_json::Value) -> Result<String> {
    let python = integration_tests::repo_root().join(".venv/tools/bin/python");
    let mut child = std::process::Command::new(&python)
        .args(["-c", EXTENDED_CLIENT, mode])
        .envs(local.env.child_env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("run {}", python.display()))?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().context("stdin")?;
        stdin.write_all(input.to_string().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "the Python Extended Client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim_end().to_owned())
}

#[tokio::test]
async fn the_python_extended_client_and_this_crate_read_each_others_messages() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-python", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;

    // Written by the Python library, run by our handler: a pointer with no
    // `jobs.id`, whose body is fetched first.
    let marker = unique_suffix();
    let from_python = local.text_mail(format!("from python {marker}"));
    extended_client(
        &local,
        "send",
        &serde_json::json!({"queue_url": queues.url, "bucket": payloads, "body": from_python.to_json()}),
    )?;
    let handler = local.handler_for_payloads(&queues.dlq_url, &payloads);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok(
            (local.queue_depth(&queues.url).await? == 0 && !local.mails_with(&marker)?.is_empty())
                .then_some(()),
        )
    })
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (1, 0), "{stats:?}");

    // Written by this crate, read by the Python library: the envelope whole.
    // On a queue of its own, which no stopping worker's last poll can reach.
    let queues = local.fresh_queues("large-python-read", 3, 30).await?;
    let ours = local.text_mail(format!("from rust {}", unique_suffix()));
    local
        .queue(&queues.url)
        .with_payloads(Some(
            PayloadStore::new(local.s3.clone(), &payloads).always(true),
        ))
        .enqueue(&ours, SendOptions::default())
        .await?;
    let read = extended_client(
        &local,
        "receive",
        &serde_json::json!({"queue_url": queues.url, "bucket": payloads}),
    )?;
    assert_eq!(read, ours.to_json());
    Ok(())
}

/// The mock test in `producer/src/send/queue.rs` shows the delete is made;
/// here S3 and SQS are LocalStack's: the envelope is stored, SQS refuses the
/// message (its queue does not exist), and nothing is left in the bucket.
#[tokio::test]
async fn a_message_sqs_refuses_leaves_no_stored_envelope() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-refused", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let missing_queue = format!("{}-never-made", queues.url);
    let sent = local
        .queue(&missing_queue)
        .with_payloads(Some(
            PayloadStore::new(local.s3.clone(), &payloads).always(true),
        ))
        .enqueue(&local.text_mail("refused"), SendOptions::default())
        .await;
    assert!(
        matches!(sent, Err(producer::EnqueueError::Send { .. })),
        "{sent:?}"
    );
    nothing_stored(
        &local,
        &payloads,
        "the refused message's envelope was deleted",
    )
    .await?;
    Ok(())
}

/// With the ledger on, a settled job's envelope is deleted; a redelivery of
/// its message (same pointer, same `jobs.id`) is then a duplicate found in the
/// ledger, not a missing body.
#[tokio::test]
async fn a_redelivered_pointer_of_a_finished_job_is_a_duplicate_without_its_body() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-again", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let marker = unique_suffix();
    let envelope = local.text_mail(format!("once through s3 {marker}"));
    local
        .queue(&queues.url)
        .with_payloads(Some(
            PayloadStore::new(local.s3.clone(), &payloads).always(true),
        ))
        .enqueue(&envelope, SendOptions::default())
        .await?;
    let message = receive_one(&local, &queues.url).await?;
    let ledger = local.ledger(Duration::from_secs(60))?;
    let handler = local
        .handler_for_payloads(&queues.dlq_url, &payloads)
        .with_ledger(ledger.clone());
    release(&local, &queues.url, &message).await?;
    let first = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok(
            (local.queue_depth(&queues.url).await? == 0 && local.mails_with(&marker)?.len() == 1)
                .then_some(()),
        )
    })
    .await?;
    assert_eq!(first.done, 1, "{first:?}");
    assert!(
        stored_keys(&local, &payloads).await?.is_empty(),
        "deleted once done"
    );

    let mut again = local
        .sqs
        .send_message()
        .queue_url(&queues.url)
        .message_body(message.body().unwrap_or_default());
    for (name, value) in message.message_attributes().into_iter().flatten() {
        again = again.message_attributes(name, value.clone());
    }
    again.send().await?;
    let handler = local
        .handler_for_payloads(&queues.dlq_url, &payloads)
        .with_ledger(ledger);
    let second = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(
        (second.duplicates, second.dead_lettered),
        (1, 0),
        "{second:?}"
    );
    assert_eq!(local.mails_with(&marker)?.len(), 1, "one mail");
    Ok(())
}

/// The `jobs` CLI against the test's queues, with JSON output.
fn jobs_json(
    local: &LocalAws,
    queues: &integration_tests::TestQueues,
    payloads: &str,
    args: &[&str],
) -> Result<serde_json::Value> {
    let mut all = vec!["--output".to_owned(), "json".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let output = integration_tests::run_jobs(
        local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_DLQ_URL", &queues.dlq_url),
            ("JOBS_PAYLOAD_BUCKET", payloads),
        ],
        &all,
    )?;
    anyhow::ensure!(
        output.status.success(),
        "jobs {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("the CLI's JSON")
}

#[tokio::test]
async fn a_dead_lettered_large_job_keeps_its_body_and_runs_after_a_redrive() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-redrive", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    // The job's bucket does not exist yet, so the upload fails for good.
    let target = format!("later-{}", unique_suffix()).to_lowercase();
    let bytes: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let key = format!("redriven/{}.bin", unique_suffix());
    let envelope = Envelope::new(Job::Upload(UploadJob::from_bytes(&target, &key, &bytes)));
    local
        .queue(&queues.url)
        .with_payloads(Some(PayloadStore::new(local.s3.clone(), &payloads)))
        .enqueue(&envelope, SendOptions::default())
        .await?;
    let ledger = local.ledger(Duration::from_secs(60))?;
    let handler = local
        .handler_for_payloads(&queues.dlq_url, &payloads)
        .with_ledger(ledger.clone());
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? >= 1).then_some(()))
    })
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (0, 1), "{stats:?}");
    let kept = stored_keys(&local, &payloads).await?;
    assert_eq!(kept.len(), 1, "the dead letter keeps its envelope");

    // `jobs dlq show` reads the envelope the pointer names.
    let shown = jobs_json(&local, &queues, &payloads, &["dlq", "show", &envelope.id])?;
    assert_eq!(shown["body"]["id"], envelope.id.as_str(), "{shown}");
    assert_eq!(shown["body"]["job"]["key"], key.as_str(), "{shown}");
    assert_eq!(
        shown["stored_at"],
        format!("s3://{payloads}/{}", kept[0]).as_str(),
        "{shown}"
    );

    local
        .s3
        .create_bucket()
        .bucket(&target)
        .send()
        .await
        .context("create the job's bucket")?;
    let output = integration_tests::run_jobs(
        &local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_DLQ_URL", &queues.dlq_url),
            ("JOBS_PAYLOAD_BUCKET", &payloads),
        ],
        &[
            "dlq".into(),
            "redrive".into(),
            "--id".into(),
            envelope.id.clone(),
        ],
    )?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Sent back as it was: the pointer, with its size beside it.
    let message = &receive_one(&local, &queues.url).await?;
    assert!(PayloadPointer::from_body(message.body().unwrap_or_default()).is_some());
    assert_eq!(
        attribute(message, PAYLOAD_SIZE),
        Some(envelope.to_json().len().to_string())
    );
    release(&local, &queues.url, message).await?;

    let handler = local
        .handler_for_payloads(&queues.dlq_url, &payloads)
        .with_ledger(ledger);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.url).await? == 0
            && local.object_exists_in(&target, &key).await?)
            .then_some(()))
    })
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (1, 0), "{stats:?}");
    let uploaded = local
        .s3
        .get_object()
        .bucket(&target)
        .key(&key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    assert!(
        uploaded.as_ref() == bytes.as_slice(),
        "the redriven job's bytes"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    nothing_stored(
        &local,
        &payloads,
        "settled after the redrive, its envelope is deleted",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn deleting_or_purging_stored_dead_letters_deletes_their_envelopes() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-purge", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    // Three stored jobs straight into the dead-letter queue, and a small one
    // carried inline.
    let dead = local.queue(&queues.dlq_url).with_payloads(Some(
        PayloadStore::new(local.s3.clone(), &payloads).always(true),
    ));
    let mut ids = Vec::new();
    for n in 0..3 {
        let envelope = local.text_mail(format!("dead and stored {n}"));
        dead.enqueue(&envelope, SendOptions::default()).await?;
        ids.push(envelope.id);
    }
    local
        .queue(&queues.dlq_url)
        .enqueue(&local.text_mail("dead and inline"), SendOptions::default())
        .await?;
    assert_eq!(stored_keys(&local, &payloads).await?.len(), 3);

    // The console's Delete: one dead letter and its envelope.
    let deleted = operations::dead_letters::delete(
        &local.sqs,
        &local.s3,
        &queues.dlq_url,
        &operations::dead_letters::Selection::Id(ids[0].clone()),
        100,
        &operations::served::Served::new([queues.url.clone()], Some(payloads.clone())),
    )
    .await?;
    assert_eq!(deleted.jobs, vec![ids[0].clone()]);
    assert_eq!((deleted.stored_bodies, deleted.bodies_left.len()), (1, 0));
    let left = stored_keys(&local, &payloads).await?;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.iter().all(|k| !k.contains(&ids[0])),
        "the deleted job's envelope is gone: {left:?}"
    );

    // `jobs dlq purge`: the rest, envelopes included.
    let output = integration_tests::run_jobs(
        &local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_DLQ_URL", &queues.dlq_url),
            ("JOBS_PAYLOAD_BUCKET", &payloads),
        ],
        &["dlq".into(), "purge".into(), "--yes".into()],
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("3 dead letters, 2 stored envelopes"),
        "{stdout}"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 0);
    assert_eq!(stored_keys(&local, &payloads).await?, Vec::<String>::new());
    Ok(())
}

/// A file of `size` bytes in a fresh temporary directory, of bytes that do
/// not repeat with any power of two.
fn big_file(name: &str, size: usize) -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("jobs-large-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i % 251) as u8 ^ (i / 4093) as u8)
        .collect();
    std::fs::write(&path, &bytes)?;
    Ok(path)
}

/// An object's bytes and the CRC64NVME S3 keeps for it.
async fn object_and_crc(local: &LocalAws, bucket: &str, key: &str) -> Result<(Vec<u8>, String)> {
    let head = local
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await?;
    let bytes = local
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes()
        .to_vec();
    Ok((bytes, head.checksum_crc64_nvme.unwrap_or_default()))
}

#[tokio::test]
async fn a_50_mib_file_is_staged_by_the_cli_copied_by_the_handler_and_nothing_stays() -> Result<()>
{
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-staged", 3, 60).await?;
    let payloads = payload_bucket(&local).await?;
    let path = big_file("report.bin", 50 * 1024 * 1024)?;
    let key = format!("staged/{}.bin", unique_suffix());
    let output = integration_tests::run_jobs(
        &local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_PAYLOAD_BUCKET", &payloads),
        ],
        &[
            "--output".into(),
            "json".into(),
            "enqueue".into(),
            "upload".into(),
            "--bucket".into(),
            local.bucket.clone(),
            "--key".into(),
            key.clone(),
            "--file".into(),
            path.to_string_lossy().into_owned(),
            "--content-type".into(),
            "application/octet-stream".into(),
        ],
    )?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&path)?;
    let crc = producer::send::payloads::crc64nvme_of(&bytes);

    // The message is a small envelope naming the staged file, with its size and checksum.
    let message = &receive_one(&local, &queues.url).await?;
    let envelope = Envelope::decode(message.body().unwrap_or_default())?;
    let Job::Upload(upload) = &envelope.job else {
        anyhow::bail!("not an upload: {envelope:?}");
    };
    let source = upload.source.clone().context("a staged source")?;
    assert!(upload.body_base64.is_empty() && upload.sha256.is_empty());
    assert_eq!(
        (source.bucket.as_str(), source.size, source.staged),
        (payloads.as_str(), bytes.len() as u64, true)
    );
    assert!(
        source
            .key
            .starts_with(producer::send::payloads::STAGED_PREFIX)
    );
    assert_eq!(
        source.crc64nvme, crc,
        "the checksum the CLI computed is S3's"
    );
    let (staged, staged_crc) = object_and_crc(&local, &payloads, &source.key).await?;
    assert!(staged == bytes, "the staged file's bytes");
    assert_eq!(staged_crc, crc, "S3 kept the whole object's CRC64NVME");
    release(&local, &queues.url, message).await?;

    let stats = run_until_uploaded(&local, &queues, &payloads, &key).await?;
    assert_eq!((stats.done, stats.dead_lettered), (1, 0), "{stats:?}");
    let (copied, copied_crc) = object_and_crc(&local, &local.bucket, &key).await?;
    assert_eq!(
        hex::encode(Sha256::digest(&copied)),
        hex::encode(Sha256::digest(&bytes)),
        "the uploaded bytes are the file's"
    );
    assert_eq!(copied_crc, crc);
    nothing_stored(
        &local,
        &payloads,
        "the staged file went once the job settled",
    )
    .await?;
    let _ = std::fs::remove_dir_all(path.parent().unwrap_or(&path));
    Ok(())
}

#[tokio::test]
async fn a_source_is_copied_in_parts_above_the_threshold_and_a_wrong_checksum_is_dead_lettered()
-> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-parts", 3, 60).await?;
    let payloads = payload_bucket(&local).await?;
    let path = big_file("parts.bin", 21 * 1024 * 1024 + 17)?;
    let bytes = std::fs::read(&path)?;
    // The library stages the file itself, as the CLI does.
    let queue = local
        .queue(&queues.url)
        .with_payloads(Some(PayloadStore::new(local.s3.clone(), &payloads)));
    let parts_key = format!("parts/{}.bin", unique_suffix());
    let upload = queue
        .upload_job_for_file(&local.bucket, &parts_key, &path)
        .await?;
    assert!(upload.source.as_ref().is_some_and(|s| s.staged));
    let good = Envelope::new(Job::Upload(upload.clone()));
    queue.enqueue(&good, SendOptions::default()).await?;
    // An empty file, copied as one part without a range.
    let empty_key = format!("parts/{}-empty.bin", unique_suffix());
    let empty = PayloadStore::new(local.s3.clone(), &payloads)
        .stage_file(&big_file("empty.bin", 0)?)
        .await?;
    queue
        .enqueue(
            &Envelope::new(Job::Upload(UploadJob::from_source(
                &local.bucket,
                &empty_key,
                empty,
            ))),
            SendOptions::default(),
        )
        .await?;
    // Files staged again, under jobs whose checksum is not the file's: one
    // copied as one part (under the threshold) and one in parts; S3 checks
    // the whole object's checksum when each copy completes.
    let wrong_prefix = format!("wrong-{}/", unique_suffix());
    for (name, size) in [("small", 1024 * 1024), ("large", bytes.len())] {
        let small = big_file(name, size)?;
        let mut source = PayloadStore::new(local.s3.clone(), &payloads)
            .stage_file(&small)
            .await?;
        source.crc64nvme = "AAAAAAAAAAA=".into();
        let wrong = Envelope::new(Job::Upload(UploadJob::from_source(
            &local.bucket,
            format!("{wrong_prefix}{name}"),
            source,
        )));
        queue.enqueue(&wrong, SendOptions::default()).await?;
    }

    let settings = handler::batch::Settings {
        backoff: None,
        multipart_copy_above: 8 * 1024 * 1024,
        payload_bucket: Some(payloads.clone()),
        ..handler::batch::Settings::new(&queues.dlq_url)
    };
    let handler = local
        .handler_with(local.ses.clone(), settings)
        .with_ledger(local.ledger(Duration::from_secs(60))?);
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        Ok((local.queue_depth(&queues.dlq_url).await? == 2
            && local.object_exists(&parts_key).await?
            && local.object_exists(&empty_key).await?)
            .then_some(()))
    })
    .await?;
    assert_eq!((stats.done, stats.dead_lettered), (2, 2), "{stats:?}");
    let (copied, copied_crc) = object_and_crc(&local, &local.bucket, &empty_key).await?;
    assert!(copied.is_empty(), "the empty file's copy");
    assert_eq!(copied_crc, producer::send::payloads::crc64nvme_of(&[]));
    let (copied, copied_crc) = object_and_crc(&local, &local.bucket, &parts_key).await?;
    assert!(copied == bytes, "the copy in parts has the file's bytes");
    assert_eq!(copied_crc, producer::send::payloads::crc64nvme_of(&bytes));
    let letters = local.drain(&queues.dlq_url).await?;
    let mut codes: Vec<_> = letters
        .iter()
        .map(|l| attribute(l, attr::ERROR_CODE).unwrap_or_default())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["source_checksum_mismatch", "source_checksum_mismatch"]
    );
    for letter in &letters {
        let reason = attribute(letter, attr::ERROR_MESSAGE).unwrap_or_default();
        assert!(reason.contains("AAAAAAAAAAA="), "{reason}");
    }
    // No wrong copy is left where the jobs pointed; their staged files stay,
    // for a redrive.
    let wrong = local
        .s3
        .list_objects_v2()
        .bucket(&local.bucket)
        .prefix(&wrong_prefix)
        .send()
        .await?;
    assert_eq!(
        wrong.contents().len(),
        0,
        "a copy that failed its checksum is removed: {:?}",
        wrong.contents()
    );
    let kept = stored_keys(&local, &payloads).await?;
    assert_eq!(
        kept.len(),
        2,
        "the dead letters' staged files stay: {kept:?}"
    );
    Ok(())
}

/// A job the queue refuses after its file was staged (here the queue does
/// not exist) leaves nothing staged: the CLI removes what it wrote.
#[tokio::test]
async fn a_staged_upload_that_sqs_refuses_leaves_nothing_staged() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("large-refused-file", 3, 30).await?;
    let payloads = payload_bucket(&local).await?;
    let path = big_file("refused.bin", 2 * 1024 * 1024)?;
    let missing = format!("{}-gone", queues.url);
    let output = integration_tests::run_jobs(
        &local,
        &[
            ("JOBS_QUEUE_URL", &missing),
            ("JOBS_PAYLOAD_BUCKET", &payloads),
        ],
        &[
            "enqueue".into(),
            "upload".into(),
            "--bucket".into(),
            local.bucket.clone(),
            "--key".into(),
            format!("refused/{}.bin", unique_suffix()),
            "--file".into(),
            path.to_string_lossy().into_owned(),
        ],
    )?;
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    nothing_stored(
        &local,
        &payloads,
        "the refused job's staged file was removed",
    )
    .await?;
    // The same file to a queue that exists is staged and sent: the emptiness
    // above is the removal's doing.
    let output = integration_tests::run_jobs(
        &local,
        &[
            ("JOBS_QUEUE_URL", &queues.url),
            ("JOBS_PAYLOAD_BUCKET", &payloads),
        ],
        &[
            "enqueue".into(),
            "upload".into(),
            "--bucket".into(),
            local.bucket.clone(),
            "--key".into(),
            format!("sent/{}.bin", unique_suffix()),
            "--file".into(),
            path.to_string_lossy().into_owned(),
        ],
    )?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stored_keys(&local, &payloads).await?.len(), 1);
    Ok(())
}
