//! The application's side, as the seed's controller: `shop-remind 42 7`
//! enqueues a purchase reminder for each product (`JOBS_QUEUE_URL`).

use std::process::ExitCode;

use producer::Jobs;
use shop_jobs::PurchaseReminder;

#[tokio::main]
async fn main() -> ExitCode {
    let mut product_ids = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.parse::<u64>() {
            Ok(id) => product_ids.push(id),
            Err(_) => {
                eprintln!("error: `{arg}` is not a product id (a whole number); nothing was sent");
                return ExitCode::from(2);
            }
        }
    }
    if product_ids.is_empty() {
        eprintln!("usage: shop-remind PRODUCT_ID...");
        return ExitCode::from(2);
    }
    let config = producer::aws::load_config().await;
    let jobs = Jobs::from_env(&config);
    for id in product_ids {
        match PurchaseReminder::enqueue(&jobs, id).await {
            Ok(sent) => println!(
                "enqueued a purchase reminder for product {id}: job {} (message {})",
                sent.job_id, sent.message_id
            ),
            Err(e) => {
                eprintln!("error: product {id}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
