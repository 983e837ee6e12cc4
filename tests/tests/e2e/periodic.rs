//! Periodic jobs: the stack's EventBridge Scheduler schedule, as deployed on
//! the local AWS. LocalStack stores schedules but never fires them, so the
//! test takes the deployed schedule's own `Input` and does what a firing
//! does: the scheduler's placeholder replaced by the firing's time, the
//! envelope sent to the queue. And `jobs schedules` on the days the clocks
//! change.

use std::time::Duration;

use anyhow::{Context as _, Result};
use handler::Runner;
use integration_tests::{LocalAws, run_worker_until, unique_suffix};
use operations::periodic::SCHEDULED_TIME;
use shop_worker::products::{Product, Products};
use shop_worker::{ProductsReport, Shop};

const WAIT: Duration = Duration::from_secs(90);

fn scheduler(local: &LocalAws) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(&local.config)
}

/// Two firing times no other run of this test has used: a minute of a day
/// in 2031 chosen from the run's suffix, and the same minute a day later.
fn firing_times() -> (String, String) {
    let n: u32 = unique_suffix()
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let (day, hour, minute) = (1 + n % 27, (n / 27) % 24, (n / 648) % 60);
    (
        format!("2031-05-{day:02}T{hour:02}:{minute:02}:00Z"),
        format!("2031-05-{:02}T{hour:02}:{minute:02}:00Z", day + 1),
    )
}

#[tokio::test]
async fn each_firing_of_the_deployed_schedule_runs_once_even_when_delivered_twice() -> Result<()> {
    let local = LocalAws::connect().await?;
    let group = local.env.get("JOBS_SCHEDULE_GROUP")?;
    let deployed = scheduler(&local)
        .get_schedule()
        .group_name(group)
        .name("products-report")
        .send()
        .await
        .context("the stack's products-report schedule")?;
    let target = deployed.target.context("its target")?;
    assert!(
        target.arn.ends_with("-default"),
        "it puts its job on the default queue: {}",
        target.arn
    );
    assert!(target.dead_letter_config.is_some_and(|d| d.arn.is_some()));
    assert!(target.retry_policy.is_some());
    let input = target.input.context("its input")?;
    assert!(input.contains(SCHEDULED_TIME), "{input}");

    // What two firings put on the queue, the first delivered twice.
    let queues = local.fresh_queues("periodic", 3, 30).await?;
    let (first, second) = firing_times();
    for time in [&first, &first, &second] {
        local
            .sqs
            .send_message()
            .queue_url(&queues.url)
            .message_body(input.replace(SCHEDULED_TIME, time))
            .send()
            .await?;
    }
    let shop = Shop {
        products: Products::in_memory([Product {
            id: 1,
            name: "kettle".into(),
            owner_email: "ann@example.com".into(),
            paid: false,
        }]),
        sender: "shop@example.com".into(),
        partner_webhook: None,
    };
    // Both deliveries of the first firing may arrive together: one runs, the
    // other finds it claimed and comes back when the lease ends, a duplicate.
    let handler = local
        .handler(&queues.dlq_url, None)
        .with_ledger(local.ledger(Duration::from_secs(5))?)
        .with_runner(Runner::new().with_state(shop).job::<ProductsReport>())?;
    let reports: Vec<String> = [&first, &second]
        .iter()
        .map(|t| format!("reports/products/{t}.csv"))
        .collect();
    let stats = run_worker_until(handler, &local, &queues.url, WAIT, || async {
        let mut written = true;
        for key in &reports {
            written &= local.object_exists(key).await?;
        }
        Ok((written && local.queue_depth(&queues.url).await? == 0).then_some(()))
    })
    .await?;
    assert_eq!(
        (stats.done, stats.duplicates, stats.dead_lettered),
        (2, 1, 0),
        "two firings, two runs; the second delivery of one is a duplicate: {stats:?}"
    );
    Ok(())
}

