//! Redis going away and coming back, on a `redis-server` of the test's own.

use std::time::Duration;

use crate::support::app::spawn_app_with;
use crate::support::browser::Browser;
use crate::support::redis::{command_calls, own_redis, sent_by_clients};
use crate::support::response::{assert_error, json};

#[tokio::test]
async fn redis_outage_answers_503_and_recovers_by_itself() {
    let mut redis = own_redis();
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
    // Leaving the database out of the check never leaves Redis out.
    let res = app
        .get(&mut Browser::new(), "/readyz?exclude=database")
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(json(res).await["unavailable"], serde_json::json!(["redis"]));

    let res = app.user_info(&mut browser).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, "session_store_unavailable").await;
    let res = app.list_sessions(&mut browser).await;
    assert_error(res, 503, "session_store_unavailable").await;
    let res = app.revoke_other_sessions(&mut browser).await;
    assert_error(res, 503, "session_store_unavailable").await;

    // Back (empty: this Redis keeps nothing on disk); the app reconnects without a restart.
    redis.restart().expect("redis-server starts again");
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

#[tokio::test]
async fn an_authenticated_request_costs_one_redis_round_trip() {
    let redis = own_redis();
    let app = spawn_app_with(|c| c.set("LATCHKEY__REDIS__URL", &redis.url())).await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    // Warm up: nothing to load (the hot path runs no script), but the first call opens the
    // connection.
    assert_eq!(app.user_info(&mut browser).await.status(), 200);

    let before = command_calls(&redis.url()).await;
    for _ in 0..20 {
        assert_eq!(app.user_info(&mut browser).await.status(), 200);
    }
    let after = command_calls(&redis.url()).await;
    let sent = sent_by_clients(&before, &after);
    assert_eq!(
        sent,
        std::collections::BTreeMap::from([("mget".to_owned(), 20)]),
        "one MGET per authenticated request, nothing else (no pool PING/UNWATCH, no script)"
    );
}

/// A request that slides the session is answered after the same one round trip: its refresh
/// is one `SET … XX` sent after the `MGET`, which the answer does not wait for, and which the
/// next request (on the same connection) already sees: the key's expiry has moved.
#[tokio::test]
async fn a_request_that_slides_the_session_still_costs_one_round_trip() {
    let redis = own_redis();
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__REDIS__URL", &redis.url())
            // A refresh step of 200 ms (a tenth of the idle timeout).
            .set("LATCHKEY__SESSION__IDLE_TIMEOUT", "2s")
            .set("LATCHKEY__SESSION__ABSOLUTE_TIMEOUT", "1h")
    })
    .await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    let url = redis.url();
    let expiry = || async {
        let mut conn = ::redis::Client::open(url.as_str())
            .expect("URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis answers");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*:s:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        redis::cmd("PEXPIRETIME")
            .arg(&keys[0])
            .query_async::<i64>(&mut conn)
            .await
            .unwrap()
    };
    let first = expiry().await;

    // Past the refresh step: the next request slides the session.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = command_calls(&redis.url()).await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    let after = command_calls(&redis.url()).await;
    let sent: std::collections::BTreeMap<_, _> = after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .map(|(name, n)| (name.clone(), n - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        sent,
        std::collections::BTreeMap::from([("mget".to_owned(), 2), ("set".to_owned(), 1)]),
        "two requests: two MGETs, and one refresh for the one that slid"
    );
    assert!(expiry().await > first, "the refresh moved the key's expiry");
}
