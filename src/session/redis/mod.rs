//! The production store, on Redis: sessions and the profile cache ([`SessionStore`], here) and
//! scratch values ([`ScratchStore`], in `scratch.rs`) on one connection.
//!
//! - `connection.rs`: a single Redis (`redis.url`) or a Redis Cluster (`redis.cluster_nodes`);
//!   either is a [`redis::aio::ConnectionLike`], so every script and command runs unchanged on
//!   both, and only the walk and the health check know which they talk to.
//! - `keys.rs`: the key layout (`docs/sessions.md`). Every key of a user carries the hash tag
//!   `{u:<user id>}`, so all of them sit in one Redis Cluster slot and each operation is one
//!   round trip on one slot: a Lua script (`lua/`; those that touch the user's index of
//!   sessions start with `lua/index.lua`, which knows its encodings and its two layouts,
//!   [`Layout`]) where it writes atomically, a plain `MGET`
//!   on the hot path (`touch`), whose sliding refresh is a `SET … XX` sent after it without
//!   the answer waiting on it.
//! - `scan.rs`: the walk over every session ([`SessionStore::scan`]), per node on a cluster.
//!
//! [`ScratchStore`]: crate::session::ScratchStore

mod connection;
mod keys;
mod scan;
mod scratch;

use std::time::Duration;

use async_trait::async_trait;
use redis::{FromRedisValue, Script, ScriptInvocation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use self::connection::Connection;
use self::keys::Keys;
use super::ended::{Ending, Trace, REMEMBERED_MS, TIMED_OUT_MARK};
use super::packed;
use super::store::{
    Created, NewSession, Profile, Reindexed, Revoke, ScanPage, SessionRecord, SessionStore,
    StoreError, TouchParams, Touched,
};
use super::token::SessionHash;

/// The most index entries one script walks when listing or revoking a user's sessions: the
/// highest cap of sessions per user, so a capped index is one call, and an index written
/// before the cap existed is walked in bounded steps instead of one call that holds Redis up.
const WALK_BATCH: u32 = 1000;

pub struct RedisStore {
    connection: Connection,
    keys: Keys,
    scripts: Scripts,
    layout: Layout,
}

/// Where a user's index entries are kept (`redis.layout`, docs/sessions.md, "Compact
/// layout"). Every release since the compact layout reads both; this says what is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Every user's entries in the index's sorted set (`P{u:U}:i`), as releases before the
    /// compact layout read them. The default while a rolling upgrade from such a release may
    /// run.
    #[default]
    Indexed,
    /// A user whose index has one entry keeps it at the head of the profile string, with no
    /// sorted set: one key fewer for the common user with one session. Only once no replica
    /// of a release before the compact layout is left.
    Compact,
}

/// A script that reads or writes the user's index, with `lua/index.lua` (the index's
/// encodings and layouts, written once) put before it.
macro_rules! with_index {
    ($script:literal) => {
        concat!(include_str!("lua/index.lua"), include_str!($script))
    };
}

impl Layout {
    /// Its name in the configuration (`redis.layout`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Indexed => "indexed",
            Self::Compact => "compact",
        }
    }
}

struct Scripts {
    create: Script,
    list: Script,
    revoke: Script,
    ended: Script,
    update_profile: Script,
    drop_profile: Script,
    reindex: Script,
    reserve: Script,
    confirm: Script,
    release: Script,
    hit: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            create: Script::new(with_index!("lua/create.lua")),
            list: Script::new(with_index!("lua/list.lua")),
            revoke: Script::new(with_index!("lua/revoke.lua")),
            ended: Script::new(with_index!("lua/ended.lua")),
            update_profile: Script::new(with_index!("lua/update_profile.lua")),
            drop_profile: Script::new(with_index!("lua/drop_profile.lua")),
            reindex: Script::new(with_index!("lua/reindex.lua")),
            reserve: Script::new(include_str!("lua/reserve.lua")),
            confirm: Script::new(include_str!("lua/confirm.lua")),
            release: Script::new(include_str!("lua/release.lua")),
            hit: Script::new(include_str!("lua/hit.lua")),
        }
    }
}

