//! Why a session ended, for the `reason` of a 401 (docs/api.md, "Why a session ended").
//!
//! The store remembers it in the user's index of sessions (docs/sessions.md), which already
//! holds each session's absolute expiry: an entry stays there after its session's key is gone,
//! until a day past that absolute expiry, and a hand that ends a session marks its entry with
//! why, which is then remembered for a day, as the trace keys of the previous release were.
//! Nothing is written when a session times out: its key is simply gone, and its entry, still
//! there, tells a timeout (`idle_timeout` before the absolute expiry, `expired` after it) from
//! a token that never named a session (`unknown`, no entry). The entry is read only when
//! checking a session failed, so the authenticated request keeps its one round trip.
//!
//! Releases before this one kept a *trace* key per session instead (`P{u:U}:t:H`, the
//! absolute expiry's digits or a mark `1`–`5`, see [`Trace::decode`]); those are still read,
//! after the index, while any can exist.

/// How long the store remembers a session after a hand ended it, and past its absolute expiry
/// otherwise: the contract asks for at least a day after its end, or until its absolute expiry
/// if sooner; a day past the absolute expiry also lets a session that reached it say `expired`
/// for a day, rather than `unknown` from that very moment.
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

    /// The small number the store keeps for it: in an index entry's score (below), and the
    /// digit a previous release's trace key held.
    pub fn mark(self) -> u8 {
        match self {
            Self::SignedOut => 1,
            Self::Revoked => 2,
            Self::RevokedByOperator => 3,
            Self::AccountDisabled => 4,
            Self::Evicted => 5,
        }
    }

    fn from_mark(mark: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.mark() == mark)
    }
}

/// What an index entry's mark says when no hand ended the session: it timed out (a walk
/// found its key gone), or it was revoked without a reason ([`Sessions::revoke`]).
///
/// [`Sessions::revoke`]: super::Sessions::revoke
pub const TIMED_OUT_MARK: u8 = 0;

/// How many marks one absolute expiry has room for in an ended entry's score.
const MARKS: i64 = 8;

/// What the store remembers of a session that may have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// It started, and ends at the latest at this absolute expiry (Unix ms).
    Started { absolute_ms: i64 },
    /// A hand ended it.
    Ended(Ending),
}

impl Trace {
    /// What a user's index says of a session, from its entry's score:
    ///
    /// - positive: the session's absolute expiry (Unix ms); it started, and is live or timed
    ///   out without anyone noticing yet;
    /// - negative: `-(t × 8 + mark)`, a session that ended: mark `TIMED_OUT_MARK` (0) for a
    ///   timeout a walk noticed, with t its absolute expiry (which tells `idle_timeout` from
    ///   `expired`), or an [`Ending`]'s, with t when the hand ended it. The entry is remembered
    ///   until [`REMEMBERED_MS`] past t. The numbers stay below 2^53, so a double (the score,
    ///   Lua's numbers) holds them exactly, and Redis keeps an integral score in 9 bytes of
    ///   its listpack.
    ///
    /// Negative, so that the previous release's scripts, which drop every entry scored below
    /// now, drop ended ones during a rolling upgrade instead of counting them as sessions.
    pub fn from_score(score: f64) -> Option<Self> {
        if !score.is_finite() || score.fract() != 0.0 || score.abs() >= 9.0e15 {
            return None;
        }
        // Integral and below 2^53: exact.
        let n = score as i64;
        if n > 0 {
            return Some(Self::Started { absolute_ms: n });
        }
        let n = -n;
        let at_ms = n / MARKS;
        let mark = u8::try_from(n % MARKS).ok()?;
        if at_ms == 0 {
            return None;
        }
        if mark == TIMED_OUT_MARK {
            return Some(Self::Started { absolute_ms: at_ms });
        }
        Ending::from_mark(mark).map(Self::Ended)
    }

    /// The score of an ended session's index entry (see [`Trace::from_score`]).
    pub fn ended_score(at_ms: i64, mark: u8) -> i64 {
        -(at_ms * MARKS + i64::from(mark))
    }

    /// A previous release's trace key: the absolute expiry's digits, or a mark `1`–`5`.
    pub fn decode(raw: &str) -> Option<Self> {
        if let Some(ending) = raw.parse::<u8>().ok().and_then(Ending::from_mark) {
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
    fn index_scores_read_back_as_written() {
        let absolute_ms = 1_797_800_000_000;
        for ending in Ending::ALL {
            let score = Trace::ended_score(absolute_ms, ending.mark());
            assert!(score < 0 && score.unsigned_abs() < 1 << 53);
            assert_eq!(Trace::from_score(score as f64), Some(Trace::Ended(ending)));
        }
        let started = Some(Trace::Started { absolute_ms });
        assert_eq!(Trace::from_score(absolute_ms as f64), started);
        let timed_out = Trace::ended_score(absolute_ms, TIMED_OUT_MARK);
        assert_eq!(Trace::from_score(timed_out as f64), started);
        for bad in [0.0, -7.0, -6.0, 1.5, f64::NAN, f64::INFINITY, -1e17] {
            assert_eq!(Trace::from_score(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_previous_releases_trace_keys_still_read() {
        assert_eq!(
            Trace::decode("1797800000000"),
            Some(Trace::Started {
                absolute_ms: 1_797_800_000_000
            })
        );
        for ending in Ending::ALL {
            assert_eq!(
                Trace::decode(&ending.mark().to_string()),
                Some(Trace::Ended(ending))
            );
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
