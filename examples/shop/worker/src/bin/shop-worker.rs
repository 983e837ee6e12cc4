//! The shop's worker: the same jobs as the Lambda function, long-polling
//! `JOBS_QUEUE_URL` until SIGTERM or Ctrl-C. `shop-worker schema
//! purchase_reminder` prints the reminder's payload schema; `shop-worker kinds`
//! lists the kinds it runs.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let runner = shop_worker::runner();
    if let Some(code) = runner.command_line() {
        return code;
    }
    match runner.worker().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
