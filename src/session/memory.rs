//! The development session and scratch store: everything in this process, behind mutexes.
//!
//! It keeps the Redis store's semantics (expiry, per-user index, atomic revoke) so that the
//! shared test suite holds for both, but it is not shared between processes: configuration
//! refuses it in production. Like the Redis store it never reads the clock: every time is the
//! caller's.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use super::ended::{Ending, Trace, REMEMBERED_MS};
use super::scratch::{Hold, Reserved, ScratchStore};
use super::store::{
    Created, NewSession, Profile, Reindexed, Revoke, ScanPage, SessionRecord, SessionStore,
    StoreError, TouchParams, Touched,
};
use super::token::SessionHash;

#[derive(Default)]
pub struct MemoryStore {
    users: Mutex<HashMap<Uuid, UserEntry>>,
    /// Stashed single-use values with their expiry (Unix ms).
    stash: Mutex<HashMap<String, (String, i64)>>,
    /// Rate-limit windows: count and expiry (Unix ms).
    hits: Mutex<HashMap<String, (u64, i64)>>,
    /// What is remembered of each session (`session/ended.rs`), and until when (Unix ms): a
    /// day past its absolute expiry, or a day after a hand ended it, as the Redis store's
    /// index entries.
    traces: Mutex<HashMap<(Uuid, SessionHash), (Trace, i64)>>,
}

#[derive(Default)]
struct UserEntry {
    sessions: HashMap<SessionHash, Stored>,
    profile: Option<(Profile, i64)>,
    /// Counters with their expiry (Unix ms).
    counters: BTreeMap<String, (u64, i64)>,
    /// Holds on a counter for work in progress: counter name, then hold id with its end.
    holds: BTreeMap<String, BTreeMap<String, i64>>,
}

struct Stored {
    record: SessionRecord,
    /// When this entry disappears, as a Redis TTL would make it.
    expires_ms: i64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers why these sessions ended, at `now_ms`, for a day.
    fn remember(&self, user_id: Uuid, ended: &[SessionHash], ending: Ending, now_ms: i64) {
        let mut traces = lock(&self.traces);
        for hash in ended {
            let until = now_ms.saturating_add(REMEMBERED_MS);
            traces.insert((user_id, *hash), (Trace::Ended(ending), until));
        }
    }

    fn users(&self) -> MutexGuard<'_, HashMap<Uuid, UserEntry>> {
        lock(&self.users)
    }
}

/// Removes `which` of the user's sessions; returns their hashes.
fn remove_from(
    users: &mut HashMap<Uuid, UserEntry>,
    user_id: Uuid,
    which: &Revoke,
) -> Vec<SessionHash> {
    let Some(user) = users.get_mut(&user_id) else {
        return Vec::new();
    };
    let gone: Vec<SessionHash> = user
        .sessions
        .keys()
        .filter(|h| match which {
            Revoke::One(hash) => *h == hash,
            Revoke::ByPublicId(id) => h.public_id() == *id,
            Revoke::All => true,
            Revoke::AllExcept(keep) => *h != keep,
        })
        .copied()
        .collect();
    for h in &gone {
        user.sessions.remove(h);
    }
    gone
}