/// `jobs schedules` against schedules of the local stack's group, one in New
/// York and one in Berlin, from the days their clocks change.
#[tokio::test]
async fn jobs_schedules_gives_next_runs_across_the_clock_changes() -> Result<()> {
    let local = LocalAws::connect().await?;
    let group = local.env.get("JOBS_SCHEDULE_GROUP")?;
    let queues = local.fresh_queues("schedules", 3, 30).await?;
    let queue_arn = local
        .queue_attribute(
            &queues.url,
            aws_sdk_sqs::types::QueueAttributeName::QueueArn,
        )
        .await?;
    let suffix = unique_suffix().to_lowercase();
    let scheduler = scheduler(&local);
    let mut created = Vec::new();
    for (name, expression, zone) in [
        (
            format!("t-ny-{suffix}"),
            "cron(30 2 * * ? *)",
            "America/New_York",
        ),
        (
            format!("t-eu-{suffix}"),
            "cron(0/30 2 * * ? *)",
            "Europe/Berlin",
        ),
    ] {
        let input = format!(
            r#"{{"version":1,"id":"{name}-{SCHEDULED_TIME}","kind":"products_report","created_at":"{SCHEDULED_TIME}","job":{{"bucket":"b-{suffix}"}}}}"#
        );
        local
            .create_schedule(group, &name, expression, Some(zone), &queue_arn, &input)
            .await?;
        created.push(name);
    }

    let json = |from: &str| -> Result<serde_json::Value> {
        let output = integration_tests::run_jobs(
            &local,
            &[],
            &[
                "--output".into(),
                "json".into(),
                "schedules".into(),
                "--group".into(),
                group.to_owned(),
                "--from".into(),
                from.into(),
            ],
        )?;
        anyhow::ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(serde_json::from_slice(&output.stdout)?)
    };
    let runs = |listed: &serde_json::Value, name: &str| -> Vec<String> {
        listed["schedules"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name)
            .map(|s| {
                s["next_runs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["local"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // The US went forward on 8 March 2026: 02:30 did not exist that day.
    let spring = json("2026-03-07T12:00:00Z")?;
    assert_eq!(
        runs(&spring, &created[0]),
        [
            "2026-03-09 02:30 -04:00",
            "2026-03-10 02:30 -04:00",
            "2026-03-11 02:30 -04:00"
        ],
        "{spring}"
    );
    // And back on 1 November: 01:00–01:59 happened twice, 02:30 once.
    let autumn = json("2026-10-31T12:00:00Z")?;
    assert_eq!(
        runs(&autumn, &created[0]),
        [
            "2026-11-01 02:30 -05:00",
            "2026-11-02 02:30 -05:00",
            "2026-11-03 02:30 -05:00"
        ],
        "{autumn}"
    );
    // Berlin went back on 25 October: 02:00 and 02:30 happened twice, and run once each.
    let eu = json("2026-10-24T23:00:00Z")?;
    assert_eq!(
        runs(&eu, &created[1]),
        [
            "2026-10-25 02:00 +02:00",
            "2026-10-25 02:30 +02:00",
            "2026-10-26 02:00 +01:00"
        ],
        "{eu}"
    );
    // And forward on 29 March: 02:00–02:59 did not exist, so that day has no run.
    let eu_spring = json("2026-03-28T12:00:00Z")?;
    assert_eq!(
        runs(&eu_spring, &created[1]),
        [
            "2026-03-30 02:00 +02:00",
            "2026-03-30 02:30 +02:00",
            "2026-03-31 02:00 +02:00"
        ],
        "{eu_spring}"
    );
    // The stack's own schedule is listed too, disabled, with what it enqueues.
    let report = spring["schedules"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "products-report")
        .context("the stack's schedule")?;
    assert_eq!(report["state"], "DISABLED");
    assert_eq!(report["kind"], "products_report");

    for name in &created {
        let _ = scheduler
            .delete_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await;
    }
    Ok(())
}
