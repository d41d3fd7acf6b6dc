//! Sessions: opaque tokens in a cookie, records in a store (docs/sessions.md).
//!
//! [`Sessions`] is the policy (timeouts, sliding refresh, token generation) over a
//! [`SessionStore`] (where records and the profile cache live), and the only door to them:
//! HTTP code, billing and the operator's commands talk to `Sessions`, never to the store.
//! [`Scratch`] is the door to the other values kept on the same backend (rate-limit windows,
//! quota counters, login flows), over a [`ScratchStore`].
//!
//! Both doors read the clock; the stores never do, so the shared suite moves time at will.

mod ended;
mod memory;
mod packed;
mod redis;
mod scratch;
mod store;
mod token;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

pub use self::ended::{Ending, Trace, Why, REMEMBERED_MS};
pub use self::memory::MemoryStore;
pub use self::redis::{Layout as RedisLayout, RedisStore};
pub use self::scratch::{Hold, Reserved, Scratch, ScratchStore};
pub use self::store::{
    Created, NewSession, Profile, Reindexed, Revoke, ScanPage, SessionRecord, SessionStore,
    StoreError, TouchParams, Touched, Transport,
};
pub use self::token::{is_well_formed_secret, random_secret, PublicId, SessionHash, SessionToken};

/// The timeouts a session lives by.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub idle: Duration,
    pub absolute: Duration,
    /// The most live sessions one user may have; a login beyond it ends the oldest.
    pub max_per_user: u32,
}

impl Policy {
    fn idle_ms(&self) -> i64 {
        millis(self.idle)
    }

    /// `last_seen` is written back at most once per this interval (a tenth of the idle
    /// timeout, at most a minute), so a session in use costs one write a minute, not one per
    /// request, while the idle expiry stays accurate to within that step.
    fn refresh_after_ms(&self) -> i64 {
        (self.idle_ms() / 10).min(60_000)
    }
}

/// Who is asking, as the store records it.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: String,
    pub ip: String,
}

/// A session that was just started: the token goes into the cookie, once.
#[derive(Debug)]
pub struct Started {
    pub token: SessionToken,
    pub expires_ms: i64,
    /// The user's oldest sessions that this one ended, to keep within the cap.
    pub evicted: Vec<SessionHash>,
}

/// The signed-in caller of the current request.
#[derive(Debug, Clone)]
pub struct Current {
    pub user_id: Uuid,
    pub hash: SessionHash,
    pub record: SessionRecord,
    pub expires_ms: i64,
    pub profile: Profile,
    /// Today's usage, read in the same round trip.
    pub today_count: u64,
    /// This request slid the idle expiry (at most once per refresh step): the cookie's
    /// `Max-Age` should follow.
    pub slid: bool,
}

/// A session as listed to its owner or an operator.
#[derive(Debug, Clone)]
pub struct Listed {
    pub hash: SessionHash,
    pub record: SessionRecord,
    pub expires_ms: i64,
}

impl Listed {
    fn new(hash: SessionHash, record: SessionRecord, idle_ms: i64) -> Self {
        Self {
            hash,
            expires_ms: record.expires_ms(idle_ms),
            record,
        }
    }
}

#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    policy: Policy,
}

