//! The connection to a single Redis or to a Redis Cluster, and the two things that depend on
//! which it is: how a command is routed, and what "healthy" means.
//!
//! Either kind is a [`ConnectionLike`] (through [`Conn`]), so every script and command of the
//! store runs unchanged on both.
//!
//! On a cluster, a master that stops answering would make every request for its slots wait
//! the whole `redis.timeout` before its 503, and clients pile up. So the slots of a master
//! that just failed are remembered as down ([`DownSlots`]): their commands fail at once, and
//! one request now and then ([`RETRY_DOWN_AFTER`]) tries the node again, so that its users are
//! back as soon as it (or the replica that took over) answers. The other masters' users never
//! notice.

use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use redis::aio::ConnectionLike;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Arg, ErrorKind, RedisError, Value};

use crate::session::store::StoreError;

/// The connection to a single Redis or to a Redis Cluster, shared by every request.
///
/// Both are multiplexed: concurrent commands are pipelined over one socket (per node), so no
/// pool checkout, and no pool's recycle check (`PING`, `UNWATCH`), precedes a command, and
/// the hot path is one round trip on a cluster as on a single Redis. Both are opened on first
/// use, so the store can be built while Redis is down, and both reconnect by themselves.
pub(super) struct Connection {
    kind: Kind,
    /// Bounds every operation, from connecting to the reply.
    timeout: Duration,
}

enum Kind {
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

/// How long the slots of a master that failed are failed at once before one request tries it
/// again. Short: a replica's promotion is noticed within this, and a request let through to a
/// node still down costs that one request the wait, not every request.
pub(super) const RETRY_DOWN_AFTER: Duration = Duration::from_millis(500);

/// The cluster's connection follows `MOVED`/`ASK` redirections, failovers and slot map
/// changes by itself, and goes back to the configured nodes when it has lost every node.
struct Cluster {
    client: ClusterClient,
    connection: tokio::sync::OnceCell<ClusterConnection>,
    down: Arc<DownSlots>,
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
pub(super) enum Conn {
    Single(ConnectionManager),
    /// The cluster connection, for one operation of [`Connection::run`]: each command's slot
    /// is checked against the slots known down, and noted for `run` to mark if it fails.
    Cluster(ClusterConnection, Arc<Watch>),
}

impl Conn {
    /// The cluster connection under either cluster variant.
    pub(super) fn into_cluster(self) -> Result<ClusterConnection, ConnectionManager> {
        match self {
            Self::Single(c) => Err(c),
            Self::Cluster(c, _) => Ok(c),
        }
    }
}

/// One operation's view of the slots known down.
pub(super) struct Watch {
    down: Arc<DownSlots>,
    /// The slot of the last command sent (`NO_SLOT` before any), so that a failure or a
    /// timeout is charged to its node.
    slot: AtomicU32,
    /// A command was failed at once because its slot is known down.
    refused: AtomicBool,
}

const NO_SLOT: u32 = u32::MAX;

/// The cluster connection and the watch of one operation, for noting its outcome.
type Watched = (ClusterConnection, Arc<Watch>);

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c, watch) => {
                if let Some(slot) = command_slot(cmd) {
                    watch.slot.store(u32::from(slot), Ordering::Relaxed);
                    if !watch.down.admit(slot, Instant::now()) {
                        watch.refused.store(true, Ordering::Relaxed);
                        return Box::pin(std::future::ready(Err(node_down())));
                    }
                }
                c.req_packed_command(cmd)
            }
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
            Self::Cluster(c, _) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c, _) => c.get_db(),
        }
    }
}

impl Connection {
    /// The single Redis at `url`, lazily: this succeeds while Redis is down.
    pub(super) fn single(url: &str, timeout: Duration) -> anyhow::Result<Self> {
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
        Ok(Self {
            kind: Kind::Single(Box::new(single)),
            timeout,
        })
    }

