//! `jobs cancel`: cancels a job that has not run yet, through the ledger.

use std::process::ExitCode;

use clap::Args;

use super::output::{Stopped, print_json};
use super::{EXIT_INVALID, EXIT_SEND_FAILED, Output};

/// Which job, and the ledger that records it.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The job id `jobs enqueue` printed.
    pub job_id: String,
    /// The ledger's DynamoDB table.
    #[arg(long, env = producer::contract::ledger::TABLE_ENV)]
    pub table: Option<String>,
}

pub(super) async fn cancel(
    dynamodb: &aws_sdk_dynamodb::Client,
    args: CancelArgs,
    output: Output,
) -> Result<ExitCode, Stopped> {
    let job_id = &args.job_id;
    let Some(table) = args.table.as_deref().filter(|t| !t.is_empty()) else {
        eprintln!(
            "error: no ledger table: pass `--table` or set `{}`; cancelling needs the idempotency ledger",
            producer::contract::ledger::TABLE_ENV
        );
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    Ok(match crate::cancel::cancel(dynamodb, table, job_id).await {
        Ok(cancelled) => {
            let already = cancelled == crate::cancel::Cancelled::Already;
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "job_id": job_id,
                    "cancelled": if already { "already" } else { "now" },
                }))?,
                Output::Text if already => outln!("job {job_id} was already cancelled")?,
                Output::Text => outln!("cancelled job {job_id}: it will not run")?,
            }
            ExitCode::SUCCESS
        }
        Err(e @ crate::cancel::CancelError::EmptyId) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_SEND_FAILED)
        }
    })
}
