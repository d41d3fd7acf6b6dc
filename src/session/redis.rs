//! The production session store, on Redis (see `docs/sessions.md` for the key layout).
//!
//! Every key of a user carries the hash tag `{u:<user id>}`, so all of them sit in one Redis
//! Cluster slot and each operation is one Lua script on one slot: atomic, and one round trip.
//!
//! One type serves a single Redis (`redis.url`) and a Redis Cluster (`redis.cluster_nodes`):
//! the connection differs, and either kind is a [`redis::aio::ConnectionLike`], so every
//! script and command below runs unchanged on both. Only the walk over every session
//! ([`SessionStore::scan`]) and the health check know which they talk to.

use std::time::Duration;

use anyhow::anyhow;
use async_trait::async_trait;
use redis::aio::ConnectionLike;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{ErrorKind, RedisError, Script, Value};
use uuid::Uuid;

use super::packed;
use super::store::{
    Created, NewSession, Profile, Revoke, ScanPage, SessionRecord, SessionStore, StoreError,
    TouchParams, Touched,
};
use super::token::SessionHash;

/// A user id in the keys: its simple (hyphen-less) form.
const USER_ID_CHARS: usize = 32;

pub struct RedisStore {
    connection: Connection,
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

/// The connection to a single Redis or to a Redis Cluster, shared by every request.
///
/// Both are multiplexed: concurrent commands are pipelined over one socket (per node), so no
/// pool checkout, and no pool's recycle check (`PING`, `UNWATCH`), precedes a command, and
/// the hot path is one round trip on a cluster as on a single Redis. Both are opened on first
/// use, so the store can be built while Redis is down, and both reconnect by themselves.
enum Connection {
    Single(Box<Single>),
    Cluster(Box<Cluster>),
}

struct Single {
    client: redis::Client,
    config: ConnectionManagerConfig,
    manager: tokio::sync::OnceCell<ConnectionManager>,
}

impl Single {
    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        self.manager
            .get_or_try_init(|| {
                self.client
                    .get_connection_manager_with_config(self.config.clone())
            })
            .await
            .cloned()
    }
}

/// The cluster's connection follows `MOVED`/`ASK` redirections, failovers and slot map
/// changes by itself, and goes back to the configured nodes when it has lost every node.
struct Cluster {
    client: ClusterClient,
    connection: tokio::sync::OnceCell<ClusterConnection>,
}

