//! What became of each job of a long input, written as its call returns.

use std::io::Write as _;

use producer::send::queue::{BatchReport, FailedJob, SentJob};

use super::super::Output;
use super::super::progress::Progress;

/// Writes what became of each job as its call returns: a line per job (text),
/// or one JSON document `{"jobs": [...], "sent": N}` written as it grows, so
/// that nothing of a long input is held in memory.
pub(super) struct SendReport {
    output: Output,
    out: std::io::BufWriter<std::io::Stdout>,
    progress: Progress,
    sent: usize,
    failed: usize,
}

impl SendReport {
    pub(super) fn new(output: Output, total: usize) -> Self {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
        if output == Output::Json {
            let _ = write!(out, "{{\"jobs\":[");
        }
        SendReport {
            output,
            out,
            progress: Progress::bar("sending", total as u64, "jobs"),
            sent: 0,
            failed: 0,
        }
    }

    pub(super) fn add(&mut self, batch: BatchReport) {
        let mut results: Vec<Result<SentJob, FailedJob>> = batch
            .sent
            .into_iter()
            .map(Ok)
            .chain(batch.failed.into_iter().map(Err))
            .collect();
        results.sort_by_key(|r| match r {
            Ok(sent) => sent.index,
            Err(failed) => failed.index,
        });
        if self.progress.shown() {
            // On a terminal each call's lines show at once, above the bar.
            let progress = self.progress.clone();
            progress.suspend(|| {
                for result in &results {
                    self.write(result);
                }
                let _ = self.out.flush();
            });
        } else {
            for result in &results {
                self.write(result);
            }
        }
        self.progress.advance(results.len() as u64);
    }

    fn write(&mut self, result: &Result<SentJob, FailedJob>) {
        let first = self.sent + self.failed == 0;
        match result {
            Ok(_) => self.sent += 1,
            Err(_) => self.failed += 1,
        }
        let written = match (self.output, result) {
            (Output::Json, Ok(sent)) => write!(
                self.out,
                "{}{}",
                if first { "" } else { "," },
                serde_json::json!({
                    "index": sent.index, "job_id": sent.job_id,
                    "kind": sent.kind, "message_id": sent.message_id,
                })
            ),
            (Output::Json, Err(failed)) => write!(
                self.out,
                "{}{}",
                if first { "" } else { "," },
                serde_json::json!({
                    "index": failed.index, "job_id": failed.job_id, "kind": failed.kind,
                    "error": {"code": failed.code, "message": failed.message,
                              "may_succeed_if_sent_again": !failed.sender_fault},
                })
            ),
            (Output::Text, Ok(sent)) => writeln!(
                self.out,
                "enqueued {} job {} as message {}",
                sent.kind, sent.job_id, sent.message_id
            ),
            (Output::Text, Err(_)) => Ok(()),
        };
        // Stdout closed (a pipe whose reader left): the sends go on; the exit code tells.
        drop(written);
        if let Err(failed) = result {
            eprintln!(
                "failed: job {} (id `{}`): {}: {}{}",
                failed.index,
                failed.job_id,
                failed.code,
                failed.message,
                if failed.sender_fault {
                    ""
                } else {
                    " (may succeed if sent again)"
                }
            );
        }
    }

    /// Closes the document; returns how many jobs were sent and how many failed.
    pub(super) fn finish(mut self) -> (usize, usize) {
        self.progress.finish();
        if self.output == Output::Json {
            let _ = writeln!(self.out, "],\"sent\":{}}}", self.sent);
        }
        let _ = self.out.flush();
        (self.sent, self.failed)
    }
}
