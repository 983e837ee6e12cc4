//! `jobs ui`: serves the web console until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use clap::Args;

use super::queues::{QueueArgs, job_queues};
use super::{EXIT_INVALID, EXIT_SEND_FAILED};

/// How `jobs ui` serves the console.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The address to listen on. Any but a loopback address needs a token.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: std::net::IpAddr,
    /// The port; 0 picks a free one (the address is printed at start).
    #[arg(long, env = "JOBS_UI_PORT", default_value_t = crate::console::DEFAULT_PORT)]
    pub port: u16,
    /// A secret every request must carry (basic auth, any user name, the token as
    /// password); required to listen on a non-loopback address.
    #[arg(long, env = crate::console::TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// Show everything, change nothing: no buttons, and every change is refused.
    #[arg(long)]
    pub read_only: bool,
    /// Another name the console answers to (`Host` header), as behind a proxy;
    /// repeatable. Requests under any other name are refused.
    #[arg(long = "allow-host", value_name = "NAME[:PORT]")]
    pub allow_hosts: Vec<String>,
    /// The idempotency ledger's DynamoDB table, for the job pages.
    #[arg(long, env = producer::contract::ledger::TABLE_ENV)]
    pub table: Option<String>,
    /// The CloudWatch namespace of the job metrics, for the dashboard's chart.
    #[arg(long, env = "JOBS_METRICS_NAMESPACE", default_value = "Jobs")]
    pub metrics_namespace: String,
    /// Leave the chart out (as when the handler runs with `JOBS_METRICS=off`).
    #[arg(long)]
    pub no_metrics: bool,
    /// The local moto server (`make local-up` sets `MOTO_URL`): adds the Local
    /// tab, with the mails it recorded and the objects in the upload bucket.
    /// Loopback only.
    #[arg(long, env = "MOTO_URL", value_name = "URL")]
    pub local_mails: Option<String>,
    /// The upload bucket, listed on the Local tab.
    #[arg(long, env = "JOBS_BUCKET")]
    pub bucket: Option<String>,
    #[command(flatten)]
    pub queues: QueueArgs,
}

/// Serves the console until Ctrl-C or SIGTERM.
pub(super) async fn ui(clients: crate::console::ConsoleClients, args: UiArgs) -> ExitCode {
    use crate::console::{ConsoleError, ConsoleSettings};

    let local = match args.local_mails.as_deref().filter(|url| !url.is_empty()) {
        None => None,
        Some(url) => match crate::console::local::LocalMode::new(url, args.bucket.clone()) {
            Ok(local) => Some(local),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let queues = match job_queues(&clients.sqs, &args.queues).await {
        Ok(queues) => queues,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
    let names = names.join(", ");
    let event_sources = match crate::pause::event_sources_from(
        std::env::var(crate::pause::EVENT_SOURCES_ENV)
            .ok()
            .as_deref(),
    ) {
        Ok(ids) => ids,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let settings = ConsoleSettings {
        event_sources,
        address: std::net::SocketAddr::new(args.address, args.port),
        token: args.token,
        read_only: args.read_only,
        allow_hosts: args.allow_hosts,
        ledger_table: args.table,
        limit: args.queues.limit,
        metrics_namespace: (!args.no_metrics).then_some(args.metrics_namespace),
        local,
        payload_bucket: args.queues.payload_bucket.clone(),
    };
    let listening = match crate::console::listen(settings, clients, queues).await {
        Ok(listening) => listening,
        Err(e @ (ConsoleError::OpenWithoutToken(_) | ConsoleError::ShortToken(_))) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_SEND_FAILED);
        }
    };
    // A parent reading the first line (a test, a script) gets it at once, as
    // stdout writes out each line; one that closed stdout leaves the console up.
    let _ = outln!(
        "jobs ui: the console is on http://{}/ (queues: {names}{})",
        listening.address,
        if args.read_only { "; read-only" } else { "" }
    );
    match listening.serve(stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