impl Cluster {
    async fn connection(&self) -> Result<ClusterConnection, RedisError> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

/// A handle on the shared connection of either kind (a cheap clone). It is a
/// [`ConnectionLike`] by delegation: on a cluster, a script call goes to the master of its
/// first key's slot, and a command to its key's slot.
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
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
    /// A store on the single Redis at `url`. It connects lazily, so this succeeds while Redis
    /// is down and the store recovers by itself when it comes back.
    ///
    /// `timeout` bounds every operation, from connecting to the reply: a Redis that does not
    /// answer makes requests fail fast instead of hanging. One multiplexed connection serves
    /// every request (ADR 0004).
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow!("redis.url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let single = Single {
            client,
            config,
            manager: tokio::sync::OnceCell::new(),
        };
        Ok(Self::with_connection(
            Connection::Single(Box::new(single)),
            prefix,
            timeout,
        ))
    }

    /// A store on the Redis Cluster that `nodes` belong to (any of its nodes; the others are
    /// discovered from them). Lazy and bounded by `timeout` like [`RedisStore::new`], with one
    /// multiplexed connection per node shared by every request.
    pub fn cluster(nodes: &[String], prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()
            .map_err(|e| anyhow!("redis.cluster_nodes: {e}"))?;
        let cluster = Cluster {
            client,
            connection: tokio::sync::OnceCell::new(),
        };
        Ok(Self::with_connection(
            Connection::Cluster(Box::new(cluster)),
            prefix,
            timeout,
        ))
    }

    fn with_connection(connection: Connection, prefix: &str, timeout: Duration) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
            timeout,
            scripts: Scripts::new(),
        }
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
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

    fn session_key(&self, user_id: Uuid, hash: &SessionHash) -> String {
        let mut key = self.user_key(user_id, ":s:", SessionHash::ENCODED_LEN);
        hash.encode_to(&mut key);
        key
    }

    /// `<prefix>{u:<user id>}:s:`, what the scripts that walk the index put before each hash.
    fn session_key_prefix(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":s:", 0)
    }

    fn index_key(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":i", 0)
    }

    fn profile_key(&self, user_id: Uuid) -> String {
        self.user_key(user_id, ":p", 0)
    }

    fn counter_key(&self, user_id: Uuid, name: &str) -> String {
        let mut key = self.user_key(user_id, ":c:", name.len());
        key.push_str(name);
        key
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

    /// Runs one operation on the shared connection, within the store's timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let no_connection = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(anyhow!("no Redis connection: {e}"))
        };
        let work = async {
            let conn = match &self.connection {
                Connection::Single(single) => {
                    Conn::Single(single.connection().await.map_err(|e| no_connection(&e))?)
                }
                Connection::Cluster(cluster) => {
                    Conn::Cluster(cluster.connection().await.map_err(|e| no_connection(&e))?)
                }
            };
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
        call.key(self.session_key(new.user_id, &new.hash))
            .key(self.index_key(new.user_id))
            .key(self.profile_key(new.user_id))
            .arg(new.hash.encode())
            .arg(r.created_ms)
            .arg(r.expires_ms(new.idle_ms))
            .arg(r.absolute_expiry_ms)
            .arg(packed::encode_record(r))
            .arg(new.profile_expiry_ms)
            .arg(packed::encode_profile(&new.profile))
            .arg(new.max_per_user.max(1))
            .arg(self.session_key_prefix(new.user_id));
        // {0}, or {1, evicted hash, ...}: redis-rs reads the integer as its digits.
        let reply: Vec<String> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        let evicted = match reply.split_first() {
            Some((stored, evicted)) if stored == "1" => evicted,
            Some((exists, [])) if exists == "0" => return Ok(Created::Exists),
            _ => return Err(StoreError::Malformed(format!("create answered {reply:?}"))),
        };
        let evicted = evicted
            .iter()
            .map(|h| {
                SessionHash::decode(h)
                    .ok_or_else(|| StoreError::Malformed(format!("bad index entry {h:?}")))
            })
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
        call.key(self.session_key(user_id, hash))
            .key(self.profile_key(user_id))
            .key(self.counter_key(user_id, params.counter))
            .arg(params.now_ms)
            .arg(params.idle_ms)
            .arg(params.refresh_after_ms);
        let row: Option<TouchRow> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
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
        call.key(self.index_key(user_id))
            .arg(self.session_key_prefix(user_id))
            .arg(now_ms);
        let rows: Vec<(String, String)> = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for (h, value) in rows {
            let hash = SessionHash::decode(&h)
                .ok_or_else(|| StoreError::Malformed(format!("bad index entry {h:?}")))?;
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
        // SCAN, never KEYS: each call looks at about `count` keys and returns, so a walk over
        // millions of keys is many short commands that other clients interleave with. The
        // page's records are then read in one round trip. The user id is in the key, so
        // nothing else is needed. SCAN is per node: on a cluster the walk visits every master.
        let pattern = self.session_pattern();
        let (next, rows) = self
            .run(|conn| async move {
                match conn {
                    Conn::Single(mut conn) => scan_single(&mut conn, cursor, &pattern, count).await,
                    Conn::Cluster(conn) => scan_cluster(conn, cursor, &pattern, count).await,
                }
            })
            .await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for (key, value) in rows {
            let Some((user_id, hash)) = self.parse_session_key(&key) else {
                continue;
            };
            // A session that ended between SCAN and GET is gone.
            let Some(value) = value else {
                continue;
            };
            let record = packed::decode_record(&value)?;
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
            .arg(self.session_key_prefix(user_id))
            .arg(mode)
            .arg(hash);
        self.run(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
    }

    async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError> {
        let mut call = self.scripts.update_profile.prepare_invoke();
        call.key(self.profile_key(user_id))
            .arg(packed::encode_profile(profile));
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
        // A cluster is asked for its own verdict: `cluster_state:ok` once every slot is
        // served, `fail` once its nodes agree that a master is gone and no replica took over
        // (Redis then refuses commands for every slot, by default). A master that is merely
        // slow to answer does not make every replica unready while the cluster fails over.
        let state = self
            .run(|mut conn| async move {
                match conn {
                    Conn::Single(_) => {
                        redis::cmd("PING").query_async::<()>(&mut conn).await?;
                        Ok(None)
                    }
                    Conn::Cluster(mut conn) => {
                        let info: String = redis::cmd("CLUSTER")
                            .arg("INFO")
                            .query_async(&mut conn)
                            .await?;
                        Ok(Some(info))
                    }
                }
            })
            .await?;
        match state {
            Some(info) if !info.lines().any(|l| l.trim() == "cluster_state:ok") => {
                let line = info
                    .lines()
                    .find(|l| l.starts_with("cluster_state:"))
                    .unwrap_or("no cluster_state")
                    .trim()
                    .to_owned();
                Err(StoreError::Unavailable(anyhow!(
                    "the Redis Cluster is not serving every slot ({line})"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Session keys with their packed records (`None` when the key is gone), as one page of a
/// walk reads them.
type ScanRows = Vec<(String, Option<String>)>;

/// `SCAN <cursor> MATCH <pattern> COUNT <count> TYPE string`. Only strings are sessions:
/// the type filter passes over keys of the layout before packed strings (hashes), which no
/// longer sign anyone in, so that reading the page cannot fail on them (`WRONGTYPE`).
fn scan_command(cursor: u64, pattern: &str, count: u32) -> redis::Cmd {
    let mut scan = redis::cmd("SCAN");
    scan.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(count.max(1))
        .arg("TYPE")
        .arg("string");
    scan
}

/// One page of a walk on a single Redis: SCAN, then every record with one MGET.
async fn scan_single(
    conn: &mut ConnectionManager,
    cursor: u64,
    pattern: &str,
    count: u32,
) -> Result<(u64, ScanRows), RedisError> {
    let (next, keys): (u64, Vec<String>) = scan_command(cursor, pattern, count)
        .query_async(conn)
        .await?;
    if keys.is_empty() {
        return Ok((next, Vec::new()));
    }
    let records: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(conn).await?;
    Ok((next, keys.into_iter().zip(records).collect()))
}

/// How many low bits of a cluster walk's cursor are the current master's own SCAN cursor;
/// the bits above them number the master. A node's cursor stays far below 2^48 (it grows
/// with the log of the node's key count), and 16 bits number more masters than there are
/// slots.
const NODE_CURSOR_BITS: u32 = 48;
const NODE_CURSOR_MASK: u64 = (1 << NODE_CURSOR_BITS) - 1;

/// One page of a walk on a Redis Cluster. SCAN sees one node's keys, so the walk goes
/// through the masters one after the other, in the order of the first slot each serves (a
/// stable order while the cluster's shape holds), and its cursor carries which master it is
/// on. Each master is addressed through a slot it serves, so the connection's own slot map
/// routes it. Records are read with one GET per key, sent together on the multiplexed
/// connection (one round trip); a pipeline could not carry them, since their slots differ.
///
/// A resharding or failover during a walk may make it miss or repeat keys that moved; a
/// master added during a walk is visited only if it sorts after the current one.
async fn scan_cluster(
    mut conn: ClusterConnection,
    cursor: u64,
    pattern: &str,
    count: u32,
) -> Result<(u64, ScanRows), RedisError> {
    let masters = cluster_masters(&mut conn).await?;
    let index = usize::try_from(cursor >> NODE_CURSOR_BITS).unwrap_or(usize::MAX);
    let Some(&slot) = masters.get(index) else {
        return Ok((0, Vec::new()));
    };
    let scan = scan_command(cursor & NODE_CURSOR_MASK, pattern, count);
    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_slot(
        slot,
        SlotAddr::Master,
    )));
    let (node_next, keys): (u64, Vec<String>) =
        redis::from_redis_value(conn.route_command(scan, route).await?)?;
    if node_next & !NODE_CURSOR_MASK != 0 {
        return Err(RedisError::from((
            ErrorKind::Client,
            "a node's SCAN cursor does not fit a cluster walk's cursor",
        )));
    }
    let next = if node_next != 0 {
        ((index as u64) << NODE_CURSOR_BITS) | node_next
    } else if index + 1 < masters.len() {
        ((index + 1) as u64) << NODE_CURSOR_BITS
    } else {
        0
    };
    let reads = keys.iter().map(|key| {
        let mut conn = conn.clone();
        let mut get = redis::cmd("GET");
        get.arg(key);
        async move { get.query_async::<Option<String>>(&mut conn).await }
    });
    let records = futures_util::future::try_join_all(reads).await?;
    Ok((next, keys.into_iter().zip(records).collect()))
}

/// A slot of each master of the cluster (the first it serves), in slot order, from
/// `CLUSTER SLOTS`: the same answer the connection builds its slot map from.
async fn cluster_masters(conn: &mut ClusterConnection) -> Result<Vec<Slot>, RedisError> {
    let reply = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        )
        .await?;
    let ranges: Vec<Vec<Value>> = redis::from_redis_value(reply)?;
    // The first slot of each master, by node id (or address, from a server without ids).
    let mut first: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    for range in &ranges {
        let (Some(start), Some(master)) = (range.first(), range.get(2)) else {
            continue;
        };
        let start: u16 = redis::from_redis_value_ref(start)?;
        let master: Vec<Value> = redis::from_redis_value_ref(master)?;
        let id = match master.get(2) {
            Some(id) => redis::from_redis_value_ref::<String>(id)?,
            None => format!("{:?}", &master[..master.len().min(2)]),
        };
        let slot = first.entry(id).or_insert(start);
        *slot = (*slot).min(start);
    }
    let mut slots: Vec<u16> = first.into_values().collect();
    slots.sort_unstable();
    Ok(slots.into_iter().filter_map(Slot::new).collect())
}
