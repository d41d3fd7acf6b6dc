//! Request limits on the sign-in routes and the vision proxy, shared across replicas.

use reqwest::Method;

use crate::support::app::{spawn_app_with, TestApp};
use crate::support::browser::Browser;
use crate::support::process::ServerProcess;
use crate::support::response::assert_error;

/// Windows are fixed (aligned on multiples of `limits.window` since the epoch), so a test whose
/// requests straddle a window's end would see its count start again. A day's window makes
/// that a matter of crossing midnight UTC, not of crossing a minute.
const WINDOW: &str = "1d";
const WINDOW_SECS: i64 = 86_400;

async fn app_with_auth_limit(limit: &str, trusted: Option<&str>) -> TestApp {
    spawn_app_with(|c| {
        let c = c
            .set("LATCHKEY__LIMITS__AUTH_PER_IP", limit)
            .set("LATCHKEY__LIMITS__WINDOW", WINDOW);
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
    // The seconds until the window ends: midnight UTC for a day's window.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let until_end = WINDOW_SECS - now % WINDOW_SECS;
    assert!((1..=WINDOW_SECS).contains(&retry_after), "{retry_after}");
    assert!(
        (retry_after - until_end).abs() <= 2,
        "{retry_after} vs {until_end}"
    );
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
        let res = crate::support::app::client()
            .get(replica.url("/auth/csrf-token"))
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status(), 200);
    }
    let res = crate::support::app::client()
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

/// A trusted proxy written in its IPv4-mapped IPv6 form is the IPv4 proxy: the clients behind
/// it each have their own budget, not the proxy's.
#[tokio::test]
async fn a_trusted_proxy_written_as_an_ipv4_mapped_address_is_trusted() {
    for trusted in ["::ffff:127.0.0.1", "::ffff:127.0.0.0/104"] {
        let app = app_with_auth_limit("2", Some(trusted)).await;
        for _ in 0..2 {
            assert_eq!(csrf(&app, Some("203.0.113.1")).await.status(), 200);
        }
        assert_eq!(csrf(&app, Some("203.0.113.1")).await.status(), 429);
        assert_eq!(
            csrf(&app, Some("203.0.113.2")).await.status(),
            200,
            "{trusted}: another client behind the proxy has its own budget"
        );
    }
}

#[tokio::test]
async fn the_vision_proxy_is_limited_per_session() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__LIMITS__VISION_PER_SESSION", "2")
            .set("LATCHKEY__LIMITS__WINDOW", "1d")
    })
    .await;
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

/// The request was let through to a handler: neither limited nor unknown to the router (which
/// would prove nothing about the limit).
async fn assert_reached_a_route(res: reqwest::Response, path: &str) {
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_ne!(status, 429, "{path} limited too early");
    assert!(
        !body.contains("\"not_found\""),
        "{path} matched no route; the test proves nothing"
    );
}

/// Each limited sign-in route, spelt the way the router reads it but not the way a string
/// comparison would.
const ENCODED_SIGN_IN_PATHS: &[&str] = &[
    "/auth/csrf-toke%6E",
    "/auth/%63srf-token",
    "/auth/csrf%2Dtoken",
    "/auth/google/logi%6E",
    "/auth/goo%67le/login",
    "/auth/github/logi%6E",
    "/auth/google/callbac%6B",
    "/auth/%67ithub/callback",
];

#[tokio::test]
async fn no_spelling_of_a_sign_in_path_escapes_its_limit() {
    for path in ENCODED_SIGN_IN_PATHS {
        let app = app_with_auth_limit("2", None).await;
        for _ in 0..2 {
            let res = app
                .send(&mut Browser::extension(), Method::GET, path, &[])
                .await;
            assert_reached_a_route(res, path).await;
        }
        let res = app
            .send(&mut Browser::extension(), Method::GET, path, &[])
            .await;
        assert_error(res, 429, "rate_limited").await;
        // One budget whatever the spelling: the plain path is spent too.
        assert_error(csrf(&app, None).await, 429, "rate_limited").await;
    }
}

