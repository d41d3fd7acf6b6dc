//! The walk over every session of the deployment, for operators: `SCAN`, never `KEYS`.
//!
//! Each call looks at about `count` keys and returns, so a walk over millions of keys is many
//! short commands that other clients interleave with. The page's records are then read in one
//! round trip. The user id is in the key, so nothing else is needed. `SCAN` is per node: on a
//! cluster the walk visits every master, and its cursor says which.

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{ErrorKind, RedisError, Value};

use super::connection::Conn;
use super::keys::Keys;
use crate::session::packed;
use crate::session::store::{ScanPage, StoreError};

/// Session keys with their packed records (`None` when the key is gone), as one page of a
/// walk reads them.
pub(super) type ScanRows = Vec<(String, Option<String>)>;

/// One page of the walk over the keys matching `pattern`: the next cursor (0 when the walk
/// is over) and the keys found with their values.
pub(super) async fn page(
    conn: Conn,
    cursor: u64,
    pattern: &str,
    count: u32,
) -> Result<(u64, ScanRows), RedisError> {
    match conn.into_cluster() {
        Err(mut conn) => scan_single(&mut conn, cursor, pattern, count).await,
        Ok(conn) => scan_cluster(conn, cursor, pattern, count).await,
    }
}

/// The live sessions among a page's rows. Keys of another shape are passed over, and so is a
/// session that ended between `SCAN` and `GET`.
pub(super) fn live_sessions(
    keys: &Keys,
    (next, rows): (u64, ScanRows),
    now_ms: i64,
    idle_ms: i64,
) -> Result<ScanPage, StoreError> {
    let mut sessions = Vec::with_capacity(rows.len());
    for (key, value) in rows {
        let (Some((user_id, hash)), Some(value)) = (keys.parse_session(&key), value) else {
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
