//! The production session store, on Redis (see `docs/sessions.md` for the key layout).
//!
//! Every key of a user carries the hash tag `{u:<user id>}`, so all of them sit in one Redis
//! Cluster slot and each operation is one Lua script on one slot: atomic, and one round trip.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use redis::{ErrorKind, RedisError, Script};
use uuid::Uuid;

use super::store::{
    NewSession, Profile, Revoke, ScanPage, SessionRecord, SessionStore, StoreError, TouchParams,
    Touched,
};
use super::token::SessionHash;

pub struct RedisStore {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    scripts: Scripts,
}

struct Scripts {
    create: Script,
    touch: Script,
    list: Script,
    revoke: Script,
    update_profile: Script,
    reserve: Script,
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
            update_profile: Script::new(include_str!("lua/update_profile.lua")),
            reserve: Script::new(include_str!("lua/reserve.lua")),
            release: Script::new(include_str!("lua/release.lua")),
            hit: Script::new(include_str!("lua/hit.lua")),
        }
    }
}

impl RedisStore {
    /// Builds the pool; connections are made lazily, so this succeeds while Redis is down and
    /// the store recovers by itself when it comes back.
    ///
    /// `timeout` bounds every operation, from waiting for a pooled connection to the reply: a
    /// Redis that does not answer makes requests fail fast instead of hanging.
    pub fn new(
        url: &str,
        prefix: &str,
        pool_size: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut config = Config::from_url(url);
        config.pool = Some(PoolConfig {
            max_size: pool_size,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| anyhow!("cannot create the Redis pool: {e}"))?;
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
            timeout,
            scripts: Scripts::new(),
        })
    }

    /// `<prefix>{u:<user id>}`: the hash tag that keeps one user's keys in one slot.
    fn user_tag(&self, user_id: Uuid) -> String {
        format!("{}{{u:{}}}", self.prefix, user_id.simple())
    }

    fn session_key(&self, user_id: Uuid, hash: &SessionHash) -> String {
        format!("{}:s:{}", self.user_tag(user_id), hash.encode())
    }

    fn index_key(&self, user_id: Uuid) -> String {
        format!("{}:i", self.user_tag(user_id))
    }

    fn profile_key(&self, user_id: Uuid) -> String {
        format!("{}:p", self.user_tag(user_id))
    }

    fn counter_key(&self, user_id: Uuid, name: &str) -> String {
        format!("{}:c:{}", self.user_tag(user_id), name)
    }

    /// The `SCAN MATCH` pattern of every session key under this prefix.
    fn session_pattern(&self) -> String {
        format!("{}{{u:*}}:s:*", glob_escape(&self.prefix))
    }

    /// The user and hash a session key names; `None` for a key of any other shape.
    fn parse_session_key(&self, key: &str) -> Option<(Uuid, SessionHash)> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("{u:")?;
        let (user, rest) = rest.split_once('}')?;
        let hash = rest.strip_prefix(":s:")?;
        if user.len() != 32 {
            return None;
        }
        Some((Uuid::try_parse(user).ok()?, SessionHash::decode(hash)?))
    }

    /// Runs one operation with a pooled connection, within the store's timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let work = async {
            let conn = self
                .pool
                .get()
                .await
                .map_err(|e| StoreError::Unavailable(anyhow!("no Redis connection: {e}")))?;
            op(conn).await.map_err(classify)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Unavailable(anyhow!("Redis did not answer in time")))?
    }
}

/// A reply we cannot read is our bug or a foreign key in our prefix; anything else (refused,
/// dropped, loading, failing over) means Redis is not there for us right now.
fn classify(e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreError::Malformed(e.to_string()),
        _ => StoreError::Unavailable(e.into()),
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

fn profile_args(p: &Profile) -> [String; 6] {
    [
        p.name.clone(),
        p.email.clone(),
        p.image.clone(),
        p.plan.clone(),
        p.plan_until_ms.map(|t| t.to_string()).unwrap_or_default(),
        if p.has_subscription { "1" } else { "0" }.to_owned(),
    ]
}

fn int(field: &str, raw: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Malformed(format!("{field} is not a number: {raw:?}")))
}

type RecordRow = (String, String, String, String, String);

fn record(row: RecordRow) -> Result<SessionRecord, StoreError> {
    let (c, s, a, ua, ip) = row;
    Ok(SessionRecord {
        created_ms: int("created", &c)?,
        last_seen_ms: int("last_seen", &s)?,
        absolute_expiry_ms: int("absolute_expiry", &a)?,
        user_agent: ua,
        ip,
    })
}

type TouchRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn touched(row: TouchRow) -> Result<Touched, StoreError> {
    let (c, s, a, ua, ip, name, email, image, plan, until, has_sub, counter) = row;
    let plan_until_ms = if until.is_empty() {
        None
    } else {
        Some(int("plan_until", &until)?)
    };
    Ok(Touched {
        record: record((c, s, a, ua, ip))?,
        profile: Profile {
            name,
            email,
            image,
            plan,
            plan_until_ms,
            has_subscription: has_sub == "1",
        },
        counter: counter.parse().unwrap_or(0),
    })
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, new: &NewSession) -> Result<bool, StoreError> {
        let r = &new.record;
        let mut call = self.scripts.create.prepare_invoke();
        call.key(self.session_key(new.user_id, &new.hash))
            .key(self.index_key(new.user_id))
            .key(self.profile_key(new.user_id))
            .arg(new.hash.encode())
            .arg(r.created_ms)
            .arg(r.expires_ms(new.idle_ms))
            .arg(r.absolute_expiry_ms)
            .arg(&r.user_agent)
            .arg(&r.ip)
            .arg(new.profile_expiry_ms)
            .arg(&profile_args(&new.profile)[..]);
        let created: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(created == 1)
    }

    async fn touch(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        params: TouchParams<'_>,
    ) -> Result<Option<Touched>, StoreError> {
        let mut call = self.scripts.touch.prepare_invoke();
        call.key(self.session_key(user_id, hash))
            .key(self.profile_key(user_id))
            .key(self.counter_key(user_id, params.counter))
            .arg(params.now_ms)
            .arg(params.idle_ms)
            .arg(params.refresh_after_ms);
        let row: Option<TouchRow> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        row.map(touched).transpose()
    }

    async fn list(
        &self,
        user_id: Uuid,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<(SessionHash, SessionRecord)>, StoreError> {
        let mut call = self.scripts.list.prepare_invoke();
        call.key(self.index_key(user_id))
            .arg(format!("{}:s:", self.user_tag(user_id)))
            .arg(now_ms);
        let rows: Vec<(String, String, String, String, String, String)> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for (h, c, s, a, ua, ip) in rows {
            let hash = SessionHash::decode(&h)
                .ok_or_else(|| StoreError::Malformed(format!("bad index entry {h:?}")))?;
            let record = record((c, s, a, ua, ip))?;
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
        // SCAN, never KEYS: each call looks at about `count` keys and returns, so a walk over
        // millions of keys is many short commands that other clients interleave with. The
        // page's records are then read in one pipeline (one round trip). The user id is in
        // the key, so nothing else is needed. On Redis Cluster a walk runs per node.
        let pattern = self.session_pattern();
        let (next, rows) = self
            .run(|mut conn| async move {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(count.max(1))
                    .query_async(&mut conn)
                    .await?;
                if keys.is_empty() {
                    return Ok((next, Vec::new()));
                }
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("HMGET").arg(key).arg(&["c", "s", "a", "ua", "ip"]);
                }
                let records: Vec<Vec<Option<String>>> = pipe.query_async(&mut conn).await?;
                Ok((next, keys.into_iter().zip(records).collect::<Vec<_>>()))
            })
            .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for (key, fields) in rows {
            let Some((user_id, hash)) = self.parse_session_key(&key) else {
                continue;
            };
            let mut fields = fields.into_iter();
            let mut next_field = || fields.next().flatten();
            // A session that ended between SCAN and HMGET has no fields: it is gone.
            let Some(created) = next_field() else {
                continue;
            };
            let row = (
                created,
                next_field().unwrap_or_default(),
                next_field().unwrap_or_default(),
                next_field().unwrap_or_default(),
                next_field().unwrap_or_default(),
            );
            let record = record(row)?;
            if record.is_live(now_ms, idle_ms) {
                sessions.push((user_id, hash, record));
            }
        }
        Ok(ScanPage {
            cursor: next,
            sessions,
        })
    }

    async fn revoke(&self, user_id: Uuid, which: &Revoke) -> Result<u64, StoreError> {
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
        let mut call = self.scripts.revoke.prepare_invoke();
        call.key(self.index_key(user_id))
            .arg(format!("{}:s:", self.user_tag(user_id)))
            .arg(mode)
            .arg(hash);
        self.run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
    }

    async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError> {
        let mut call = self.scripts.update_profile.prepare_invoke();
        call.key(self.profile_key(user_id))
            .arg(&profile_args(profile)[..]);
        let updated: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(updated == 1)
    }

    async fn delete_profile(&self, user_id: Uuid) -> Result<(), StoreError> {
        let key = self.profile_key(user_id);
        self.run(|mut conn| async move {
            redis::cmd("DEL")
                .arg(key)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn reserve(
        &self,
        user_id: Uuid,
        name: &str,
        limit: Option<u64>,
        ttl_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let mut call = self.scripts.reserve.prepare_invoke();
        call.key(self.counter_key(user_id, name))
            .arg(limit.map(|l| l.to_string()).unwrap_or_default())
            .arg(ttl_ms.max(1));
        let n: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(u64::try_from(n).ok())
    }

    async fn release(&self, user_id: Uuid, name: &str) -> Result<(), StoreError> {
        let mut call = self.scripts.release.prepare_invoke();
        call.key(self.counter_key(user_id, name));
        self.run(|mut conn| async move { call.invoke_async::<i64>(&mut conn).await })
            .await
            .map(|_| ())
    }

    async fn hit(&self, key: &str, window_ms: i64) -> Result<u64, StoreError> {
        let mut call = self.scripts.hit.prepare_invoke();
        call.key(format!("{}x:{key}", self.prefix))
            .arg(window_ms.max(1));
        let n: i64 = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn stash(&self, key: &str, value: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let key = format!("{}x:{key}", self.prefix);
        let value = value.to_owned();
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms.max(1))
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = format!("{}x:{key}", self.prefix);
        self.run(
            |mut conn| async move { redis::cmd("GETDEL").arg(key).query_async(&mut conn).await },
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }
}
