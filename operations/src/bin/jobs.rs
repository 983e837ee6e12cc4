use std::process::ExitCode;

use clap::Parser as _;
use operations::cli::{Cli, Clients, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = producer::aws::load_config().await;
    run(cli, Clients::new(&config)).await
}
