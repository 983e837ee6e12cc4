//! `jobs dlq`: list, show, redrive and purge dead letters.

use std::process::ExitCode;

use clap::Subcommand;

use super::output::{Stopped, print_json};
use super::progress::Progress;
use super::queues::{QueueArgs, served, with_dead_letters};
use super::{EXIT_SEND_FAILED, Output};
use crate::dead_letters as ops;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters grouped by kind and reason.
    List(QueueArgs),
    /// One dead letter in full: its body and the reason it failed.
    Show {
        /// A job id or an SQS message id.
        id: String,
        #[command(flatten)]
        queues: QueueArgs,
    },
    /// Send dead letters back to the job queue, bodies unchanged.
    Redrive {
        #[command(flatten)]
        queues: QueueArgs,
        /// Every dead letter.
        #[arg(long, conflicts_with_all = ["kind", "id"])]
        all: bool,
        /// Those of one kind (`mail`, `upload`, `http`, …).
        #[arg(long, conflicts_with = "id")]
        kind: Option<String>,
        /// One job, by job id or SQS message id.
        #[arg(long)]
        id: Option<String>,
        /// Say what would be sent back, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every dead letter (asks first).
    Purge {
        #[command(flatten)]
        queues: QueueArgs,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) async fn dlq(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    command: DlqCommand,
    output: Output,
) -> Result<ExitCode, Stopped> {
    match command {
        DlqCommand::List(args) => {
            let mut all = Vec::new();
            for (queue, dlq) in with_dead_letters(sqs, &args).await? {
                let letters = ops::list_dead_letters(sqs, &dlq, args.limit)
                    .await
                    .map_err(|e| e.to_string())?;
                all.push((queue, letters));
            }
            if output == Output::Json {
                let letters: Vec<_> = all
                    .iter()
                    .flat_map(|(queue, letters)| {
                        letters.iter().map(|l| {
                            let mut json = dead_letter_json(l, false);
                            json["queue"] = queue.name.clone().into();
                            json
                        })
                    })
                    .collect();
                print_json(&serde_json::json!({"count": letters.len(), "dead_letters": letters}))?;
                return Ok(ExitCode::SUCCESS);
            }
            for (i, (queue, letters)) in all.iter().enumerate() {
                if i > 0 {
                    outln!()?;
                }
                outln!("{}: {} dead letters", queue.name, letters.len())?;
                for ((kind, code), group) in ops::group(letters) {
                    outln!("\n  {kind} / {code}: {}", group.len())?;
                    for letter in group {
                        outln!(
                            "    {}  {}  {}",
                            letter.job_id,
                            letter.failed_at,
                            letter.reason
                        )?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { id, queues: args } => {
            let mut found = None;
            let covered = with_dead_letters(sqs, &args).await?;
            let served = served(
                &covered.iter().map(|(q, _)| q.clone()).collect::<Vec<_>>(),
                &args,
            );
            for (queue, dlq) in covered {
                let letters = ops::list_dead_letters(sqs, &dlq, args.limit)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(letter) = letters
                    .into_iter()
                    .find(|l| l.job_id == id || l.message_id == id)
                {
                    found = Some((queue, letter));
                    break;
                }
            }
            let (queue, mut letter) =
                found.ok_or_else(|| format!("no dead letter with job id or message id `{id}`"))?;
            // A pointer message is shown with the envelope it points at,
            // when that is in the payload bucket.
            let stored = ops::stored_body(s3, &letter, &served)
                .await
                .map_err(|e| e.to_string())?;
            let pointer = letter.body.clone();
            let (mut stored_at, mut outside, mut cut) = (None, None, false);
            match stored {
                ops::StoredBody::Inline => {}
                ops::StoredBody::Outside(why) => outside = Some(why),
                ops::StoredBody::Read { text, cut: was_cut } => {
                    letter.body = text;
                    stored_at = letter.payload.as_ref().map(|p| p.url());
                    cut = was_cut;
                }
            }
            if output == Output::Json {
                let mut json = dead_letter_json(&letter, true);
                json["queue"] = queue.name.clone().into();
                if let Some(stored_at) = &stored_at {
                    json["stored_at"] = stored_at.clone().into();
                    json["pointer"] = pointer.into();
                    json["body_cut"] = cut.into();
                }
                if let Some(outside) = &outside {
                    json["pointer_outside"] = outside.clone().into();
                }
                print_json(&json)?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!("job id:      {}", letter.job_id)?;
            outln!("message id:  {}", letter.message_id)?;
            outln!("queue:       {}", queue.name)?;
            outln!("kind:        {}", letter.kind)?;
            outln!(
                "error:       {} ({})",
                letter.error_code,
                letter.error_class
            )?;
            outln!("reason:      {}", letter.reason)?;
            outln!("failed at:   {}", letter.failed_at)?;
            if let Some(stored_at) = &stored_at {
                outln!("stored at:   {stored_at}")?;
            }
            if let Some(outside) = &outside {
                outln!("pointer:     {outside}")?;
            }
            let body = serde_json::from_str::<serde_json::Value>(&letter.body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| letter.body.clone());
            outln!("body:\n{body}")?;
            if cut {
                outln!(
                    "(cut: only the first {} bytes of the stored envelope are shown)",
                    ops::SHOWN_STORED_BYTES
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Redrive {
            queues: args,
            all,
            kind,
            id,
            dry_run,
        } => {
            let selection = match (all, kind, id) {
                (true, _, _) => ops::Selection::All,
                (_, Some(kind), _) => ops::Selection::Kind(kind),
                (_, _, Some(id)) => ops::Selection::Id(id),
                _ => return Err("say which: `--all`, `--kind KIND` or `--id ID`".into()),
            };
            let verb = if dry_run {
                "would send back"
            } else {
                "sent back"
            };
            let covered = with_dead_letters(sqs, &args).await?;
            let served = served(
                &covered.iter().map(|(q, _)| q.clone()).collect::<Vec<_>>(),
                &args,
            );
            let mut refused = 0;
            // From here on, a closed stdout does not stop the redrive half-way.
            for (queue, dlq) in covered {
                let done = ops::redrive(
                    sqs, &dlq, &queue.url, &selection, dry_run, args.limit, &served,
                )
                .await
                .map_err(|e| e.to_string())?;
                for (job, why) in &done.refused {
                    eprintln!("error: dead letter `{job}` was not sent back: {why}");
                }
                refused += done.refused.len();
                if let Some(task) = done.move_task {
                    let _ = outln!(
                        "{}: SQS is moving every dead letter back (move task {task})",
                        queue.name
                    );
                    continue;
                }
                let _ = outln!(
                    "{}: {verb} {} dead letters; {} left alone",
                    queue.name,
                    done.moved.len(),
                    done.left
                );
                for job_id in &done.moved {
                    let _ = outln!("  {job_id}");
                }
            }
            Ok(if refused > 0 {
                ExitCode::from(EXIT_SEND_FAILED)
            } else {
                ExitCode::SUCCESS
            })
        }
        DlqCommand::Purge { queues: args, yes } => {
            let mut chosen = Vec::new();
            let covered = with_dead_letters(sqs, &args).await?;
            let served = served(
                &covered.iter().map(|(q, _)| q.clone()).collect::<Vec<_>>(),
                &args,
            );
            for (queue, dlq) in covered {
                let stats = crate::stats::stats(sqs, &queue.url, Some(&dlq))
                    .await
                    .map_err(|e| e.to_string())?;
                chosen.push((dlq, stats.dead));
            }
            if !yes {
                let listed: Vec<String> = chosen
                    .iter()
                    .map(|(dlq, dead)| format!("{dead} from {dlq}"))
                    .collect();
                eprint!(
                    "delete all dead letters ({})? type `yes`: ",
                    listed.join(", ")
                );
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if answer.trim() != "yes" {
                    eprintln!("nothing was deleted");
                    return Ok(ExitCode::from(EXIT_SEND_FAILED));
                }
            }
            for (dlq, _) in chosen {
                let progress = Progress::count(
                    format!("purging {}", producer::send::queue::queue_name_of(&dlq)),
                    "deleted",
                );
                let purged =
                    ops::purge(sqs, s3, &dlq, &served, |so_far| progress.set(so_far as u64)).await;
                progress.finish();
                let purged = purged.map_err(|e| e.to_string())?;
                let _ = outln!(
                    "purged {dlq}: {} dead letters, {} stored envelopes",
                    purged.jobs.len(),
                    purged.stored_bodies
                );
                for outside in &purged.pointers_outside {
                    eprintln!(
                        "warning: a pointer outside the payload bucket was deleted with its message; `{outside}` was left alone"
                    );
                }
                for left in &purged.bodies_left {
                    eprintln!(
                        "warning: a stored envelope was left to the bucket's lifecycle rule: {left}"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A dead letter as `dlq list` and `dlq show` print it in JSON; `show` adds the body.
fn dead_letter_json(letter: &ops::DeadLetter, with_body: bool) -> serde_json::Value {
    let mut value = serde_json::json!({
        "job_id": letter.job_id,
        "message_id": letter.message_id,
        "kind": letter.kind,
        "error_class": letter.error_class,
        "error_code": letter.error_code,
        "reason": letter.reason,
        "failed_at": letter.failed_at,
    });
    if with_body {
        // The body as JSON when it is JSON (a poison message may not be).
        value["body"] = serde_json::from_str(&letter.body)
            .unwrap_or_else(|_| serde_json::Value::String(letter.body.clone()));
    }
    value
}
