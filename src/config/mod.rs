//! Layered configuration ([docs/configuration.md](../../docs/configuration.md)).
//!
//! Layers, later wins: the embedded `config/default.toml`, `config/default.toml` on disk,
//! `config/<LATCHKEY_ENV>.toml` (embedded, then on disk), an optional `--config <file>`, then
//! `LATCHKEY__<SECTION>__<KEY>` environment variables. The files are embedded so that the
//! binary starts with nothing beside it; the copies on disk let an operator change a value
//! without rebuilding.
//!
//! Validation happens once, here, so that the rest of the program can trust every value and a
//! bad one stops start-up with a single line that names the key. That includes a key that
//! does not exist, in any layer ([`keys`]): a misspelt setting must not go unnoticed.
//!
//! The settings serialize for `latchkey config check`, every secret through [`redact`].

mod keys;
mod load;
mod redact;
mod summary;
mod types;
mod validate;

pub use self::load::Sources;
pub use self::redact::{url as redacted_url, REDACTED};
pub use self::summary::Summary;
pub use self::types::*;
pub use self::validate::log_filter;

/// A configuration that cannot be used. The message is one line that names the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn key(key: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{key}: {problem}"))
    }
}

/// config-rs names the key at the end (`… for key `server.port` in the environment`); here
/// it comes first, as in every other message, and its origin last.
impl From<::config::ConfigError> for ConfigError {
    fn from(e: ::config::ConfigError) -> Self {
        use ::config::ConfigError as E;
        let (key, problem, origin) = match &e {
            E::Type {
                key: Some(key),
                unexpected,
                expected,
                origin,
            } => (
                key,
                format!("invalid type: {unexpected}, expected {expected}"),
                origin,
            ),
            E::At {
                key: Some(key),
                error,
                origin,
            } => (key, error.to_string(), origin),
            _ => return Self(one_line(&e.to_string())),
        };
        let problem = match origin {
            Some(origin) => format!("{problem} ({})", keys::describe_origin(key, origin)),
            None => problem,
        };
        Self::key(key, one_line(&problem))
    }
}

/// config-rs errors can span lines (TOML parse errors quote the source); a configuration
/// error is one line.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
