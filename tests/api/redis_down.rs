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
