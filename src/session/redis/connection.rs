//! The connection to a single Redis or to a Redis Cluster, and the two things that depend on
//! which it is: how a command is routed, and what "healthy" means.
//!
//! Either kind is a [`ConnectionLike`] (through [`Conn`]), so every script and command of the
//! store runs unchanged on both.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use anyhow::anyhow;
use redis::aio::ConnectionLike;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, RedisError, Value};

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
pub(super) enum Conn {
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
        let client = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()
            .map_err(|e| anyhow!("redis.cluster_nodes: {e}"))?;
        let cluster = Cluster {
            client,
            connection: tokio::sync::OnceCell::new(),
        };
        Ok(Self {
            kind: Kind::Cluster(Box::new(cluster)),
            timeout,
        })
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    /// A handle on the shared connection, opening it on first use.
    async fn conn(&self) -> Result<Conn, StoreError> {
        let no_connection = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(anyhow!("no Redis connection: {e}"))
        };
        Ok(match &self.kind {
            Kind::Single(single) => {
                Conn::Single(single.connection().await.map_err(|e| no_connection(&e))?)
            }
            Kind::Cluster(cluster) => {
                Conn::Cluster(cluster.connection().await.map_err(|e| no_connection(&e))?)
            }
        })
    }

    /// Runs one operation on the shared connection, within the timeout.
    pub(super) async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let work = async { op(self.conn().await?).await.map_err(classify) };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Unavailable(anyhow!("Redis did not answer in time")))?
    }

    /// Sends `cmd` without the caller waiting for its reply: the hot path's sliding refresh,
    /// after the one round trip its answer needs. The command is queued on the shared
    /// connection before this returns (the first poll of the send queues it on the
    /// multiplexed connection), so a later command of this process runs after it; its reply
    /// is awaited, within the timeout, by a task of its own. A failure is logged and
    /// otherwise ignored: the next request retries the refresh.
    pub(super) async fn send_detached(&self, cmd: redis::Cmd) {
        let conn = match self.conn().await {
            Ok(conn) => conn,
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

/// A reply we cannot read is our bug or a foreign key in our prefix; anything else (refused,
/// dropped, loading, failing over) means Redis is not there for us right now.
fn classify(e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreError::Malformed(e.to_string()),
        _ => StoreError::Unavailable(e.into()),
    }
}