impl RedisStore {
    /// A store on the single Redis at `url`. It connects lazily, so this succeeds while Redis
    /// is down and the store recovers by itself when it comes back.
    ///
    /// `timeout` bounds every operation, from connecting to the reply: a Redis that does not
    /// answer makes requests fail fast instead of hanging. One multiplexed connection serves
    /// every request (ADR 0004).
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self::with_connection(
            Connection::single(url, timeout)?,
            prefix,
        ))
    }

    /// A store on the Redis Cluster that `nodes` belong to (any of its nodes; the others are
    /// discovered from them). Lazy and bounded by `timeout` like [`RedisStore::new`], with one
    /// multiplexed connection per node shared by every request.
    pub fn cluster(nodes: &[String], prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self::with_connection(
            Connection::cluster(nodes, timeout)?,
            prefix,
        ))
    }

    fn with_connection(connection: Connection, prefix: &str) -> Self {
        Self {
            connection,
            keys: Keys::new(prefix),
            scripts: Scripts::new(),
            layout: Layout::default(),
        }
    }

    /// This store writing `layout` (it reads both).
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// The scripts' flag for the layout they write.
    fn compact(&self) -> &'static str {
        match self.layout {
            Layout::Indexed => "0",
            Layout::Compact => "1",
        }
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.connection.is_cluster()
    }

    /// On a Redis Cluster, the slot ranges whose master is known to be down (their commands
    /// fail at once instead of waiting `redis.timeout`), and how many commands have been
    /// failed so; for tests and diagnosis.
    pub fn known_down(&self) -> (Vec<std::ops::RangeInclusive<u16>>, u64) {
        self.connection.known_down()
    }

    /// Runs one prepared script call (`EVALSHA`, loading the script on `NOSCRIPT`).
    async fn invoke<T>(&self, call: ScriptInvocation<'_>) -> Result<T, StoreError>
    where
        T: FromRedisValue,
    {
        self.connection
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
    }
}

impl RedisStore {
    /// Revokes `which`, marking each revoked session's index entry with `ending` and `now_ms`
    /// (or as timed out, without one), so that its 401 says why.
    async fn revoke_leaving(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Option<Ending>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let (mode, hash) = match which {
            Revoke::One(hash) => ("one", hash.encode()),
            Revoke::All => ("all", String::new()),
            Revoke::AllExcept(hash) => ("except", hash.encode()),
            Revoke::ByPublicId(id) => {
                // The index holds full hashes; find the one this public id names among the
                // user's own sessions, so an id of another user's session matches nothing.
                let sessions = self.list(user_id, 0, i64::MAX / 2).await?;
                match sessions.iter().find(|(h, _)| h.public_id() == *id) {
                    Some((hash, _)) => ("one", hash.encode()),
                    None => return Ok(0),
                }
            }
        };
        let mark = ending.map_or(TIMED_OUT_MARK, Ending::mark);
        let mut revoked = 0;
        loop {
            let mut call = self.scripts.revoke.prepare_invoke();
            call.key(self.keys.index(user_id))
                .key(self.keys.profile(user_id))
                .arg(self.keys.session_prefix(user_id))
                .arg(mode)
                .arg(&hash)
                .arg(WALK_BATCH)
                .arg(mark)
                .arg(TIMED_OUT_MARK)
                .arg(now_ms)
                .arg(self.keys.trace_prefix(user_id))
                .arg(REMEMBERED_MS)
                .arg(self.compact());
            let (n, more): (u64, u8) = self.invoke(call).await?;
            revoked += n;
            if more == 0 {
                return Ok(revoked);
            }
        }
    }
}

/// An index entry or evicted hash as a script returns it.
fn index_entry(h: &str) -> Result<SessionHash, StoreError> {
    SessionHash::decode(h).ok_or_else(|| StoreError::Malformed(format!("bad index entry {h:?}")))
}

/// What the hot path's `MGET` found, judged by the rules the previous release's `touch.lua`
/// applied inside Redis (docs/sessions.md, "The authenticated hot path").
#[derive(Debug)]
enum Verdict {
    /// No session, or no profile: signed out.
    Absent,
    /// A record that does not decode, or one past its idle or absolute expiry by the caller's
    /// clock (the idle timeout may have been shortened since the key's TTL was set): signed
    /// out, and the key is deleted.
    Dead,
    /// Signed in. `refresh` is the record to write back with its new expiry, once per
    /// refresh step.
    Live {
        touched: Box<Touched>,
        refresh: Option<(String, i64)>,
    },
}

