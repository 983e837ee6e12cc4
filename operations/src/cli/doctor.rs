//! `jobs doctor`: checks an account's setup in order and says how to fix each
//! problem.

use std::process::ExitCode;

use clap::Args;
use producer::send::queue::QUEUE_URL_ENV;
use producer::send::routes::QueueRoutes;

use super::output::Stopped;
use super::{EXIT_INVALID, EXIT_SEND_FAILED, Output};

/// What `jobs doctor` checks; each one left out is reported as not checked.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// One job queue's URL. Without it: every queue of `JOBS_QUEUE_URLS`,
    /// else `JOBS_QUEUE_URL`.
    #[arg(long)]
    pub queue_url: Option<String>,
    /// Its dead-letter queue's URL; without it, the one its redrive policy
    /// names (a lone `JOBS_QUEUE_URL` pairs with `JOBS_DLQ_URL`).
    #[arg(long)]
    pub dlq_url: Option<String>,
    /// The idempotency ledger's DynamoDB table.
    #[arg(long, env = producer::contract::ledger::TABLE_ENV)]
    pub table: Option<String>,
    /// The bucket upload jobs write to.
    #[arg(long, env = "JOBS_BUCKET")]
    pub bucket: Option<String>,
    /// The address mail jobs come from.
    #[arg(long, env = "JOBS_MAIL_FROM")]
    pub sender: Option<String>,
    /// The Lambda function's timeout (the stack's `FunctionTimeout`): the queue's
    /// visibility timeout must be at least six times as long.
    #[arg(long, value_name = "SECONDS")]
    pub function_timeout: Option<u32>,
}

pub(super) async fn doctor(
    clients: &crate::doctor::DoctorClients,
    args: DoctorArgs,
    output: Output,
) -> Result<ExitCode, Stopped> {
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let routes = match QueueRoutes::from_env() {
        Ok(routes) => routes,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let explicit = given(args.queue_url.clone());
    let (queues, queue_url, dlq_url) = match explicit {
        Some(url) => (Vec::new(), Some(url), given(args.dlq_url)),
        None if !routes.is_empty() => (
            routes
                .iter()
                .map(|(n, u)| (n.to_owned(), u.to_owned()))
                .collect(),
            None,
            None,
        ),
        None => (
            Vec::new(),
            given(std::env::var(QUEUE_URL_ENV).ok()),
            given(args.dlq_url).or_else(|| given(std::env::var(crate::queues::DLQ_URL_ENV).ok())),
        ),
    };
    let input = crate::doctor::DoctorInput {
        queues,
        queue_url,
        dlq_url,
        table: args.table,
        bucket: args.bucket,
        sender: args.sender,
        function_timeout_seconds: args.function_timeout,
    };
    let report = crate::doctor::check(clients, &input).await;
    // The exit code says whether the setup is healthy, whoever reads the report.
    let _ = match output {
        // Serialized directly, so the keys keep the documented order.
        Output::Json => outln!("{}", serde_json::to_string(&report).unwrap_or_default()),
        Output::Text => outln!("{report}"),
    };
    Ok(if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SEND_FAILED)
    })
}
