//! The shop's worker: the same jobs as the Lambda function, long-polling
//! `JOBS_QUEUE_URL`. `shop-worker schema purchase_reminder` prints the
//! reminder's payload schema.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = producer::aws::load_config().await;
    match shop::Shop::from_env(&config) {
        Ok(shop) => shop::runner(shop).worker_with_config(&config).await,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
