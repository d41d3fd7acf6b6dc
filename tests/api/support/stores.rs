//! Sessions as the store-level suites (`store.rs`, `compact_layout.rs`) hand them to a
//! `SessionStore` directly, with their times passed in.

use latchkey::session::{NewSession, SessionRecord, SessionToken, TouchParams, Transport};
use uuid::Uuid;

use super::users::profile;

/// A new session of `user_id` started at `now`, ending after `idle_ms` unused or `absolute_ms`
/// after `now`. Its user agent and profile hold the packed layouts' separators (`|`, and the
/// compact layout's `~`) and multi-byte text, where a client or a provider could put them.
pub fn new_session(
    user_id: Uuid,
    now: i64,
    idle_ms: i64,
    absolute_ms: i64,
) -> (SessionToken, NewSession) {
    let token = SessionToken::generate(user_id);
    let new = NewSession {
        user_id,
        hash: token.hash(),
        record: SessionRecord {
            created_ms: now,
            last_seen_ms: now,
            absolute_expiry_ms: now + absolute_ms,
            user_agent: "Mozilla/5.0 (suite|x~) Zoë/1.0 |".into(),
            ip: "192.0.2.1".into(),
            // The transport the packed layout added last: round-trips through every store.
            transport: Transport::Bearer,
        },
        idle_ms,
        profile: session_profile(),
        profile_expiry_ms: now + absolute_ms,
        max_per_user: 50,
    };
    (token, new)
}

/// The profile [`new_session`] stores.
pub fn session_profile() -> latchkey::session::Profile {
    profile("~Zoë|Ada~", "free")
}

/// The hot path's inputs at `now`.
pub fn touch_at(now: i64, idle_ms: i64, refresh_after_ms: i64) -> TouchParams<'static> {
    TouchParams {
        now_ms: now,
        idle_ms,
        refresh_after_ms,
        counter: "ocr:20270115",
    }
}