/// The reply of `MGET session profile counter`.
type TouchRow = (Option<String>, Option<String>, Option<String>);

fn judge((record, profile, counter): TouchRow, params: &TouchParams<'_>) -> Verdict {
    let Some(packed_record) = record else {
        return Verdict::Absent;
    };
    let Ok(mut record) = packed::decode_record(&packed_record) else {
        tracing::warn!("unreadable session record; treated as no session and deleted");
        return Verdict::Dead;
    };
    let now = params.now_ms;
    if !record.is_live(now, params.idle_ms) {
        return Verdict::Dead;
    }
    let Some(packed_profile) = profile else {
        return Verdict::Absent;
    };
    let profile = match packed::decode_profile(&packed_profile) {
        Ok(profile) => profile,
        // Only our own code writes profiles, so this is corruption, not the client's doing.
        // Answering "no session" sends the user through sign-in, which rewrites the profile,
        // instead of failing every request until the session expires.
        Err(e) => {
            tracing::warn!(error = %e, "unreadable profile; treated as no session");
            return Verdict::Absent;
        }
    };
    let refresh = if now - record.last_seen_ms >= params.refresh_after_ms {
        packed::with_last_seen(&packed_record, now).map(|value| {
            record.last_seen_ms = now;
            (value, record.expires_ms(params.idle_ms))
        })
    } else {
        None
    };
    Verdict::Live {
        touched: Box::new(Touched {
            record,
            profile,
            counter: counter.and_then(|c| c.parse().ok()).unwrap_or(0),
        }),
        refresh,
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, new: &NewSession) -> Result<Created, StoreError> {
        let r = &new.record;
        let mut call = self.scripts.create.prepare_invoke();
        call.key(self.keys.session(new.user_id, &new.hash))
            .key(self.keys.index(new.user_id))
            .key(self.keys.profile(new.user_id))
            .arg(new.hash.encode())
            .arg(r.created_ms)
            .arg(r.expires_ms(new.idle_ms))
            .arg(r.absolute_expiry_ms)
            .arg(packed::encode_record(r))
            .arg(new.profile_expiry_ms)
            .arg(packed::encode_profile(&new.profile))
            .arg(new.max_per_user.max(1))
            .arg(self.keys.session_prefix(new.user_id))
            .arg(Ending::Evicted.mark())
            .arg(TIMED_OUT_MARK)
            .arg(REMEMBERED_MS)
            .arg(self.keys.trace_prefix(new.user_id))
            .arg(self.compact());
        // {0}, or {1, evicted hash, ...}: redis-rs reads the integer as its digits.
        let reply: Vec<String> = self.invoke(call).await?;
        let evicted = match reply.split_first() {
            Some((stored, evicted)) if stored == "1" => evicted,
            Some((exists, [])) if exists == "0" => return Ok(Created::Exists),
            _ => return Err(StoreError::Malformed(format!("create answered {reply:?}"))),
        };
        let evicted = evicted
            .iter()
            .map(|h| index_entry(h))
            .collect::<Result<_, _>>()?;
        Ok(Created::Stored { evicted })
    }

    async fn touch(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        params: TouchParams<'_>,
    ) -> Result<Option<Touched>, StoreError> {
        let key = self.keys.session(user_id, hash);
        let mut mget = redis::cmd("MGET");
        mget.arg(&key)
            .arg(self.keys.profile(user_id))
            .arg(self.keys.counter(user_id, params.counter));
        let row: TouchRow = self
            .connection
            .run(|mut conn| async move { mget.query_async(&mut conn).await })
            .await?;
        match judge(row, &params) {
            Verdict::Absent => Ok(None),
            Verdict::Dead => {
                let mut del = redis::cmd("DEL");
                del.arg(key);
                self.connection.send_detached(del).await;
                Ok(None)
            }
            Verdict::Live { touched, refresh } => {
                if let Some((value, expires_ms)) = refresh {
                    // XX: a session revoked since the MGET stays revoked (nothing is written),
                    // and PXAT is never past the absolute expiry.
                    let mut set = redis::cmd("SET");
                    set.arg(key)
                        .arg(value)
                        .arg("XX")
                        .arg("PXAT")
                        .arg(expires_ms);
                    self.connection.send_detached(set).await;
                }
                Ok(Some(*touched))
            }
        }
    }

    async fn list(
        &self,
        user_id: Uuid,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<(SessionHash, SessionRecord)>, StoreError> {
        let mut call = self.scripts.list.prepare_invoke();
        call.key(self.keys.index(user_id))
            .key(self.keys.profile(user_id))
            .arg(self.keys.session_prefix(user_id))
            .arg(now_ms)
            .arg(WALK_BATCH)
            .arg(TIMED_OUT_MARK)
            .arg(REMEMBERED_MS)
            .arg(self.compact());
        let rows: Vec<(String, String)> = self.invoke(call).await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for (h, value) in rows {
            let hash = index_entry(&h)?;
            let record = packed::decode_record(&value)?;
            if record.is_live(now_ms, idle_ms) {
                sessions.push((hash, record));
            }
        }
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
        let pattern = self.keys.session_pattern();
        let rows = self
            .connection
            .run(|conn| async move { scan::page(conn, cursor, &pattern, count).await })
            .await?;
        scan::live_sessions(&self.keys, rows, now_ms, idle_ms)
    }

    async fn reindex(&self, cursor: u64, count: u32) -> Result<Reindexed, StoreError> {
        let pattern = self.keys.profile_pattern();
        let (cursor, rows) = self
            .connection
            .run(|conn| async move { scan::page(conn, cursor, &pattern, count).await })
            .await?;
        let mut moved = 0;
        for (key, value) in rows {
            // Only a profile that holds an entry starts with `~` (lua/index.lua); the script
            // checks again, atomically, since the profile may have changed since the read.
            let held = value.is_some_and(|v| v.starts_with('~'));
            let Some(user_id) = self.keys.parse_profile(&key).filter(|_| held) else {
                continue;
            };
            let mut call = self.scripts.reindex.prepare_invoke();
            call.key(self.keys.index(user_id))
                .key(key)
                .arg(REMEMBERED_MS);
            let one: u64 = self.invoke(call).await?;
            moved += one;
        }
        Ok(Reindexed { cursor, moved })
    }

    async fn revoke(&self, user_id: Uuid, which: &Revoke) -> Result<u64, StoreError> {
        // Without a reason the entries read as timed out, whatever the time.
        self.revoke_leaving(user_id, which, None, 0).await
    }

    async fn end(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Ending,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.revoke_leaving(user_id, which, Some(ending), now_ms)
            .await
    }

    async fn trace(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        _now_ms: i64,
    ) -> Result<Option<Trace>, StoreError> {
        let mut call = self.scripts.ended.prepare_invoke();
        call.key(self.keys.index(user_id))
            .key(self.keys.profile(user_id))
            .key(self.keys.trace(user_id, hash))
            .arg(hash.encode());
        let (score, legacy): (Option<String>, Option<String>) = self.invoke(call).await?;
        // The index first; a previous release's trace key only when the index has no entry
        // (a session that release ended, or started and which timed out, while it ran).
        if let Some(score) = score {
            let trace = score.parse().ok().and_then(Trace::from_score);
            if trace.is_none() {
                tracing::warn!(
                    score,
                    "unreadable index entry; its session reads as unknown"
                );
            }
            return Ok(trace);
        }
        Ok(legacy.as_deref().and_then(Trace::decode))
    }

    async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError> {
        let mut call = self.scripts.update_profile.prepare_invoke();
        call.key(self.keys.profile(user_id))
            .arg(packed::encode_profile(profile));
        let updated: i64 = self.invoke(call).await?;
        Ok(updated == 1)
    }

    async fn delete_profile(&self, user_id: Uuid) -> Result<(), StoreError> {
        let mut call = self.scripts.drop_profile.prepare_invoke();
        call.key(self.keys.index(user_id))
            .key(self.keys.profile(user_id))
            .arg(REMEMBERED_MS);
        self.invoke::<()>(call).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.connection.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn a_layouts_name_is_the_one_the_configuration_reads() {
        for layout in [Layout::Indexed, Layout::Compact] {
            let named = serde_json::to_value(layout).ok();
            assert_eq!(
                named.as_ref().and_then(|v| v.as_str()),
                Some(layout.as_str())
            );
        }
    }
}
