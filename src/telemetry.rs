//! Logging through `tracing`: human-readable in development, JSON in production.
//! `RUST_LOG` overrides `log.level`. Nothing secret is ever put in a span or an event.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; a second call (tests) leaves the first in place.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| filter(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
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

/// The filter a `log.level` names, in `EnvFilter` syntax (`info`, `warn,latchkey=debug`).
///
/// Stricter than `EnvFilter` alone: it reads a bare word that is not a level (`verbose`,
/// `warning`) as a target name, which would show that target only and silence every other
/// log. Such a word is refused; a target takes its level after `=`.
pub fn filter(level: &str) -> Result<EnvFilter, String> {
    let directives: Vec<&str> = level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Err("is empty; use a level such as info".to_owned());
    }
    for directive in &directives {
        let names_a_target = directive.contains(['=', '[']);
        if !names_a_target && directive.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "`{directive}` is not a level (trace, debug, info, warn, error or off); \
                 a target takes its level after `=`, as in latchkey=debug"
            ));
        }
    }
    EnvFilter::try_new(level).map_err(|e| format!("`{level}` is not a log filter: {e}"))
}
