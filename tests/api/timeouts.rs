//! Idle and absolute timeouts, enforced by the server, configured to seconds. These tests wait
//! for deadlines to pass; they assert what the server answers, never how long it took.

use std::time::{Duration, Instant};

use reqwest::header::CACHE_CONTROL;
use reqwest::Response;

use crate::support::app::{spawn_app_with, TestApp};
use crate::support::browser::SESSION_COOKIE;
use crate::support::response::{assert_error, set_cookies_named};

async fn app_with_timeouts(idle: &str, absolute: &str) -> TestApp {
    spawn_app_with(|c| {
        c.set("LATCHKEY__SESSION__IDLE_TIMEOUT", idle)
            .set("LATCHKEY__SESSION__ABSOLUTE_TIMEOUT", absolute)
    })
    .await
}

#[tokio::test]
async fn an_unused_session_ends_after_the_idle_timeout() {
    let app = app_with_timeouts("2s", "1h").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_error(app.user_info(&mut browser).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn use_slides_the_idle_timeout() {
    let app = app_with_timeouts("2s", "1h").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    // Three uses 0.8 s apart span 2.4 s, past the first idle deadline.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(app.user_info(&mut browser).await.status(), 200);
    }
}

#[tokio::test]
async fn a_session_in_constant_use_ends_at_the_absolute_timeout() {
    let app = app_with_timeouts("2s", "3s").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_millis(3600) {
        statuses.push(app.user_info(&mut browser).await.status().as_u16());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(statuses.first(), Some(&200));
    assert_eq!(statuses.last(), Some(&401));
    // Once ended, it stays ended.
    let first_401 = statuses
        .iter()
        .position(|s| *s == 401)
        .unwrap_or(statuses.len());
    assert!(
        statuses[first_401..].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
}

/// The `Set-Cookie` headers of `res` that set the session cookie.
fn session_cookies(res: &Response) -> Vec<String> {
    set_cookies_named(res, SESSION_COOKIE)
}

/// The browser's copy of the cookie follows the sliding expiry (docs/api.md, "Cookies": `Max-Age`
/// follows the idle timeout): a request that slides the session sends the cookie again with a
/// fresh `Max-Age`, as often as the store writes (once per refresh step, here 3 s), so a
/// session in daily use is not dropped by the browser `idle_timeout` after its login.
#[tokio::test]
async fn a_request_that_slides_the_session_renews_the_cookie() {
    let app = app_with_timeouts("30s", "1h").await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let token = browser.cookies[SESSION_COOKIE].clone();

    let res = app.user_info(&mut browser).await;
    assert_eq!(res.status(), 200);
    assert!(session_cookies(&res).is_empty(), "within the refresh step");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let res = app.user_info(&mut browser).await;
    assert_eq!(res.status(), 200);
    let renewed = session_cookies(&res);
    assert_eq!(renewed.len(), 1, "{renewed:?}");
    let cookie = &renewed[0];
    assert!(
        cookie.starts_with(&format!("{SESSION_COOKIE}={token};")),
        "{cookie}"
    );
    assert!(
        cookie.contains("Max-Age=29") || cookie.contains("Max-Age=30"),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");

    let res = app.user_info(&mut browser).await;
    assert!(session_cookies(&res).is_empty(), "once per refresh step");

    // A handler that sets the cookie itself wins: logout clears it, and nothing renews it.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let res = app.logout(&mut browser).await;
    assert_eq!(res.status(), 200);
    let cleared = session_cookies(&res);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(cleared[0].contains("Max-Age=0"), "{}", cleared[0]);
}