    /// The Redis Cluster that `nodes` belong to (any of its nodes; the others are discovered
    /// from them), lazily, with one multiplexed connection per node.
    pub(super) fn cluster(nodes: &[String], timeout: Duration) -> anyhow::Result<Self> {
        // The client's own retries wait 1.28 s and more between attempts by default, longer
        // than a request can wait: a few quick ones ride a redirection or a reconnection, and
        // a node that is down is left to `DownSlots`.
        let client = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(100)
            .build()
            .map_err(|e| anyhow!("redis.cluster_nodes: {e}"))?;
        let cluster = Cluster {
            client,
            connection: tokio::sync::OnceCell::new(),
            down: Arc::default(),
        };
        Ok(Self {
            kind: Kind::Cluster(Box::new(cluster)),
            timeout,
        })
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    /// On a cluster, the slots whose master is known to be down right now, and how many
    /// commands were failed at once for that since the start (for tests and diagnosis).
    pub(super) fn known_down(&self) -> (Vec<RangeInclusive<u16>>, u64) {
        match &self.kind {
            Kind::Single(_) => (Vec::new(), 0),
            Kind::Cluster(cluster) => (
                cluster.down.ranges(),
                cluster.down.failed_fast.load(Ordering::Relaxed),
            ),
        }
    }

    /// A handle on the shared connection, opening it on first use; on a cluster, with a fresh
    /// watch of the slots known down, returned beside it for [`Connection::run`] to note how
    /// the operation went.
    async fn conn(&self) -> Result<(Conn, Option<Watched>), StoreError> {
        let no_connection = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(anyhow!("no Redis connection: {e}"))
        };
        Ok(match &self.kind {
            Kind::Single(single) => (
                Conn::Single(single.connection().await.map_err(|e| no_connection(&e))?),
                None,
            ),
            Kind::Cluster(cluster) => {
                let conn = cluster.connection().await.map_err(|e| no_connection(&e))?;
                let watch = Arc::new(Watch {
                    down: Arc::clone(&cluster.down),
                    slot: AtomicU32::new(NO_SLOT),
                    refused: AtomicBool::new(false),
                });
                (
                    Conn::Cluster(conn.clone(), Arc::clone(&watch)),
                    Some((conn, watch)),
                )
            }
        })
    }

