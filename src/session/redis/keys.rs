//! The key layout (`docs/sessions.md`): every name the Redis store writes is built, and every
//! session key it reads back is parsed, here.
//!
//! Every key of a user carries the hash tag `{u:<user id>}`, so all of them sit in one Redis
//! Cluster slot and each operation on a user is one Lua script on one slot. Scratch values
//! that belong to no user (rate-limit windows, login flows) sit under `x:`.

use uuid::Uuid;

use crate::session::token::SessionHash;

/// A user id in the keys: its simple (hyphen-less) form.
const USER_ID_CHARS: usize = 32;

/// The names of one deployment's keys, all under its `redis.key_prefix`.
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `<prefix>{u:<user id>}<suffix>` (`{u:…}` is the hash tag that keeps one user's keys in
    /// one slot), with room for `more` bytes to be appended: every key
    /// of a user is built in one allocation (the hot path builds three per request).
    fn user_key(&self, user_id: Uuid, suffix: &str, more: usize) -> String {
        let mut key =
            String::with_capacity(self.prefix.len() + 4 + USER_ID_CHARS + suffix.len() + more);
        key.push_str(&self.prefix);
        key.push_str("{u:");
        key.push_str(user_id.simple().encode_lower(&mut Uuid::encode_buffer()));
        key.push('}');
        key.push_str(suffix);
        key
    }

    pub(super) fn session(&self, user_id: Uuid, hash: &SessionHash) -> String {
        let mut key = self.user_key(user_id, ":s:", SessionHash::ENCODED_LEN);
        hash.encode_to(&mut key);
        key
    }

    /// `<prefix>{u:<user id>}:s:`, what the scripts that walk the index put before each hash.
    pub(super) fn session_prefix(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":s:", 0)
    }

    /// A session's trace key, as the previous release wrote one for every session (why it
    /// ended, or its absolute expiry; `session/ended.rs`): read, and deleted when a hand ends
    /// its session, never written, while a rolling upgrade may have left some.
    pub(super) fn trace(&self, user_id: Uuid, hash: &SessionHash) -> String {
        let mut key = self.trace_prefix(user_id);
        hash.encode_to(&mut key);
        key
    }

    /// `<prefix>{u:<user id>}:t:`, what the scripts that end sessions put before each hash
    /// to delete a previous release's trace key.
    pub(super) fn trace_prefix(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":t:", SessionHash::ENCODED_LEN)
    }

    /// The user's index of sessions: each one's absolute expiry, and why it ended for one that
    /// did (`session/ended.rs`). Under the compact layout, absent while the user has one entry,
    /// which the profile then holds (`lua/index.lua`).
    pub(super) fn index(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":i", 0)
    }

    /// The user's cached profile (`session/packed.rs`), with the user's one index entry before
    /// it under the compact layout.
    pub(super) fn profile(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":p", 0)
    }

    /// A per-user counter (today's vision calls), in the user's slot so that the hot path's `MGET` reads
    /// it with the session.
    pub(super) fn counter(&self, user_id: Uuid, name: &str) -> String {
        let mut key = self.user_key(user_id, ":c:", name.len());
        key.push_str(name);
        key
    }

    /// The holds on a per-user counter by calls in progress (a sorted set of hold ids scored
    /// by when each ends), in the user's slot beside the counter, so that one script reads
    /// both.
    pub(super) fn holds(&self, user_id: Uuid, name: &str) -> String {
        let mut key = self.user_key(user_id, ":h:", name.len());
        key.push_str(name);
        key
    }

    /// A scratch value that belongs to no user: `<prefix>x:<name>`.
    pub(super) fn scratch(&self, name: &str) -> String {
        format!("{}x:{name}", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every session key under this prefix.
    pub(super) fn session_pattern(&self) -> String {
        format!("{}{{u:*}}:s:*", glob_escape(&self.prefix))
    }

    /// The `SCAN MATCH` pattern of every profile key under this prefix.
    pub(super) fn profile_pattern(&self) -> String {
        format!("{}{{u:*}}:p", glob_escape(&self.prefix))
    }

    /// The user a profile key names; `None` for a key of any other shape.
    pub(super) fn parse_profile(&self, key: &str) -> Option<Uuid> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("{u:")?;
        let user = rest.strip_suffix("}:p")?;
        if user.len() != USER_ID_CHARS {
            return None;
        }
        Uuid::try_parse(user).ok()
    }

    /// The user and hash a session key names; `None` for a key of any other shape.
    pub(super) fn parse_session(&self, key: &str) -> Option<(Uuid, SessionHash)> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("{u:")?;
        let (user, rest) = rest.split_once('}')?;
        let hash = rest.strip_prefix(":s:")?;
        if user.len() != USER_ID_CHARS {
            return None;
        }
        Some((Uuid::try_parse(user).ok()?, SessionHash::decode(hash)?))
    }
}

/// Escapes the characters `SCAN MATCH` treats as a pattern, so a key prefix is matched as
/// written.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionToken;

    #[test]
    fn a_session_key_parses_back_to_its_user_and_hash() {
        let keys = Keys::new("lk:");
        let user = Uuid::new_v4();
        let hash = SessionToken::generate(user).hash();
        let key = keys.session(user, &hash);
        assert!(key.starts_with(&keys.session_prefix(user)));
        assert!(keys
            .trace(user, &hash)
            .starts_with(&keys.trace_prefix(user)));
        assert!(keys.parse_session(&key) == Some((user, hash)));
        assert_eq!(keys.parse_profile(&keys.profile(user)), Some(user));
        for other in [
            key.clone(),
            keys.index(user),
            keys.counter(user, "ocr:20270115"),
            Keys::new("other:").profile(user),
            format!("lk:{{u:{}x}}:p", user.simple()),
        ] {
            assert_eq!(keys.parse_profile(&other), None, "parsed {other:?}");
        }
        for other in [
            keys.index(user),
            keys.profile(user),
            keys.counter(user, "ocr:20270115"),
            keys.trace(user, &hash),
            keys.scratch("flow:x"),
            Keys::new("other:").session(user, &hash),
        ] {
            assert!(keys.parse_session(&other).is_none(), "parsed {other:?}");
        }
    }

    #[test]
    fn the_scan_pattern_matches_the_prefix_as_written() {
        assert_eq!(Keys::new("a*b:").session_pattern(), "a\\*b:{u:*}:s:*");
        assert_eq!(Keys::new("a*b:").profile_pattern(), "a\\*b:{u:*}:p");
        assert_eq!(
            Keys::new("[x]?\\").session_pattern(),
            "\\[x\\]\\?\\\\{u:*}:s:*"
        );
    }
}
