//! Request limits on the sign-in routes and the vision proxy, shared across replicas.

use reqwest::Method;

use crate::helpers::{assert_error, spawn_app_with, Browser, ServerProcess, TestApp};

async fn app_with_auth_limit(limit: &str, trusted: Option<&str>) -> TestApp {
    spawn_app_with(|c| {
        let c = c.set("LATCHKEY__LIMITS__AUTH_PER_IP", limit);
        match trusted {
            Some(t) => c.set("LATCHKEY__LIMITS__TRUSTED_PROXIES", t),
            None => c,
        }
    })
    .await
}

async fn csrf(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|f| ("X-Forwarded-For", f))
        .into_iter()
        .collect();
    app.send(
        &mut Browser::extension(),
        Method::GET,
        "/auth/csrf-token",
        &headers,
    )
    .await
}

#[tokio::test]
async fn under_the_limit_then_429_with_retry_after() {
    let app = app_with_auth_limit("3", None).await;
    for _ in 0..3 {
        assert_eq!(csrf(&app, None).await.status(), 200);
    }
    let res = csrf(&app, None).await;
    let retry_after: i64 = res.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // CORS headers are still there, so the extension can read the refusal.
    assert!(res.headers().contains_key("access-control-allow-origin"));
    assert_error(res, 429, "rate_limited").await;
    // The login route shares the sign-in budget.
    let res = app
        .send(
            &mut Browser::extension(),
            Method::GET,
            "/auth/google/login",
            &[],
        )
        .await;
    assert_error(res, 429, "rate_limited").await;
    // Other routes are not limited.
    assert_eq!(app.get(&mut Browser::new(), "/healthz").await.status(), 200);
}

#[tokio::test]
async fn the_limit_is_shared_between_replicas() {
    let app = app_with_auth_limit("4", None).await;
    let replica = ServerProcess::start(&app.config.vars, None).await;
    for _ in 0..2 {
        assert_eq!(csrf(&app, None).await.status(), 200);
        let res = crate::helpers::client()
            .get(replica.url("/auth/csrf-token"))
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status(), 200);
    }
    let res = crate::helpers::client()
        .get(replica.url("/auth/csrf-token"))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 429);
    assert_eq!(csrf(&app, None).await.status(), 429);
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    // Not trusted: every request is 127.0.0.1, whatever it claims.
    let app = app_with_auth_limit("2", None).await;
    assert_eq!(csrf(&app, Some("203.0.113.1")).await.status(), 200);
    assert_eq!(csrf(&app, Some("203.0.113.2")).await.status(), 200);
    assert_eq!(csrf(&app, Some("203.0.113.3")).await.status(), 429);

    // Trusted: each forwarded client has its own budget.
    let app = app_with_auth_limit("2", Some("127.0.0.1,10.0.0.0/8")).await;
    for _ in 0..2 {
        assert_eq!(csrf(&app, Some("203.0.113.1")).await.status(), 200);
    }
    assert_eq!(csrf(&app, Some("203.0.113.1")).await.status(), 429);
    assert_eq!(csrf(&app, Some("203.0.113.2")).await.status(), 200);
    // The client cannot escape by prepending addresses: the rightmost untrusted one counts,
    // here 203.0.113.1 again behind an internal hop.
    assert_eq!(
        csrf(&app, Some("198.51.100.7, 203.0.113.1, 10.1.2.3"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn the_vision_proxy_is_limited_per_session() {
    let app = spawn_app_with(|c| c.set("LATCHKEY__LIMITS__VISION_PER_SESSION", "2")).await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let (mut other, _) = app.signed_in_browser("Bea").await;
    for _ in 0..2 {
        let res = app
            .send(
                &mut browser,
                Method::POST,
                "/api/openai/extract-subtitles",
                &[],
            )
            .await;
        assert_ne!(res.status(), 429);
    }
    let res = app
        .send(
            &mut browser,
            Method::POST,
            "/api/openai/extract-subtitles",
            &[],
        )
        .await;
    assert_error(res, 429, "rate_limited").await;
    let res = app
        .send(
            &mut other,
            Method::POST,
            "/api/openai/extract-subtitles",
            &[],
        )
        .await;
    assert_ne!(res.status(), 429, "another session has its own budget");
}
