//! The exit policy: which failure is which exit status, and how it is reported.

use super::output::printable;
use crate::admin::AdminError;

/// Exit status (docs/operations.md, "Exit status and errors"): 0 done, 1 nothing matched or a domain error, 2 bad usage or
/// configuration.
pub enum Failure {
    Domain(anyhow::Error),
    Usage(anyhow::Error),
}

impl Failure {
    /// Prints the error as one line on stderr; the process exit status.
    pub fn report(self) -> i32 {
        let (error, code) = match self {
            Self::Domain(e) => (e, 1),
            Self::Usage(e) => (e, 2),
        };
        // The error can quote what a provider sent (an email), so it is made printable too.
        eprintln!("error: {}", printable(&one_line(&error)));
        code
    }
}

pub(super) fn one_line(error: &anyhow::Error) -> String {
    // Some causes repeat their source's text in their own (sqlx does); say each thing once.
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        if e.is_usage() {
            Self::Usage(e.into())
        } else {
            Self::Domain(e.into())
        }
    }
}