/// Longest kept user agent: enough to recognise a browser, bounded so a hostile header cannot
/// bloat every session record.
const MAX_USER_AGENT: usize = 256;

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, policy: Policy) -> Self {
        Self { store, policy }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Starts a session for a user whose profile is `profile`.
    pub async fn start(
        &self,
        user_id: Uuid,
        profile: Profile,
        client: &ClientInfo,
        transport: Transport,
    ) -> Result<Started, StoreError> {
        let now = now_ms();
        let absolute = now + millis(self.policy.absolute);
        loop {
            let token = SessionToken::generate(user_id);
            let record = SessionRecord {
                created_ms: now,
                last_seen_ms: now,
                absolute_expiry_ms: absolute,
                user_agent: truncate(&client.user_agent, MAX_USER_AGENT),
                ip: client.ip.clone(),
                transport,
            };
            let expires_ms = record.expires_ms(self.policy.idle_ms());
            let new = NewSession {
                user_id,
                hash: token.hash(),
                record,
                idle_ms: self.policy.idle_ms(),
                profile: profile.clone(),
                profile_expiry_ms: absolute,
                max_per_user: self.policy.max_per_user,
            };
            // A collision of 256-bit tokens does not happen; if it ever did, the existing
            // session is kept and a new token drawn. The store remembers, in the same step,
            // that the sessions it evicted were evicted (for their 401's reason).
            if let Created::Stored { evicted } = self.store.create(&new).await? {
                return Ok(Started {
                    token,
                    expires_ms,
                    evicted,
                });
            }
        }
    }

    /// The hot path: one store round trip. `None` for an unknown, expired or revoked session.
    pub async fn authenticate(&self, token: &SessionToken) -> Result<Option<Current>, StoreError> {
        let user_id = token.user_id();
        let hash = token.hash();
        let counter = usage_counter(Utc::now().date_naive());
        let now = now_ms();
        let params = TouchParams {
            now_ms: now,
            idle_ms: self.policy.idle_ms(),
            refresh_after_ms: self.policy.refresh_after_ms(),
            counter: &counter,
        };
        let Some(touched) = self.store.touch(user_id, &hash, params).await? else {
            return Ok(None);
        };
        Ok(Some(Current {
            user_id,
            hash,
            slid: touched.record.last_seen_ms == now && touched.record.created_ms != now,
            expires_ms: touched.record.expires_ms(self.policy.idle_ms()),
            record: touched.record,
            profile: touched.profile,
            today_count: touched.counter,
        }))
    }

    pub async fn list(&self, user_id: Uuid) -> Result<Vec<Listed>, StoreError> {
        let idle = self.policy.idle_ms();
        let sessions = self.store.list(user_id, now_ms(), idle).await?;
        Ok(sessions
            .into_iter()
            .map(|(hash, record)| Listed::new(hash, record, idle))
            .collect())
    }

    /// Revokes sessions without saying why: their 401 then reads `idle_timeout` or
    /// `expired` (see [`Sessions::end`], which every path of the application uses).
    pub async fn revoke(&self, user_id: Uuid, which: &Revoke) -> Result<u64, StoreError> {
        self.store.revoke(user_id, which).await
    }

    /// Revokes sessions and remembers why for a day, for the `reason` of their next 401.
    pub async fn end(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Ending,
    ) -> Result<u64, StoreError> {
        self.store.end(user_id, which, ending, now_ms()).await
    }

    /// Why `token` names no live session: read only after [`Sessions::authenticate`] found
    /// none, so the authenticated path pays nothing for it. A store that does not answer
    /// here makes it `unknown` rather than fail the answer.
    pub async fn why_ended(&self, token: &SessionToken) -> Why {
        let now = now_ms();
        match self.store.trace(token.user_id(), &token.hash(), now).await {
            Ok(trace) => Why::from_trace(trace, now),
            Err(e) => {
                tracing::warn!(error = %e, "could not read why a session ended");
                Why::Unknown
            }
        }
    }

    /// Ends every session of the user and drops their profile cache: for a user who is
    /// disabled or erased. Without the profile, a session that a login under way creates
    /// after the revocation cannot be used either (checking a session reads both), and an
    /// erased user's name and email do not stay in Redis. Returns how many sessions ended.
    pub async fn end_all(&self, user_id: Uuid) -> Result<u64, StoreError> {
        let revoked = self
            .end(user_id, &Revoke::All, Ending::AccountDisabled)
            .await?;
        self.store.delete_profile(user_id).await?;
        Ok(revoked)
    }

    /// Replaces the user's cached profile, so that every live session sees it on its next
    /// request (a plan change, a refreshed name). Returns whether there was one: if not, the
    /// user has no session and the next login writes it.
    pub async fn refresh_profile(
        &self,
        user_id: Uuid,
        profile: &Profile,
    ) -> Result<bool, StoreError> {
        self.store.update_profile(user_id, profile).await
    }

    /// One page of the walk that puts every user back in the layout every release reads
    /// (`latchkey sessions reindex`, [`SessionStore::reindex`]): start with cursor 0 and pass
    /// back the returned cursor until it is 0 again.
    pub async fn reindex(&self, cursor: u64) -> Result<Reindexed, StoreError> {
        self.store.reindex(cursor, SCAN_PAGE).await
    }

    /// One page of a walk over every live session of the deployment, for operators: start
    /// with cursor 0 and pass back the returned cursor until it is 0 again (after the last
    /// page). Each page is a bounded amount of work for the store, so walking a large
    /// deployment never blocks it; a session may appear on two pages of one walk. See
    /// [`SessionStore::scan`].
    pub async fn walk(&self, cursor: u64) -> Result<(u64, Vec<(Uuid, Listed)>), StoreError> {
        let idle = self.policy.idle_ms();
        let page = self.store.scan(cursor, SCAN_PAGE, now_ms(), idle).await?;
        let sessions = page
            .sessions
            .into_iter()
            .map(|(user_id, hash, record)| (user_id, Listed::new(hash, record, idle)))
            .collect();
        Ok((page.cursor, sessions))
    }

    /// Whether the store answers (see [`SessionStore::ping`]), for readiness and
    /// `config check`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}

/// How many keys one page of [`Sessions::walk`] looks at: Redis answers a `SCAN` of this size
/// in about a millisecond, so a walk never holds it up for longer.
const SCAN_PAGE: u32 = 1000;

/// The name of the per-user counter of vision calls on a UTC day.
pub fn usage_counter(day: chrono::NaiveDate) -> String {
    // Not `day.format("%Y%m%d")`: that parses the pattern on every call, and this runs on
    // every authenticated request.
    use chrono::Datelike;
    format!("ocr:{:04}{:02}{:02}", day.year(), day.month(), day.day())
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counters_are_named_by_the_utc_day() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(usage_counter(day(2026, 11, 24)), "ocr:20261124");
        assert_eq!(usage_counter(day(2027, 1, 5)), "ocr:20270105");
        assert_eq!(
            usage_counter(day(987, 6, 7)),
            format!("ocr:{}", day(987, 6, 7).format("%Y%m%d"))
        );
    }
}
