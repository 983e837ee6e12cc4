//! Jobs from JSON Lines, read twice in constant memory: once to check every
//! line before anything is sent, once to send. Standard input, which cannot be
//! read twice, is first copied to a temporary file.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};

use producer::contract::envelope::Envelope;

/// A JSON Lines file of envelopes, one per non-empty line.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    /// How the input is named in messages: its path, or `-`.
    shown: String,
    /// Standard input's copy, removed when this is dropped.
    spooled: bool,
}

/// A line that is not a job, or input that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{shown} line {line}: {message}")]
pub struct LineError {
    pub shown: String,
    /// 1-based, counting empty lines.
    pub line: usize,
    pub message: String,
}

impl JsonLines {
    /// Opens `path`; `-` copies standard input to a temporary file first.
    pub fn open(path: &Path) -> Result<Self, std::io::Error> {
        if path != Path::new("-") {
            File::open(path)?;
            return Ok(JsonLines {
                path: path.to_owned(),
                shown: path.display().to_string(),
                spooled: false,
            });
        }
        let spool = std::env::temp_dir().join(format!("jobs-stdin-{}.jsonl", uuid::Uuid::new_v4()));
        let lines = JsonLines {
            path: spool,
            shown: "-".into(),
            spooled: true,
        };
        let mut file = File::create(&lines.path)?;
        std::io::copy(&mut std::io::stdin().lock(), &mut file)?;
        Ok(lines)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the input is named in messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The input's size in bytes.
    pub fn size_bytes(&self) -> Result<u64, std::io::Error> {
        Ok(std::fs::metadata(&self.path)?.len())
    }

    /// Each non-empty line's number and envelope, from the start.
    pub fn envelopes(
        &self,
    ) -> Result<impl Iterator<Item = Result<(usize, Envelope), LineError>> + '_, std::io::Error>
    {
        let reader = BufReader::with_capacity(1 << 16, File::open(&self.path)?);
        let error = |line: usize, message: String| LineError {
            shown: self.shown.clone(),
            line,
            message,
        };
        Ok(reader
            .lines()
            .enumerate()
            .filter_map(move |(number, line)| match line {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => Some(
                    Envelope::decode(&line)
                        .map(|envelope| (number + 1, envelope))
                        .map_err(|e| error(number + 1, e.to_string())),
                ),
                Err(e) => Some(Err(error(number + 1, format!("cannot read: {e}")))),
            }))
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        if self.spooled {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_as_in_the_file_and_blank_ones_skipped() {
        let dir = std::env::temp_dir().join(format!("jobs-lines-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("jobs.jsonl");
        let job = r#"{"version":1,"id":"a","kind":"custom_kind","created_at":"2026-11-28T04:21:00Z","job":{}}"#;
        std::fs::write(&path, format!("{job}\n\n{job}\nnot json\n")).expect("write");
        let lines = JsonLines::open(&path).expect("opens");
        let read: Vec<_> = lines.envelopes().expect("reads").collect();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].as_ref().map(|(n, _)| *n).ok(), Some(1));
        assert_eq!(read[1].as_ref().map(|(n, _)| *n).ok(), Some(3));
        let bad = read[2].as_ref().expect_err("not a job");
        assert_eq!(bad.line, 4);
        assert!(
            bad.to_string()
                .starts_with(&format!("{} line 4: ", path.display()))
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
