//! The production store, on Redis: sessions and the profile cache ([`SessionStore`], here) and
//! scratch values ([`ScratchStore`], in `scratch.rs`) on one connection.
//!
//! - `connection.rs`: a single Redis (`redis.url`) or a Redis Cluster (`redis.cluster_nodes`);
//!   either is a [`redis::aio::ConnectionLike`], so every script and command runs unchanged on
//!   both, and only the walk and the health check know which they talk to.
//! - `keys.rs`: the key layout (`docs/sessions.md`). Every key of a user carries the hash tag
//!   `{u:<user id>}`, so all of them sit in one Redis Cluster slot and each operation is one
//!   Lua script (`lua/`) on one slot: atomic, and one round trip.
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
use uuid::Uuid;

use self::connection::Connection;
use self::keys::Keys;
use super::ended::{Ending, Trace};
use super::packed;
use super::store::{
    Created, NewSession, Profile, Revoke, ScanPage, SessionRecord, SessionStore, StoreError,
    TouchParams, Touched,
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
}

struct Scripts {
    create: Script,
    touch: Script,
    list: Script,
    revoke: Script,
    note_start: Script,
    update_profile: Script,
    reserve: Script,
    confirm: Script,
    release: Script,
    hit: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            create: Script::new(include_str!("lua/create.lua")),
            touch: Script::new(include_str!("lua/touch.lua")),
            list: Script::new(include_str!("lua/list.lua")),
            revoke: Script::new(include_str!("lua/revoke.lua")),
            note_start: Script::new(include_str!("lua/note_start.lua")),
            update_profile: Script::new(include_str!("lua/update_profile.lua")),
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
    /// Revokes `which`; with `ending`, each revoked session's trace says why, until the
    /// given time.
    async fn revoke_leaving(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Option<(Ending, i64)>,
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
        let mut revoked = 0;
        loop {
            let mut call = self.scripts.revoke.prepare_invoke();
            call.key(self.keys.index(user_id))
                .arg(self.keys.session_prefix(user_id))
                .arg(mode)
                .arg(&hash)
                .arg(WALK_BATCH);
            if let Some((ending, until)) = ending {
                call.arg(self.keys.trace_prefix(user_id))
                    .arg(ending.mark())
                    .arg(until);
            }
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

/// The reply of `touch.lua`: the packed session record and profile, and the counter.
type TouchRow = (String, String, String);

fn touched((record, profile, counter): TouchRow) -> Result<Touched, StoreError> {
    Ok(Touched {
        record: packed::decode_record(&record)?,
        profile: packed::decode_profile(&profile)?,
        counter: counter.parse().unwrap_or(0),
    })
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
            .arg(self.keys.session_prefix(new.user_id));
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
        let mut call = self.scripts.touch.prepare_invoke();
        call.key(self.keys.session(user_id, hash))
            .key(self.keys.profile(user_id))
            .key(self.keys.counter(user_id, params.counter))
            .arg(params.now_ms)
            .arg(params.idle_ms)
            .arg(params.refresh_after_ms);
        let row: Option<TouchRow> = self.invoke(call).await?;
        match row.map(touched).transpose() {
            // Only our own code writes these values, so this is corruption, not the client's
            // doing. Answering "no session" sends the user through sign-in, which rewrites
            // the profile, instead of failing every request until the session expires.
            Err(StoreError::Malformed(what)) => {
                tracing::warn!(%what, "unreadable session data; treated as no session");
                Ok(None)
            }
            other => other,
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
            .arg(self.keys.session_prefix(user_id))
            .arg(now_ms)
            .arg(WALK_BATCH);
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

    async fn revoke(&self, user_id: Uuid, which: &Revoke) -> Result<u64, StoreError> {
        self.revoke_leaving(user_id, which, None).await
    }

    async fn end(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Ending,
        remember_until_ms: i64,
    ) -> Result<u64, StoreError> {
        self.revoke_leaving(user_id, which, Some((ending, remember_until_ms)))
            .await
    }

    async fn note_start(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        started: Trace,
        started_until_ms: i64,
        evicted: &[SessionHash],
        evicted_until_ms: i64,
    ) -> Result<(), StoreError> {
        let mut call = self.scripts.note_start.prepare_invoke();
        call.key(self.keys.trace(user_id, hash));
        for h in evicted {
            call.key(self.keys.trace(user_id, h));
        }
        call.arg(started.encode())
            .arg(started_until_ms)
            .arg(Ending::Evicted.mark())
            .arg(evicted_until_ms);
        let _: i64 = self.invoke(call).await?;
        Ok(())
    }

    async fn trace(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        _now_ms: i64,
    ) -> Result<Option<Trace>, StoreError> {
        let key = self.keys.trace(user_id, hash);
        let raw: Option<String> = self
            .connection
            .run(|mut conn| async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<String>>(&mut conn)
                    .await
            })
            .await?;
        Ok(raw.as_deref().and_then(Trace::decode))
    }

    async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError> {
        let mut call = self.scripts.update_profile.prepare_invoke();
        call.key(self.keys.profile(user_id))
            .arg(packed::encode_profile(profile));
        let updated: i64 = self.invoke(call).await?;
        Ok(updated == 1)
    }

    async fn delete_profile(&self, user_id: Uuid) -> Result<(), StoreError> {
        let key = self.keys.profile(user_id);
        self.connection
            .run(|mut conn| async move {
                redis::cmd("DEL")
                    .arg(key)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.connection.ping().await
    }
}
