//! `jobs stats` and `jobs dlq …` against real queues: counts, the oldest age, dead letters
//! grouped by reason, one shown in full, redrive by id, kind and all, purge.

use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use integration_tests::{
    LocalAws, TestQueues, eventually, run_worker_until, unique_suffix, workspace_binary,
};
use producer::{Envelope, Job};

fn jobs(local: &LocalAws, queues: &TestQueues, args: &[&str]) -> Result<Output> {
    Ok(std::process::Command::new(workspace_binary("jobs")?)
        .envs(local.env.child_env())
        .env("JOBS_QUEUE_URL", &queues.url)
        .env("JOBS_DLQ_URL", &queues.dlq_url)
        .args(args)
        .stdin(Stdio::null())
        .output()?)
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn stats_list_show_redrive_and_purge() -> Result<()> {
    let local = LocalAws::connect().await?;
    let queues = local.fresh_queues("ops", 3, 5).await?;
    let marker = unique_suffix();
    let good = local.text_mail(format!("ops {marker}"));
    let fax =
        |n: u32| integration_tests::fax_body(&good.clone().with_id(format!("fax-{n}-{marker}")));
    let mut bad_address = good.clone().with_id(format!("bad-address-{marker}"));
    if let Job::Mail(m) = &mut bad_address.job {
        m.to = vec!["nobody".into()];
    }
    for body in [good.to_json(), fax(1), fax(2), bad_address.to_json()] {
        local
            .sqs
            .send_message()
            .queue_url(&queues.url)
            .message_body(body)
            .send()
            .await?;
    }
    run_worker_until(
        local.handler(&queues.dlq_url, None),
        &local,
        &queues.url,
        Duration::from_secs(60),
        || async {
            Ok((local.queue_depth(&queues.dlq_url).await? == 3
                && local.queue_depth(&queues.url).await? == 0)
                .then_some(()))
        },
    )
    .await?;

    let queue_name = producer::send::queue::queue_name_of(&queues.url);
    // One row per queue: its name, queued, in flight, delayed, dead, oldest.
    let row = |stats: &str| -> Vec<String> {
        stats
            .lines()
            .find(|line| line.starts_with(queue_name))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let stats = stdout(&jobs(&local, &queues, &["stats"])?);
    assert!(stats.starts_with("queue "), "a header: {stats}");
    assert_eq!(row(&stats)[1..5], ["0", "0", "0", "3"], "{stats}");
    // A fresh queue has no CloudWatch reading yet. In AWS, SQS publishes one a
    // minute; the emulator does not, so the test publishes one in its place.
    assert!(
        stats.contains("  unknown (no CloudWatch reading in the last 15 minutes)"),
        "{stats}"
    );
    local
        .cloudwatch
        .put_metric_data()
        .namespace("AWS/SQS")
        .metric_data(
            MetricDatum::builder()
                .metric_name("ApproximateAgeOfOldestMessage")
                .dimensions(
                    Dimension::builder()
                        .name("QueueName")
                        .value(queue_name)
                        .build(),
                )
                .timestamp(DateTime::from(SystemTime::now()))
                .value(125.0)
                .unit(StandardUnit::Seconds)
                .build(),
        )
        .send()
        .await?;
    let stats = stdout(&jobs(&local, &queues, &["stats"])?);
    assert!(
        row(&stats)[5..]
            .join(" ")
            .starts_with("2m 5s (CloudWatch, "),
        "{stats}"
    );

    let list = stdout(&jobs(&local, &queues, &["dlq", "list"])?);
    assert!(
        list.starts_with(&format!("{queue_name}: 3 dead letters")),
        "{list}"
    );
    assert!(list.contains("fax / unknown_kind: 2"), "{list}");
    assert!(list.contains("mail / invalid_job: 1"), "{list}");
    assert!(list.contains(&format!("bad-address-{marker}")), "{list}");
    assert_eq!(
        local.queue_depth(&queues.dlq_url).await?,
        3,
        "listing removes nothing"
    );

    let show = stdout(&jobs(
        &local,
        &queues,
        &["dlq", "show", &format!("bad-address-{marker}")],
    )?);
    assert!(
        show.contains("error:       invalid_job (permanent)"),
        "{show}"
    );
    assert!(
        show.contains("`job.to[0]` is not an e-mail address"),
        "{show}"
    );
    assert!(show.contains("\"nobody\""), "{show}");

    let dry = stdout(&jobs(
        &local,
        &queues,
        &["dlq", "redrive", "--kind", "fax", "--dry-run"],
    )?);
    assert!(
        dry.starts_with(&format!("{queue_name}: would send back 2 dead letters")),
        "{dry}"
    );
    assert_eq!(
        local.queue_depth(&queues.url).await?,
        0,
        "a dry run sends nothing"
    );

    let one = stdout(&jobs(
        &local,
        &queues,
        &["dlq", "redrive", "--id", &format!("bad-address-{marker}")],
    )?);
    assert!(
        one.starts_with(&format!("{queue_name}: sent back 1 dead letters")),
        "{one}"
    );
    let received = local.receive(&queues.url, 5).await?;
    let body = received
        .into_iter()
        .next()
        .and_then(|m| m.body)
        .unwrap_or_default();
    assert_eq!(
        Envelope::decode(&body)?,
        bad_address,
        "the body comes back unchanged"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 2);

    let refused = jobs(&local, &queues, &["dlq", "purge"])?;
    assert!(
        !refused.status.success(),
        "purge asks first; no answer means no"
    );
    assert_eq!(local.queue_depth(&queues.dlq_url).await?, 2);

    let all = stdout(&jobs(&local, &queues, &["dlq", "redrive", "--all"])?);
    assert!(
        all.contains("move task") || all.starts_with(&format!("{queue_name}: sent back 2")),
        "{all}"
    );
    eventually(
        "the dead letters back on the job queue",
        Duration::from_secs(30),
        || async { Ok((local.queue_depth(&queues.dlq_url).await? == 0).then_some(())) },
    )
    .await?;
    assert_eq!(
        local.queue_depth(&queues.url).await?,
        3,
        "one redriven by id, two by --all"
    );

    let purged = stdout(&jobs(&local, &queues, &["dlq", "purge", "--yes"])?);
    assert!(purged.starts_with("purged"), "{purged}");
    Ok(())
}
