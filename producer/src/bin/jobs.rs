use std::process::ExitCode;

use clap::Parser as _;
use producer::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = producer::aws::load_config().await;
    run(cli, aws_sdk_sqs::Client::new(&config)).await
}
