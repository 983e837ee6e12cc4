//! JSON logs, one object per line, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Sets up JSON logs once; a second call (a test, a second runtime) changes nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init()
        .ok();
}
