//! Progress on standard error, drawn by `indicatif`: only when stderr is a
//! terminal, so pipes, files and `--output json` see nothing of it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A count or a bar on stderr; cloning shares it.
#[derive(Debug, Clone)]
pub(super) struct Progress {
    bar: ProgressBar,
    /// The template once done: the time taken instead of what is left.
    finished: &'static str,
}

/// Whole items a second: `1200/s` (indicatif's own `{per_sec}` has decimals).
fn rate(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{:.0}/s", state.per_sec());
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", rate)
        .progress_chars("#>-")
}

impl Progress {
    /// `total` items (`None`: not known), shown with `running`'s template,
    /// then `finished`'s.
    fn new(
        total: Option<u64>,
        label: String,
        unit: &'static str,
        running: &str,
        finished: &'static str,
    ) -> Self {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden())
            .with_style(style(running))
            .with_prefix(label)
            .with_message(unit);
        // Drawn once set up, at most 10 times a second (the default is 20):
        // the count of a fast check changes too quickly to read anyway.
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        Progress { bar, finished }
    }

    /// Items counted as they come, with no total known: `checking 95 jobs, 1200/s`.
    pub(super) fn count(label: impl Into<String>, unit: &'static str) -> Self {
        let template = "{prefix} {human_pos} {msg}, {rate}";
        Progress::new(None, label.into(), unit, template, template)
    }

    /// A bar towards `total` items: `sending [####>----] 40/95 jobs, 300/s, 1s left`.
    pub(super) fn bar(label: &'static str, total: u64, unit: &'static str) -> Self {
        Progress::new(
            Some(total),
            label.into(),
            unit,
            "{prefix} [{bar:30}] {human_pos}/{human_len} {msg}, {rate}, {eta} left",
            "{prefix} [{bar:30}] {human_pos}/{human_len} {msg}, {rate}, in {elapsed}",
        )
    }

    /// A bar towards `total` bytes: `staging [##>---] 12.00 MiB/50.00 MiB, 30.00 MiB/s, 2s left`.
    pub(super) fn bytes(label: &'static str, total: u64) -> Self {
        Progress::new(
            Some(total),
            label.into(),
            "",
            "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes}, {binary_bytes_per_sec}, {eta} left",
            "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes}, {binary_bytes_per_sec}, in {elapsed}",
        )
    }

    /// True when it is drawn: stderr is a terminal.
    pub(super) fn shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    pub(super) fn advance(&self, by: u64) {
        self.bar.inc(by);
    }

    pub(super) fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Runs `write` with the bar off the screen, so what it prints starts on a
    /// clean line; the bar is drawn again below it.
    pub(super) fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        self.bar.suspend(write)
    }

    /// Leaves the last state drawn on a line of its own, or nothing when
    /// nothing was counted.
    pub(super) fn finish(&self) {
        if self.bar.position() == 0 {
            self.bar.finish_and_clear();
        } else {
            self.bar.set_style(style(self.finished));
            self.bar.finish();
            if self.shown() {
                // indicatif leaves the cursor at the end of the bar.
                eprintln!();
            }
        }
    }
}
