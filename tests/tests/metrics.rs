//! The job metrics' embedded-metric-format lines against CloudWatch's published
//! specification (`integration_tests::emf`), and that reader against lines that
//! break it. No AWS needed.

use std::collections::BTreeMap;

use anyhow::Result;
use handler::metrics::{Key, Tally, emf_lines};
use integration_tests::emf::{Extracted, extract};
use serde_json::json;

fn tallies() -> BTreeMap<Key, Tally> {
    let key = |queue: &str, kind: &str, outcome| Key {
        queue: queue.into(),
        kind: kind.into(),
        outcome,
    };
    BTreeMap::from([
        (
            key("jobs-mailers", "mail", "done"),
            Tally {
                durations_ms: (0..250).map(|n| 10.0 + f64::from(n) / 4.0).collect(),
            },
        ),
        (
            key("jobs-mailers", "mail", "retry"),
            Tally {
                durations_ms: vec![1200.5],
            },
        ),
        (
            key("jobs-default", "upload", "dead_lettered"),
            Tally {
                durations_ms: vec![3.0, 4.0],
            },
        ),
    ])
}

/// The sum of one metric's values over every line, for some dimensions.
fn total(metrics: &[Extracted], name: &str, dimensions: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = dimensions
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    metrics
        .iter()
        .filter(|m| m.name == name && m.dimensions == wanted)
        .flat_map(|m| m.values.iter())
        .sum()
}

#[test]
fn every_line_follows_the_specification_and_carries_every_job() -> Result<()> {
    let lines = emf_lines("Jobs", &tallies(), 1_796_256_000_000);
    // 250 durations take three lines of at most 100 values; the others one each.
    assert_eq!(lines.len(), 5);
    let mut metrics = Vec::new();
    for line in &lines {
        assert!(!line.contains('\n'), "one line each: {line}");
        metrics.extend(extract(line)?);
    }
    assert!(metrics.iter().all(|m| m.namespace == "Jobs"));
    assert!(metrics.iter().all(|m| m.timestamp_ms == 1_796_256_000_000));
    let done = [
        ("Queue", "jobs-mailers"),
        ("Kind", "mail"),
        ("Outcome", "done"),
    ];
    assert_eq!(total(&metrics, "Jobs", &done), 250.0);
    let durations: usize = metrics
        .iter()
        .filter(|m| {
            m.name == "Duration" && m.dimensions.len() == 3 && m.dimensions["Outcome"] == "done"
        })
        .map(|m| m.values.len())
        .sum();
    assert_eq!(durations, 250);
    assert!(
        metrics
            .iter()
            .filter(|m| m.name == "Duration")
            .all(|m| m.unit == "Milliseconds")
    );
    // The per-queue count the console's chart reads.
    assert_eq!(
        total(
            &metrics,
            "QueueJobs",
            &[("Queue", "jobs-mailers"), ("Outcome", "retry")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &metrics,
            "QueueJobs",
            &[("Queue", "jobs-default"), ("Outcome", "dead_lettered")]
        ),
        2.0
    );
    // No duration or `Jobs` per queue alone: only `QueueJobs` is kept at that level.
    for name in ["Duration", "Jobs"] {
        assert_eq!(
            total(
                &metrics,
                name,
                &[("Queue", "jobs-default"), ("Outcome", "dead_lettered")]
            ),
            0.0
        );
    }
    Ok(())
}

#[test]
fn the_reader_refuses_what_the_specification_forbids() {
    let good = json!({
        "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "Jobs",
            "Dimensions": [["Queue"]], "Metrics": [{"Name": "Jobs", "Unit": "Count"}]}]},
        "Queue": "q", "Jobs": 1,
    });
    assert!(extract(&good.to_string()).is_ok());
    let broken = |change: &dyn Fn(&mut serde_json::Value), rule: &str| {
        let mut line = good.clone();
        change(&mut line);
        let error = extract(&line.to_string()).expect_err(rule).to_string();
        assert!(error.contains(rule), "{rule}: {error}");
    };
    broken(&|l| l["_aws"]["Timestamp"] = json!("now"), "Timestamp");
    broken(&|l| l["_aws"]["Timestamp"] = json!(1.5), "Timestamp");
    broken(&|l| l["Queue"] = json!(7), "must have a string value");
    broken(
        &|l| l["Queue"] = json!("q".repeat(1025)),
        "over 1024 characters",
    );
    broken(&|l| l["Jobs"] = json!(vec![1; 101]), "at most 100");
    broken(
        &|l| l["Jobs"] = json!("one"),
        "a number or an array of numbers",
    );
    broken(
        &|l| {
            let keys: Vec<String> = (0..31).map(|n| format!("d{n}")).collect();
            for key in &keys {
                l[key] = json!("v");
            }
            l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([keys]);
        },
        "at most 30",
    );
    broken(
        &|l| {
            let metrics: Vec<_> = (0..101).map(|n| json!({"Name": format!("m{n}")})).collect();
            for n in 0..101 {
                l[format!("m{n}")] = json!(1);
            }
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(metrics);
        },
        "at most 100",
    );
    broken(
        &|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Jobs"),
        "not a CloudWatch unit",
    );
    broken(
        &|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!(""),
        "1 to 1024 characters",
    );
    broken(
        &|l| {
            l.as_object_mut().map(|o| o.remove("Queue"));
        },
        "must be a member of the root",
    );
    assert!(extract("{\"_aws\": {}} trailing").is_err());
}
