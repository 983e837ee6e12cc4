//! Every file in `events/` gives exactly the `batchItemFailures` and the dead
//! letters that `events/expected/` says, against the local stack's bucket and sender.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use aws_lambda_events::event::sqs::SqsEvent;
use handler::batch::dead_letter_attributes as attr;
use integration_tests::{LocalAws, attribute, repo_root};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expected {
    batch_item_failures: Vec<Failure>,
    dead_lettered: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    item_identifier: String,
}

fn event_files() -> Result<Vec<(String, SqsEvent, Expected)>> {
    let dir = repo_root().join("events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let event = std::fs::read_to_string(dir.join(&name))?;
            let expected = std::fs::read_to_string(dir.join("expected").join(&name))
                .with_context(|| format!("events/expected/{name} is missing"))?;
            let event: SqsEvent = serde_json::from_str(&event).with_context(|| name.clone())?;
            let expected: Expected =
                serde_json::from_str(&expected).with_context(|| name.clone())?;
            Ok((name, event, expected))
        })
        .collect()
}

#[tokio::test]
async fn every_event_file_gives_its_expected_batch_item_failures() -> Result<()> {
    let local = LocalAws::connect().await?;
    let files = event_files()?;
    assert!(
        files.len() >= 3,
        "events/ holds each kind and a mixed batch"
    );
    for (name, event, expected) in files {
        let queues = local.fresh_queues("events", 3, 5).await?;
        let handler = local.handler(&queues.dlq_url, None);
        let response = handler.handle_sqs_event(event.clone()).await?;
        let failures: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let expected_failures: Vec<String> = expected
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failures, expected_failures, "{name}: batchItemFailures");

        let dead: BTreeSet<String> = local
            .drain(&queues.dlq_url)
            .await?
            .iter()
            .filter_map(|m| attribute(m, attr::SOURCE))
            .map(|source| attr::parse_source(&source).1.to_owned())
            .collect();
        let expected_dead: BTreeSet<String> = expected.dead_lettered.iter().cloned().collect();
        assert_eq!(dead, expected_dead, "{name}: dead-lettered messages");

        // With the dead-letter queue gone, the permanent failures cannot be moved
        // and must come back instead: nothing is dropped.
        let handler = local.handler(&format!("{}-gone", queues.dlq_url), None);
        let response = handler.handle_sqs_event(event.clone()).await?;
        let failures: BTreeSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let must_come_back: BTreeSet<String> = expected_dead
            .union(&expected_failures.iter().cloned().collect())
            .cloned()
            .collect();
        assert_eq!(
            failures, must_come_back,
            "{name}: without a dead-letter queue"
        );
    }
    Ok(())
}
