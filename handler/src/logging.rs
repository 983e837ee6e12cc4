//! JSON logs, one object per line, filtered by `RUST_LOG` (default `info`).
//!
//! `RUST_LOG` takes `level` and `target=level` directives, comma-separated
//! (`info`, `warn,handler=debug`). Span and field filters are not read: they
//! need a regular-expression engine, which made the Lambda zip larger and its
//! start slower than these logs are worth.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter `RUST_LOG` asks for; `info` when it is unset or cannot be read.
pub fn filter_from(rust_log: Option<&str>) -> Targets {
    rust_log
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Sets up JSON logs once; a second call (a test, a second runtime) changes nothing.
pub fn init() {
    let filter = filter_from(std::env::var("RUST_LOG").ok().as_deref());
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false);
    tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .try_init()
        .ok();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_levels_and_targets_are_read_and_anything_else_means_info() {
        let default = filter_from(None);
        assert!(default.would_enable("handler::batch", &Level::INFO));
        assert!(!default.would_enable("handler::batch", &Level::DEBUG));
        let targeted = filter_from(Some("warn,handler=debug"));
        assert!(targeted.would_enable("handler::batch", &Level::DEBUG));
        assert!(!targeted.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(targeted.would_enable("aws_smithy_runtime", &Level::WARN));
        let unreadable = filter_from(Some("handler=[span]"));
        assert!(unreadable.would_enable("handler", &Level::INFO));
    }
}
