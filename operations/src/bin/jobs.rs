use std::process::ExitCode;

use clap::Parser as _;
use operations::cli::{Cli, Clients, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings of the libraries below (a scheduled job sent but not listed) on
    // stderr, one line each; results stay alone on stdout.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .without_time()
        .init();
    let config = producer::aws::load_config().await;
    run(cli, Clients::new(&config)).await
}
