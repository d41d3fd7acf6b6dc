//! Looking into a Redis server: what it counted (`INFO`), for tests and the bench that check
//! how many commands a request costs and how much memory sessions take, and which keys it has.

use std::collections::BTreeMap;

use redis::aio::ConnectionLike;
use redis::RedisResult;

/// One `field:value` line of `INFO <section>`, or `None` when the section has no such field.
pub async fn info_field(
    conn: &mut impl ConnectionLike,
    section: &str,
    field: &str,
) -> RedisResult<Option<String>> {
    let text: String = redis::cmd("INFO").arg(section).query_async(conn).await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned()))
}

/// Calls per command since the server started or the last `CONFIG RESETSTAT`, from
/// `INFO commandstats` (lower-case names: `evalsha`, `get`, …).
pub async fn command_calls(conn: &mut impl ConnectionLike) -> RedisResult<BTreeMap<String, u64>> {
    let text: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    Ok(parse_commandstats(&text))
}

/// `cmdstat_evalsha:calls=123,usec=…` lines as `{"evalsha": 123}`.
pub fn parse_commandstats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Every key matching `pattern` (`SCAN … MATCH`), in the order SCAN returns them.
pub async fn keys_matching(
    conn: &mut impl ConnectionLike,
    pattern: &str,
) -> RedisResult<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}
