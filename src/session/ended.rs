//! Why a session ended, for the `reason` of a 401 (docs/api.md, "Why a session ended").
//!
//! Beside each session the store keeps a small *trace* under the session's own hash, in the
//! user's hash slot: written when the session starts (its absolute expiry, living until a day
//! past it), and overwritten when a hand ends the session (the ending, living a day). Nothing
//! is written when a session times out: the session's record is simply gone, and its trace,
//! still there, tells a timeout (`idle_timeout` before the absolute expiry, `expired` after
//! it) from a token that never named a session (`unknown`, no trace). The trace is read only
//! when checking a session failed, so the authenticated request keeps its one round trip.

/// A day: how long an ending is remembered, and how long past its absolute expiry a
/// session's start is.
pub const REMEMBERED_MS: i64 = 24 * 3600 * 1000;

/// Why a hand ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The user signed out with it (or signed in again over it).
    SignedOut,
    /// The user revoked it from another of their sessions.
    Revoked,
    /// An operator revoked it.
    RevokedByOperator,
    /// The user was disabled (or erased).
    AccountDisabled,
    /// A login beyond `session.max_per_user` ended it, the user's oldest.
    Evicted,
}

impl Ending {
    const ALL: [Self; 5] = [
        Self::SignedOut,
        Self::Revoked,
        Self::RevokedByOperator,
        Self::AccountDisabled,
        Self::Evicted,
    ];

    /// The `reason` of the 401.
    pub fn code(self) -> &'static str {
        match self {
            Self::SignedOut => "signed_out",
            Self::Revoked => "revoked",
            Self::RevokedByOperator => "revoked_by_operator",
            Self::AccountDisabled => "account_disabled",
            Self::Evicted => "evicted",
        }
    }

    /// The small number the store keeps: a trace is written for every session, so its bytes
    /// count, and Redis keeps a value that reads as an integer in the key's own object (16
    /// bytes fewer than a one-letter string). No absolute expiry is that small.
    pub fn mark(self) -> &'static str {
        match self {
            Self::SignedOut => "1",
            Self::Revoked => "2",
            Self::RevokedByOperator => "3",
            Self::AccountDisabled => "4",
            Self::Evicted => "5",
        }
    }

    fn from_mark(mark: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.mark() == mark)
    }
}

/// What the store remembers of a session that may have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// It started, and ends at the latest at this absolute expiry (Unix ms).
    Started { absolute_ms: i64 },
    /// A hand ended it.
    Ended(Ending),
}

impl Trace {
    /// The stored form: the absolute expiry's digits, or an ending's mark.
    pub fn encode(self) -> String {
        match self {
            Self::Started { absolute_ms } => absolute_ms.to_string(),
            Self::Ended(ending) => ending.mark().to_owned(),
        }
    }

    pub fn decode(raw: &str) -> Option<Self> {
        if let Some(ending) = Ending::from_mark(raw) {
            return Some(Self::Ended(ending));
        }
        match raw.parse::<i64>() {
            // Any time after 2001: not a mark.
            Ok(absolute_ms) if absolute_ms > 1_000_000_000_000 => {
                Some(Self::Started { absolute_ms })
            }
            _ => None,
        }
    }
}

/// Why a credential names no live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Ended(Ending),
    IdleTimeout,
    /// The absolute timeout.
    Expired,
    /// No session latchkey remembers.
    Unknown,
}

impl Why {
    /// What a trace read at `now_ms` says.
    pub fn from_trace(trace: Option<Trace>, now_ms: i64) -> Self {
        match trace {
            Some(Trace::Ended(ending)) => Self::Ended(ending),
            Some(Trace::Started { absolute_ms }) if now_ms >= absolute_ms => Self::Expired,
            Some(Trace::Started { .. }) => Self::IdleTimeout,
            None => Self::Unknown,
        }
    }

    /// The `reason` of the 401.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ended(ending) => ending.code(),
            Self::IdleTimeout => "idle_timeout",
            Self::Expired => "expired",
            Self::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_read_back_as_written() {
        for trace in Ending::ALL
            .into_iter()
            .map(Trace::Ended)
            .chain([Trace::Started {
                absolute_ms: 1_797_800_000_000,
            }])
        {
            assert_eq!(Trace::decode(&trace.encode()), Some(trace));
        }
        assert_eq!(Trace::decode("x"), None);
        assert_eq!(Trace::decode("7"), None);
        assert_eq!(Trace::decode(""), None);
    }

    #[test]
    fn a_started_trace_tells_the_two_timeouts_apart() {
        let started = Some(Trace::Started { absolute_ms: 1000 });
        assert_eq!(Why::from_trace(started, 999), Why::IdleTimeout);
        assert_eq!(Why::from_trace(started, 1000), Why::Expired);
        assert_eq!(Why::from_trace(None, 0).code(), "unknown");
        assert_eq!(
            Why::from_trace(Some(Trace::Ended(Ending::Evicted)), 5000).code(),
            "evicted"
        );
    }
}
