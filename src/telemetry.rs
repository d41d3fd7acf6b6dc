//! Logging through `tracing`: human-readable in development, JSON in production.
//! `RUST_LOG` overrides `log.level`. Nothing secret is ever put in a span or an event.
//!
//! The log goes to **stderr**, for every command: stdout is the commands' own output
//! (`sessions list --json` must stay one parseable document), and a server's stderr is
//! collected like its stdout by Docker, systemd and Kubernetes. Colours only when stderr is
//! a terminal and `NO_COLOR` is not set, so a file or a log pipeline never gets escape codes.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{log_filter, LogFormat, LogSettings};

/// Installs the global subscriber; a second call (tests) leaves the first in place.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| log_filter(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ));
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Colours on a terminal, unless `NO_COLOR` is set to anything but the empty string
/// (https://no-color.org).
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colours;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())));
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
    }
}
