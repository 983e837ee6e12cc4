//! What `jobs enqueue` was given: one job from its arguments, or a file of
//! envelopes (JSON Lines), with the payload schemas to check them against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use producer::contract::envelope::Envelope;

use crate::lines::JsonLines;
use crate::schema::PayloadSchema;

/// A refusal before anything was sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub(super) String);

/// What `jobs enqueue` was given: one job, or a JSON Lines file read twice.
#[derive(Debug)]
pub enum Input {
    One(Box<Envelope>),
    Lines(JsonLines),
}

/// A file this size or smaller may hold one envelope over several lines.
const ONE_ENVELOPE_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// One envelope (which may span lines), or JSON Lines: one envelope per
/// non-empty line.
pub(super) fn json_input(path: &Path) -> Result<Input, InputError> {
    let lines = JsonLines::open(path).map_err(|e| {
        InputError(if path == Path::new("-") {
            format!("cannot read standard input: {e}")
        } else {
            format!("cannot read `{}`: {e}", path.display())
        })
    })?;
    let unreadable =
        |e: std::io::Error| InputError(format!("cannot read `{}`: {e}", lines.shown()));
    if lines.size_bytes().map_err(unreadable)? <= ONE_ENVELOPE_MAX_BYTES {
        let text = read_text(lines.path())?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(InputError(format!("`{}` holds no jobs", path.display())));
        }
        if let Ok(envelope) = Envelope::decode(trimmed) {
            return Ok(Input::One(Box::new(envelope)));
        }
    }
    Ok(Input::Lines(lines))
}

/// The payload schemas given with `--schema`, by kind.
pub(super) fn payload_schemas(
    schemas: &[PathBuf],
) -> Result<BTreeMap<String, PayloadSchema>, InputError> {
    let mut by_kind = BTreeMap::new();
    for path in schemas {
        let text = read_text(path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| InputError(format!("`{}` is not JSON: {e}", path.display())))?;
        let schema = PayloadSchema::from_json(&value)
            .map_err(|e| InputError(format!("`{}` {e}", path.display())))?;
        by_kind.insert(schema.kind().to_owned(), schema);
    }
    Ok(by_kind)
}

/// Checks a job against its kind's schema, when one was given.
pub(super) fn check_payload(
    schemas: &BTreeMap<String, PayloadSchema>,
    index: usize,
    envelope: &Envelope,
) -> Result<(), InputError> {
    match schemas.get(envelope.kind()) {
        Some(schema) => schema.check(&envelope.job.payload()).map_err(|errors| {
            InputError(format!(
                "job {index} (id `{}`) is invalid: {errors}",
                envelope.id
            ))
        }),
        None => Ok(()),
    }
}

pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|e| InputError(format!("cannot read `{}`: {e}", path.display())))
}

pub(super) fn read_text(path: &Path) -> Result<String, InputError> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| InputError(format!("`{}` is not UTF-8 text", path.display())))
}

#[cfg(test)]
mod tests {
    use super::super::input;
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;
    use producer::contract::envelope::Job;

    #[test]
    fn mail_arguments_become_a_mail_job() {
        let cli = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "mail",
            "--from",
            "a@example.com",
            "--to",
            "b@example.com",
            "--to",
            "c@example.com",
            "--subject",
            "hi",
            "--text",
            "body",
            "--id",
            "order-42",
        ])
        .expect("parses");
        let Command::Enqueue(args) = cli.command else {
            panic!("not enqueue")
        };
        let Ok(Input::One(envelope)) = input(&args) else {
            panic!("not one job")
        };
        assert_eq!(envelope.id, "order-42");
        let Job::Mail(mail) = &envelope.job else {
            panic!("not mail")
        };
        assert_eq!(mail.to, ["b@example.com", "c@example.com"]);
    }

    #[test]
    fn json_and_a_kind_conflict() {
        let cli = Cli::try_parse_from([
            "jobs",
            "enqueue",
            "--json",
            "x.json",
            "mail",
            "--from",
            "a@example.com",
            "--to",
            "b@example.com",
            "--subject",
            "s",
        ])
        .expect("parses");
        let Command::Enqueue(args) = cli.command else {
            panic!("not enqueue")
        };
        let Err(err) = input(&args) else {
            panic!("one or the other")
        };
        assert!(
            err.to_string()
                .starts_with("say what to enqueue, one way only"),
            "{err}"
        );
    }
}
