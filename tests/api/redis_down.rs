//! Redis going away and coming back, on a `redis-server` of the test's own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{assert_error, free_port, json, spawn_app_with, Browser};

/// A `redis-server` on a free loopback port, killed on drop.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (see .ci/run)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_outage_answers_503_and_recovers_by_itself() {
    let mut redis = OwnRedis::start();
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__REDIS__URL", &redis.url())
            .set("LATCHKEY__REDIS__TIMEOUT", "1s")
    })
    .await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);

    redis.stop();
    let res = app.get(&mut Browser::new(), "/readyz").await;
    assert_eq!(res.status(), 503);
    let body = json(res).await;
    assert_eq!(body["code"], "not_ready");
    assert_eq!(body["unavailable"], serde_json::json!(["redis"]));
    assert!(body["error"].as_str().is_some_and(|e| e.contains("redis")));

    let res = app.user_info(&mut browser).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, "session_store_unavailable").await;
    let res = app.list_sessions(&mut browser).await;
    assert_error(res, 503, "session_store_unavailable").await;
    let res = app.revoke_other_sessions(&mut browser).await;
    assert_error(res, 503, "session_store_unavailable").await;

    // Back (empty: this Redis keeps nothing on disk); the app reconnects without a restart.
    redis.restart();
    let mut ready = false;
    for _ in 0..50 {
        if app.get(&mut Browser::new(), "/readyz").await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "readyz recovers once Redis is back");
    let (mut fresh, _) = app.signed_in_browser("Ada").await;
    assert_eq!(app.user_info(&mut fresh).await.status(), 200);
    // The old session lived in the Redis that was lost.
    assert_error(app.user_info(&mut browser).await, 401, "unauthenticated").await;
}

/// Calls per command from `INFO commandstats`.
pub async fn command_calls(url: &str) -> std::collections::BTreeMap<String, u64> {
    let client = redis::Client::open(url).expect("URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .expect("INFO");
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, stats) = l.split_once(':')?;
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

#[tokio::test]
async fn an_authenticated_request_costs_one_redis_round_trip() {
    let redis = OwnRedis::start();
    let app = spawn_app_with(|c| c.set("LATCHKEY__REDIS__URL", &redis.url())).await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    // Warm up: the first call also loads the script (NOSCRIPT, then SCRIPT LOAD).
    assert_eq!(app.user_info(&mut browser).await.status(), 200);

    let before = command_calls(&redis.url()).await;
    for _ in 0..20 {
        assert_eq!(app.user_info(&mut browser).await.status(), 200);
    }
    let after = command_calls(&redis.url()).await;
    let sent = sent_by_clients(&before, &after);
    assert_eq!(
        sent,
        std::collections::BTreeMap::from([("evalsha".to_owned(), 20)]),
        "one EVALSHA per authenticated request, nothing else (no pool PING/UNWATCH)"
    );
}

/// The commands clients sent between two `INFO commandstats` readings: top-level commands
/// only, not the script's own GET/SET (counted too), nor the readings' INFO.
pub fn sent_by_clients(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "get" | "set" | "del" | "info"))
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, delta)| *delta > 0)
        .collect()
}
