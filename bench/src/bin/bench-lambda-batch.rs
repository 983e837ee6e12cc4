//! The Lambda path without the runtime: each SQS event of a file through the
//! handler's batch function (`Handler::handle_sqs_event`), as the runtime
//! would call it, after one warm-up round.
//!
//! `bench-lambda-batch --events FILE --rounds R`, with the handler's settings
//! in the environment (`JOBS_DLQ_URL`, `AWS_ENDPOINT_URL`, …). Prints
//! `{"batches": n, "ms_per_batch": x}`.

use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use aws_lambda_events::event::sqs::SqsEvent;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .with_context(|| format!("`{name}` is required"))
    };
    let events: Vec<SqsEvent> = serde_json::from_str(&std::fs::read_to_string(value("--events")?)?)
        .context("the events file is not a list of SQS events")?;
    let rounds: usize = value("--rounds")?.parse()?;
    let config = producer::aws::load_config().await;
    let handler = handler::Runner::new().handler(&config, handler::Settings::from_env()?)?;
    let round = || async {
        for event in &events {
            let response = handler.handle_sqs_event(event.clone()).await?;
            ensure!(
                response.batch_item_failures.is_empty(),
                "{} records failed",
                response.batch_item_failures.len()
            );
        }
        anyhow::Ok(())
    };
    round().await?;
    let started = Instant::now();
    for _ in 0..rounds {
        round().await?;
    }
    let batches = events.len() * rounds;
    let ms_per_batch = started.elapsed().as_secs_f64() * 1000.0 / batches.max(1) as f64;
    println!(
        "{}",
        serde_json::json!({"batches": batches, "ms_per_batch": ms_per_batch})
    );
    Ok(())
}
