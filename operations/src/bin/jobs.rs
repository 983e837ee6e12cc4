use std::process::ExitCode;

use clap::Parser as _;
use operations::cli::{Cli, Clients, run};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings of this project's libraries (a scheduled job sent but not
    // listed) on stderr, one line each; results stay alone on stdout. The AWS
    // SDK's own logs stay off: its failures reach the user as errors.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time(),
        )
        .with(
            Targets::new()
                .with_target("producer", Level::WARN)
                .with_target("operations", Level::WARN),
        )
        .init();
    let config = producer::aws::load_config().await;
    run(cli, Clients::new(&config)).await
}
