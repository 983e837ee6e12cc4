//! Results on stdout, and what ends a command early.
//!
//! `println!` panics when stdout's reader has gone (`jobs dlq show ID | grep -q
//! reason` closes the pipe at its first match). Writes here return
//! [`Stopped::StdoutClosed`] instead, which a command passes up with `?` and
//! [`super::run`] turns into a quiet exit. Commands that change something
//! (`jobs enqueue`, `jobs ui`) ignore it and carry on: what they do matters
//! more than what they print.

use std::io::Write as _;

/// Why a command ended before its end.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// A problem, said on stderr (exit 1).
    Failed(String),
    /// The reader of stdout has gone: nothing more to say to anyone.
    StdoutClosed,
}

impl From<String> for Stopped {
    fn from(message: String) -> Self {
        Stopped::Failed(message)
    }
}

impl From<&str> for Stopped {
    fn from(message: &str) -> Self {
        Stopped::Failed(message.to_owned())
    }
}

impl Stopped {
    fn writing(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Stopped::StdoutClosed
        } else {
            Stopped::Failed(format!("cannot write to standard output: {e}"))
        }
    }
}

/// Writes `text` to stdout.
pub(crate) fn write_fmt(text: std::fmt::Arguments<'_>) -> Result<(), Stopped> {
    std::io::stdout()
        .lock()
        .write_fmt(text)
        .map_err(Stopped::writing)
}

/// Writes `bytes` to stdout and flushes them.
pub(crate) fn write_bytes(bytes: &[u8]) -> Result<(), Stopped> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Stopped::writing)
}

/// `print!` that returns `Err(Stopped)` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` that returns `Err(Stopped)` instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::output::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// One JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<(), Stopped> {
    outln!("{value}")
}
