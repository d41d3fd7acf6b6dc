//! Redis as the tests see it: the shared server every test keys under its own prefix, the
//! shared Redis Cluster, and command counters. Servers of a test's own come from
//! `testkit::redis` ([`RedisServer`], [`RedisCluster`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use latchkey::session::{RedisLayout, RedisStore};
use testkit::redis::{ClusterOptions, RedisCluster, RedisServer};
use uuid::Uuid;

/// The shared Redis: `LATCHKEY__REDIS__URL`, else the local default.
pub fn redis_url() -> String {
    std::env::var("LATCHKEY__REDIS__URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A plain `redis-server` of the test's own, for tests that stop it or count its commands.
pub fn own_redis() -> RedisServer {
    RedisServer::start().expect("a redis-server of the test's own")
}

/// A Redis Cluster of three masters; `node_timeout` is how long a silent master takes to count
/// as failed.
pub fn start_cluster(node_timeout: Duration) -> RedisCluster {
    RedisCluster::start(ClusterOptions {
        masters: 3,
        node_timeout,
    })
    .expect("a Redis Cluster of the test's own")
}

/// The cluster most cluster tests share: started by the first that asks, once per test
/// binary. It is made of plain processes, so it does not belong to that test's runtime and
/// serves every later test too.
pub fn shared_cluster() -> &'static RedisCluster {
    static SHARED: LazyLock<RedisCluster> =
        LazyLock::new(|| start_cluster(Duration::from_secs(15)));
    &SHARED
}

/// A key prefix no other test uses, so that a test's keys on a shared Redis are its own.
pub fn fresh_prefix() -> String {
    format!("lktest:{}:", Uuid::new_v4().simple())
}

/// A store on the shared Redis under `prefix`, writing `layout`.
pub fn redis_store_under(prefix: &str, layout: RedisLayout) -> RedisStore {
    RedisStore::new(&redis_url(), prefix, Duration::from_secs(2))
        .expect("Redis store")
        .with_layout(layout)
}

/// A store on `cluster` under a fresh key prefix.
pub fn redis_store_on(cluster: &RedisCluster) -> RedisStore {
    let prefix = fresh_prefix();
    RedisStore::cluster(&cluster.nodes(), &prefix, Duration::from_secs(2)).expect("cluster store")
}

/// Calls per command from `INFO commandstats` of the server at `url`.
pub async fn command_calls(url: &str) -> BTreeMap<String, u64> {
    let client = ::redis::Client::open(url).expect("URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    testkit::redis::stats::command_calls(&mut conn)
        .await
        .expect("INFO commandstats")
}

/// The commands clients sent between two `INFO commandstats` readings: top-level commands
/// only, not the script's own GET/SET (counted too), nor the readings' INFO.
pub fn sent_by_clients(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "get" | "set" | "del" | "info"))
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, delta)| *delta > 0)
        .collect()
}