#[tokio::test]
async fn no_spelling_of_the_vision_path_escapes_its_limits() {
    let vision = "/api/openai/extract-subtitles";
    for (key, path) in [
        (
            "LATCHKEY__LIMITS__VISION_PER_SESSION",
            "/api/openai/extract-subtitle%73",
        ),
        (
            "LATCHKEY__LIMITS__VISION_PER_IP",
            "/api/%6Fpenai/extract-subtitles",
        ),
    ] {
        let app = spawn_app_with(|c| c.set(key, "2").set("LATCHKEY__LIMITS__WINDOW", "1d")).await;
        let (mut browser, _) = app.signed_in_browser("Ada").await;
        for _ in 0..2 {
            let res = app.send(&mut browser, Method::POST, path, &[]).await;
            assert_reached_a_route(res, path).await;
        }
        let res = app.send(&mut browser, Method::POST, path, &[]).await;
        assert_error(res, 429, "rate_limited").await;
        let res = app.send(&mut browser, Method::POST, vision, &[]).await;
        assert_error(res, 429, "rate_limited").await;
    }
}

/// The answers to requests that all claim, through a trusted proxy, these forwarded chains.
async fn statuses(app: &TestApp, chains: &[&str]) -> Vec<u16> {
    let mut out = Vec::new();
    for chain in chains {
        out.push(csrf(app, Some(chain)).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn garbage_in_x_forwarded_for_does_not_let_a_client_choose_its_address() {
    let app = app_with_auth_limit("2", Some("127.0.0.1")).await;
    // The proxy appended the real client, 203.0.113.5; what is left of it was the client's.
    let chains = [
        "1.2.3.4, garbage, 203.0.113.5",
        "1.2.3.5, , 203.0.113.5",
        "203.0.113.5",
    ];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 429]);
    // And the victim whose address was written in front keeps its whole budget.
    assert_eq!(statuses(&app, &["1.2.3.4", "1.2.3.4"]).await, [200, 200]);
}

#[tokio::test]
async fn forged_prefixes_change_nothing() {
    let app = app_with_auth_limit("2", Some("127.0.0.1")).await;
    let chains = [
        "198.51.100.1, 203.0.113.9",
        "198.51.100.2, 10.0.0.1, 203.0.113.9",
        "203.0.113.9, 203.0.113.9",
    ];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 429]);
}

#[tokio::test]
async fn ports_do_not_make_another_client() {
    let app = app_with_auth_limit("2", Some("127.0.0.1")).await;
    let chains = ["203.0.113.7:1234", "203.0.113.7:999", "203.0.113.7"];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 429]);
    let chains = ["[2001:db8::7]:443", "[2001:db8::7]", "2001:db8::7"];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 429]);
}

#[tokio::test]
async fn an_ipv6_client_is_limited_by_its_64() {
    let app = app_with_auth_limit("2", Some("127.0.0.1")).await;
    let chains = [
        "2001:db8:1:2::1",
        "2001:db8:1:2:ffff:ffff:ffff:fffe",
        "2001:db8:1:2:1234::9",
    ];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 429]);
    // The next /64 is another subscriber.
    assert_eq!(statuses(&app, &["2001:db8:1:3::1"]).await, [200]);
}

#[tokio::test]
async fn an_ipv4_client_behind_6to4_or_nat64_has_one_budget() {
    let app = app_with_auth_limit("2", Some("127.0.0.1")).await;
    // Three /64s of one 6to4 host, 192.0.2.1, and that host itself.
    let chains = ["2002:c000:201:1::1", "2002:c000:201:2::1", "192.0.2.1"];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 429]);
    // Two IPv4 clients of one NAT64 translator are two clients.
    let chains = [
        "64:ff9b::198.51.100.7",
        "64:ff9b::198.51.100.7",
        "64:ff9b::198.51.100.8",
    ];
    assert_eq!(statuses(&app, &chains).await, [200, 200, 200]);
}