/// A panic while holding a lock cannot leave a half-written entry (every update is a single
/// insert, remove or increment), so a poisoned lock is still safe to use.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl UserEntry {
    /// Ends the oldest sessions (earliest login, then earliest absolute expiry, as the Redis
    /// store orders them) until one more fits under `max`; returns their hashes.
    fn make_room(&mut self, max: u32) -> Vec<SessionHash> {
        let keep = usize::try_from(max).unwrap_or(usize::MAX).saturating_sub(1);
        let excess = self.sessions.len().saturating_sub(keep);
        let mut oldest: Vec<((i64, i64), SessionHash)> = self
            .sessions
            .iter()
            .map(|(hash, s)| ((s.record.created_ms, s.record.absolute_expiry_ms), *hash))
            .collect();
        oldest.sort_unstable_by_key(|(age, _)| *age);
        oldest
            .into_iter()
            .take(excess)
            .map(|(_, hash)| {
                self.sessions.remove(&hash);
                hash
            })
            .collect()
    }

    fn drop_expired(&mut self, now_ms: i64) {
        self.sessions.retain(|_, s| s.expires_ms > now_ms);
        if matches!(self.profile, Some((_, until)) if until <= now_ms) {
            self.profile = None;
        }
        self.counters.retain(|_, (_, until)| *until > now_ms);
        for holds in self.holds.values_mut() {
            holds.retain(|_, until| *until > now_ms);
        }
        self.holds.retain(|_, holds| !holds.is_empty());
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, new: &NewSession) -> Result<Created, StoreError> {
        let now = new.record.created_ms;
        let mut users = self.users();
        let user = users.entry(new.user_id).or_default();
        user.drop_expired(now);
        if user.sessions.contains_key(&new.hash) {
            return Ok(Created::Exists);
        }
        let evicted = user.make_room(new.max_per_user.max(1));
        let absolute_ms = new.record.absolute_expiry_ms;
        lock(&self.traces).insert(
            (new.user_id, new.hash),
            (
                Trace::Started { absolute_ms },
                absolute_ms.saturating_add(REMEMBERED_MS),
            ),
        );
        self.remember(new.user_id, &evicted, Ending::Evicted, now);
        user.sessions.insert(
            new.hash,
            Stored {
                record: new.record.clone(),
                expires_ms: new.record.expires_ms(new.idle_ms),
            },
        );
        let profile_until = user
            .profile
            .as_ref()
            .map_or(new.profile_expiry_ms, |(_, t)| {
                (*t).max(new.profile_expiry_ms)
            });
        user.profile = Some((new.profile.clone(), profile_until));
        Ok(Created::Stored { evicted })
    }

    async fn touch(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        params: TouchParams<'_>,
    ) -> Result<Option<Touched>, StoreError> {
        let now = params.now_ms;
        let mut users = self.users();
        let Some(user) = users.get_mut(&user_id) else {
            return Ok(None);
        };
        user.drop_expired(now);
        let Some((profile, _)) = user.profile.clone() else {
            return Ok(None);
        };
        let counter = user.counters.get(params.counter).map_or(0, |(n, _)| *n);
        let Some(stored) = user.sessions.get_mut(hash) else {
            return Ok(None);
        };
        if !stored.record.is_live(now, params.idle_ms) {
            user.sessions.remove(hash);
            return Ok(None);
        }
        if now - stored.record.last_seen_ms >= params.refresh_after_ms {
            stored.record.last_seen_ms = now;
            stored.expires_ms = stored.record.expires_ms(params.idle_ms);
        }
        Ok(Some(Touched {
            record: stored.record.clone(),
            profile,
            counter,
        }))
    }

    async fn list(
        &self,
        user_id: Uuid,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<(SessionHash, SessionRecord)>, StoreError> {
        let mut users = self.users();
        let Some(user) = users.get_mut(&user_id) else {
            return Ok(Vec::new());
        };
        user.drop_expired(now_ms);
        let mut sessions: Vec<_> = user
            .sessions
            .iter()
            .filter(|(_, s)| s.record.is_live(now_ms, idle_ms))
            .map(|(h, s)| (*h, s.record.clone()))
            .collect();
        sessions.sort_by_key(|(_, r)| r.created_ms);
        Ok(sessions)
    }

    async fn scan(
        &self,
        cursor: u64,
        count: u32,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<ScanPage, StoreError> {
        // The cursor counts users in id order. Entries of users are never removed, so a
        // revocation during the walk moves nothing, and a user added meanwhile only makes a
        // later page repeat one user: like Redis's `SCAN`, a walk sees every session that
        // lives through it at least once.
        let users = self.users();
        let mut ids: Vec<&Uuid> = users.keys().collect();
        ids.sort_unstable();
        let mut position = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut sessions = Vec::new();
        while position < ids.len() && sessions.len() < count.max(1) as usize {
            let user_id = *ids[position];
            position += 1;
            let Some(user) = users.get(&user_id) else {
                continue;
            };
            sessions.extend(
                user.sessions
                    .iter()
                    .filter(|(_, s)| s.expires_ms > now_ms && s.record.is_live(now_ms, idle_ms))
                    .map(|(h, s)| (user_id, *h, s.record.clone())),
            );
        }
        let cursor = if position >= ids.len() {
            0
        } else {
            position as u64
        };
        Ok(ScanPage { cursor, sessions })
    }

    async fn reindex(&self, _cursor: u64, _count: u32) -> Result<Reindexed, StoreError> {
        // Sessions in memory have one layout: nothing to move.
        Ok(Reindexed::default())
    }

    async fn revoke(&self, user_id: Uuid, which: &Revoke) -> Result<u64, StoreError> {
        // Their traces still say they started: they read as timed out, as in Redis.
        Ok(remove_from(&mut self.users(), user_id, which).len() as u64)
    }

    async fn end(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Ending,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut users = self.users();
        let removed = remove_from(&mut users, user_id, which);
        // Under the users' lock, as the Redis script is one step.
        self.remember(user_id, &removed, ending, now_ms);
        Ok(removed.len() as u64)
    }

    async fn trace(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        now_ms: i64,
    ) -> Result<Option<Trace>, StoreError> {
        let mut traces = lock(&self.traces);
        traces.retain(|_, (_, until)| *until > now_ms);
        Ok(traces.get(&(user_id, *hash)).map(|(t, _)| *t))
    }

    async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError> {
        let mut users = self.users();
        match users.get_mut(&user_id).and_then(|u| u.profile.as_mut()) {
            Some((cached, _)) => {
                *cached = profile.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_profile(&self, user_id: Uuid) -> Result<(), StoreError> {
        if let Some(user) = self.users().get_mut(&user_id) {
            user.profile = None;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl ScratchStore for MemoryStore {
    async fn hit(&self, key: &str, now_ms: i64, window_ms: i64) -> Result<u64, StoreError> {
        let mut hits = lock(&self.hits);
        hits.retain(|_, (_, until)| *until > now_ms);
        let (count, _) = hits
            .entry(key.to_owned())
            .or_insert((0, now_ms + window_ms));
        *count += 1;
        Ok(*count)
    }

    async fn reserve(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        limit: Option<u64>,
        now_ms: i64,
        hold_ms: i64,
    ) -> Result<Reserved, StoreError> {
        let mut users = self.users();
        let user = users.entry(user_id).or_default();
        user.drop_expired(now_ms);
        let used = user.counters.get(hold.name).map_or(0, |(n, _)| *n);
        let holds = user.holds.entry(hold.name.to_owned()).or_default();
        let pending = holds.len() as u64;
        match limit {
            Some(limit) if used >= limit => return Ok(Reserved::UsedUp { used }),
            Some(limit) if used + pending >= limit => {
                return Ok(Reserved::Busy { used, pending });
            }
            _ => {}
        }
        holds.insert(hold.id.to_owned(), now_ms + hold_ms.max(1));
        Ok(Reserved::Held)
    }

    async fn confirm(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut users = self.users();
        let user = users.entry(user_id).or_default();
        user.drop_expired(now_ms);
        if let Some(holds) = user.holds.get_mut(hold.name) {
            holds.remove(hold.id);
        }
        let (count, _) = user
            .counters
            .entry(hold.name.to_owned())
            .or_insert((0, now_ms + ttl_ms.max(1)));
        *count += 1;
        Ok(*count)
    }

    async fn release(&self, user_id: Uuid, hold: &Hold<'_>) -> Result<(), StoreError> {
        if let Some(holds) = self
            .users()
            .get_mut(&user_id)
            .and_then(|u| u.holds.get_mut(hold.name))
        {
            holds.remove(hold.id);
        }
        Ok(())
    }

    async fn stash(
        &self,
        key: &str,
        value: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let mut stash = lock(&self.stash);
        stash.retain(|_, (_, until)| *until > now_ms);
        stash.insert(key.to_owned(), (value.to_owned(), now_ms + ttl_ms));
        Ok(())
    }

    async fn take(&self, key: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.stash)
            .remove(key)
            .filter(|(_, until)| *until > now_ms)
            .map(|(value, _)| value))
    }
}