    /// Runs one operation on the shared connection, within the timeout. On a cluster, a
    /// command for a slot whose master is known down fails at once, and a failure to reach a
    /// master marks its slots down.
    pub(super) async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let mut watched = None;
        let work = async {
            let (conn, watch) = self.conn().await?;
            watched = watch;
            Ok(op(conn).await)
        };
        let outcome = match tokio::time::timeout(self.timeout, work).await {
            Ok(Err(no_connection)) => return Err(no_connection),
            Ok(Ok(result)) => Ok(result),
            Err(elapsed) => Err(elapsed),
        };
        if let Some((conn, watch)) = watched {
            if !watch.refused.load(Ordering::Relaxed) {
                note(conn, &watch, &outcome).await;
            }
        }
        match outcome {
            Err(_) => Err(StoreError::Unavailable(anyhow!(
                "Redis did not answer in time"
            ))),
            Ok(result) => result.map_err(classify),
        }
    }

    /// Sends `cmd` without the caller waiting for its reply: the hot path's sliding refresh,
    /// after the one round trip its answer needs. The command is queued on the shared
    /// connection before this returns (the first poll of the send queues it on the
    /// multiplexed connection), so a later command of this process runs after it; its reply
    /// is awaited, within the timeout, by a task of its own. A failure is logged and
    /// otherwise ignored: the next request retries the refresh.
    pub(super) async fn send_detached(&self, cmd: redis::Cmd) {
        let conn = match self.conn().await {
            Ok((conn, _)) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "a detached Redis write was not sent");
                return;
            }
        };
        let timeout = self.timeout;
        let mut send = Box::pin(async move {
            let mut conn = conn;
            match tokio::time::timeout(timeout, cmd.query_async::<Value>(&mut conn)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "a detached Redis write failed"),
                Err(_) => tracing::warn!("a detached Redis write got no answer in time"),
            }
        });
        let done = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx).is_ready())).await;
        if !done {
            tokio::spawn(send);
        }
    }

    /// Answers when Redis does. A cluster is asked for its own verdict: `cluster_state:ok`
    /// once every slot is served, `fail` once its nodes agree that a master is gone and no
    /// replica took over (Redis then refuses commands for every slot, by default). A master
    /// that is merely slow to answer does not make every replica unready while the cluster
    /// fails over.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let state = self
            .run(|mut conn| async move {
                match conn {
                    Conn::Single(_) => {
                        redis::cmd("PING").query_async::<()>(&mut conn).await?;
                        Ok(None)
                    }
                    Conn::Cluster(mut conn, _) => {
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

/// A reply we cannot read is our bug or a foreign key in our prefix; anything else (refused,
/// dropped, loading, failing over) means Redis is not there for us right now.
fn classify(e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreError::Malformed(e.to_string()),
        _ => StoreError::Unavailable(e.into()),
    }
}

/// After an operation on a cluster: a slot that answered is not down; one whose node did
/// not answer (timeout, refused or dropped connection) is marked down with the other
/// slots of its master.
async fn note<T>(
    conn: ClusterConnection,
    watch: &Watch,
    outcome: &Result<Result<T, RedisError>, tokio::time::error::Elapsed>,
) {
    let Ok(slot) = u16::try_from(watch.slot.load(Ordering::Relaxed)) else {
        return;
    };
    let unreachable = match outcome {
        Err(_) => true,
        Ok(Err(e)) => is_unreachable(e),
        Ok(Ok(_)) => false,
    };
    if !unreachable {
        if outcome.is_ok() {
            watch.down.clear(slot);
        }
        return;
    }
    let slots = master_slots(conn, slot).await.unwrap_or(slot..=slot);
    tracing::warn!(
        first_slot = slots.start(),
        last_slot = slots.end(),
        "a Redis Cluster master does not answer; failing its slots at once for now"
    );
    watch.down.mark(slots, Instant::now());
}

/// The slots of the cluster's masters known to be down, each range with when one request may
/// try its node again.
#[derive(Default)]
pub(super) struct DownSlots {
    down: Mutex<Vec<(RangeInclusive<u16>, Instant)>>,
    /// Commands failed at once because their slot was down.
    failed_fast: AtomicU64,
}

impl DownSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(RangeInclusive<u16>, Instant)>> {
        self.down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a command for `slot` may be sent now. Not while its node is known down; once
    /// its retry time has come, this one caller is let through and the next retry is pushed
    /// back, so a node that is still down costs one request the wait, not a crowd.
    fn admit(&self, slot: u16, now: Instant) -> bool {
        let mut down = self.lock();
        let Some((_, retry_at)) = down.iter_mut().find(|(r, _)| r.contains(&slot)) else {
            return true;
        };
        if now >= *retry_at {
            *retry_at = now + RETRY_DOWN_AFTER;
            return true;
        }
        drop(down);
        self.failed_fast.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn mark(&self, slots: RangeInclusive<u16>, now: Instant) {
        let mut down = self.lock();
        down.retain(|(r, _)| r.end() < slots.start() || r.start() > slots.end());
        down.push((slots, now + RETRY_DOWN_AFTER));
    }

    /// A command for `slot` was answered: its node (or the one that took over) is back.
    fn clear(&self, slot: u16) {
        let mut down = self.lock();
        if down.iter().any(|(r, _)| r.contains(&slot)) {
            down.retain(|(r, _)| !r.contains(&slot));
            tracing::info!(slot, "a Redis Cluster master answers again");
        }
    }

    /// The ranges known down, including those whose retry time has come.
    fn ranges(&self) -> Vec<RangeInclusive<u16>> {
        self.lock().iter().map(|(r, _)| r.clone()).collect()
    }
}

/// The slot of a command's first key as the cluster routes it: a script's first key
/// (`EVAL`/`EVALSHA <script> <numkeys> <key> …`), or a command's first argument. `None` for a
/// command with no key.
fn command_slot(cmd: &redis::Cmd) -> Option<u16> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?;
    let key = if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        let _script = args.next()?;
        let keys = std::str::from_utf8(args.next()?)
            .ok()?
            .parse::<u32>()
            .ok()?;
        if keys == 0 {
            return None;
        }
        args.next()?
    } else if name.eq_ignore_ascii_case(b"CLUSTER") || name.eq_ignore_ascii_case(b"SCAN") {
        return None;
    } else {
        args.next()?
    };
    Some(key_slot(key))
}

/// The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag (the part between the first
/// `{` and the next `}`, when not empty) or of the whole key, modulo 16384. redis-rs computes
/// the same but does not give the number out.
fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|b| *b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|b| *b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    let mut crc: u16 = 0;
    for byte in tagged.unwrap_or(key) {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The error of a command failed at once because its slot's master is known down.
fn node_down() -> RedisError {
    RedisError::from((
        ErrorKind::Io,
        "the Redis Cluster master of this slot is known to be down",
    ))
}

/// A failure to reach a node, as opposed to a reply: refused, dropped, closed or timed out.
fn is_unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.kind() == ErrorKind::ClusterConnectionNotFound
}

/// The slots served by the master of `slot`, asked of a node at random (`CLUSTER SLOTS`; a
/// node that lost its master still lists it until a replica takes over). `None` when no node
/// answers quickly.
async fn master_slots(mut conn: ClusterConnection, slot: u16) -> Option<RangeInclusive<u16>> {
    for _ in 0..3 {
        let ask = conn.route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        );
        let Ok(Ok(reply)) = tokio::time::timeout(Duration::from_millis(200), ask).await else {
            continue;
        };
        let Ok(ranges) = redis::from_redis_value::<Vec<(u16, u16, redis::Value)>>(reply) else {
            // Each entry has the master and its replicas after the range.
            return None;
        };
        return ranges
            .into_iter()
            .map(|(first, last, _)| first..=last)
            .find(|r| r.contains(&slot));
    }
    None
}

#[cfg(test)]
mod tests {
    use redis::cluster_routing::Slot;

    use super::*;

    #[test]
    fn a_down_range_fails_fast_then_lets_one_request_try_again() {
        let down = DownSlots::default();
        let t = Instant::now();
        assert!(down.admit(7, t), "nothing is down yet");
        down.mark(0..=5460, t);
        assert!(!down.admit(7, t));
        assert!(!down.admit(5460, t + RETRY_DOWN_AFTER / 2));
        assert!(down.admit(5461, t), "another master's slot");
        // Retry time: one request goes, the next ones still fail fast.
        assert!(down.admit(100, t + RETRY_DOWN_AFTER));
        assert!(!down.admit(101, t + RETRY_DOWN_AFTER));
        assert_eq!(down.failed_fast.load(Ordering::Relaxed), 3);
        // It was answered: the node is back.
        down.clear(100);
        assert!(down.admit(7, t + RETRY_DOWN_AFTER));
        assert!(down.ranges().is_empty());
    }

    #[test]
    fn a_new_mark_replaces_overlapping_ones() {
        let down = DownSlots::default();
        let t = Instant::now();
        down.mark(10..=10, t);
        down.mark(0..=5460, t);
        down.mark(10923..=16383, t);
        assert_eq!(down.ranges(), vec![0..=5460, 10923..=16383]);
    }

    #[test]
    fn a_command_is_routed_by_its_first_key() {
        let key = "lk:{u:abc}:s:x";
        let slot = key_slot(b"{u:abc}");
        for k in [
            "lk:{u:abc}:s:x",
            "plain",
            "{}x",
            "a{b}c",
            "{user1000}.following",
            "",
        ] {
            assert_eq!(
                Slot::new(key_slot(k.as_bytes())),
                Some(Slot::for_key(k)),
                "{k}"
            );
        }
        let evalsha = redis::cmd("EVALSHA")
            .arg("0123")
            .arg(2)
            .arg(key)
            .arg("k2")
            .arg("a")
            .clone();
        assert_eq!(command_slot(&evalsha), Some(slot));
        assert_eq!(command_slot(redis::cmd("GETDEL").arg(key)), Some(slot));
        assert_eq!(command_slot(redis::cmd("EVALSHA").arg("0123").arg(0)), None);
        assert_eq!(command_slot(redis::cmd("CLUSTER").arg("INFO")), None);
    }
}
