//! The `jobs` command line: the top-level [`Cli`], and one module per command,
//! each with its arguments beside its code.
//!
//! Results go to stdout through `outln!`, never `println!` (which panics when
//! the reader of a pipe has gone, as in `jobs dlq list | head`): a closed stdout
//! ends a command quietly, as it ends `cargo` and `rg`.

// `outln!` instead: see the module's documentation.
#![deny(clippy::print_stdout)]

#[macro_use]
mod output;
mod cancel;
mod dlq;
mod doctor;
mod enqueue;
mod progress;
mod queues;
mod schedules;
mod stats;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use cancel::CancelArgs;
pub use dlq::DlqCommand;
pub use doctor::DoctorArgs;
pub use enqueue::{
    EnqueueArgs, EnqueueKind, HttpArgs, Input, InputError, MailArgs, UploadArgs, input,
};
pub use queues::QueueArgs;
pub use schedules::SchedulesArgs;
pub use ui::UiArgs;

use output::Stopped;

/// Exit code when the input was refused and nothing was sent.
pub const EXIT_INVALID: u8 = 2;
/// Exit code when SQS did not take some or all of the jobs.
pub const EXIT_SEND_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "jobs", version, about = "Enqueue background jobs on SQS")]
pub struct Cli {
    /// `json` prints each command's result as one JSON document on stdout (see the
    /// docs/cli.md, "Machine-readable output"); problems still go to stderr.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Show the whole chain of an AWS error (`RUST_LOG=debug` does too).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate jobs and send them to the queue; nothing is sent if any job is invalid.
    Enqueue(Box<EnqueueArgs>),
    /// Jobs queued, in flight, delayed, and dead.
    Stats(QueueArgs),
    /// Look after the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Periodic jobs: the EventBridge Scheduler schedules of the stack's group,
    /// what each puts on which queue, and its next runs in its time zone.
    Schedules(SchedulesArgs),
    /// Cancel a job that has not run yet (a scheduled one, say), by its job id.
    /// Needs the idempotency ledger, which the handler reads.
    Cancel(CancelArgs),
    /// Serve the web console (Dashboard, Dead, job pages) on 127.0.0.1; see docs/console.md.
    Ui(Box<UiArgs>),
    /// Check the setup, in order: credentials and region, the queues, the ledger
    /// table, the upload bucket, SES; says how to fix each problem (exit 1 if any).
    Doctor(DoctorArgs),
    /// Print a shell completion script: `jobs completions bash > /etc/bash_completion.d/jobs`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `jobs man > jobs.1 && man ./jobs.1`.
    Man,
}

/// The clients the commands use, built once by `main`.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub doctor: crate::doctor::DoctorClients,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Clients {
            sqs: aws_sdk_sqs::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            doctor: crate::doctor::DoctorClients::new(config),
        }
    }
}

/// Runs a parsed command line; prints results on stdout and problems on stderr.
pub async fn run(cli: Cli, clients: Clients) -> ExitCode {
    producer::aws::set_verbose(cli.verbose);
    let output = cli.output;
    let sqs = clients.sqs;
    let result = match cli.command {
        Command::Enqueue(args) => {
            return enqueue::enqueue(*args, sqs, &clients.doctor.s3, &clients.dynamodb, output)
                .await;
        }
        Command::Stats(queues) => stats::stats(&sqs, &clients.cloudwatch, &queues, output).await,
        Command::Dlq(command) => dlq::dlq(&sqs, &clients.doctor.s3, command, output).await,
        Command::Schedules(args) => schedules::schedules(&clients.scheduler, args, output).await,
        Command::Cancel(args) => cancel::cancel(&clients.dynamodb, args, output).await,
        Command::Doctor(args) => doctor::doctor(&clients.doctor, args, output).await,
        Command::Ui(args) => {
            let clients = crate::console::ConsoleClients {
                sqs,
                dynamodb: clients.dynamodb,
                cloudwatch: clients.cloudwatch,
                lambda: clients.lambda,
                s3: clients.doctor.s3,
            };
            return ui::ui(clients, *args).await;
        }
        Command::Completions { shell } => completions(shell),
        Command::Man => manual(),
    };
    match result {
        Ok(code) => code,
        // Whoever reads stdout has all they wanted.
        Err(Stopped::StdoutClosed) => ExitCode::SUCCESS,
        Err(Stopped::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_SEND_FAILED)
        }
    }
}

/// The completion script, written whole once it is made.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Stopped> {
    use clap::CommandFactory as _;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "jobs", &mut script);
    output::write_bytes(&script)?;
    Ok(ExitCode::SUCCESS)
}

fn manual() -> Result<ExitCode, Stopped> {
    use clap::CommandFactory as _;
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| format!("cannot write the manual page: {e}"))?;
    output::write_bytes(&page)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
