//! The bearer credential (token mode): `Authorization: Bearer <session token>` on every
//! session route, from any origin, without the CSRF header; and when an `Authorization`
//! header is present, it alone decides.

use std::time::Duration;

use reqwest::Method;
use uuid::Uuid;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::response::{assert_error, json, set_cookies_named};
use crate::support::users::profile;

/// A Firefox install's origin: random, on no allowlist.
const FIREFOX_ORIGIN: &str = "moz-extension://0b7e3c52-5f8e-4d1a-9c1e-1d2f3a4b5c6d";

fn firefox() -> Browser {
    Browser {
        origin: Some(FIREFOX_ORIGIN.into()),
        ..Browser::default()
    }
}

#[tokio::test]
async fn a_bearer_token_opens_every_session_route_from_any_origin_without_csrf() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut client = firefox();
    app.sign_in_bearer(&mut client, user, profile("Ada", "free"))
        .await;
    let mut other = Browser::extension();
    app.sign_in(&mut other, user, profile("Ada", "free")).await;

    let res = app.user_info(&mut client).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["user"]["user_id"], user.to_string());

    let listed = json(app.list_sessions(&mut client).await).await;
    let sessions = listed["sessions"].as_array().cloned().unwrap_or_default();
    let mine: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["transport"], "bearer");
    let cookie_one: Vec<_> = sessions.iter().filter(|s| s["current"] == false).collect();
    assert_eq!(cookie_one[0]["transport"], "cookie");

    // An unsafe method from a foreign origin, without X-CSRF-Token: allowed for a bearer.
    let res = app
        .send(&mut client, Method::DELETE, "/api/sessions", &[])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["revoked"], 1);
    assert_error(app.user_info(&mut other).await, 401, "unauthenticated").await;
    // The same request with a cookie instead of a bearer is still refused.
    let mut forged = Browser {
        origin: Some(FIREFOX_ORIGIN.into()),
        ..Browser::default()
    };
    app.sign_in(&mut forged, user, profile("Ada", "free")).await;
    let res = app
        .send(&mut forged, Method::DELETE, "/api/sessions", &[])
        .await;
    assert_error(res, 403, "origin_not_allowed").await;
}

#[tokio::test]
async fn an_authorization_header_alone_decides_even_beside_a_valid_cookie() {
    let app = spawn_app().await;
    let (browser, user) = app.signed_in_browser("Ada").await;
    // Another session of the same user: what DELETE /api/sessions would end via the cookie.
    let mut other = Browser::extension();
    app.sign_in(&mut other, user, profile("Ada", "free")).await;
    let cookie = browser.cookies[SESSION_COOKIE].clone();
    let stranger = format!("{}.{}", Uuid::new_v4().simple(), "A".repeat(43));
    for authorization in [
        "Bearer not-a-token".to_owned(),
        format!("Bearer {stranger}"),
        format!("Basic {cookie}"),
        format!("Token {cookie}"),
        "Bearer".to_owned(),
        String::new(),
    ] {
        let mut b = browser.clone();
        let res = app
            .send(
                &mut b,
                Method::GET,
                "/api/user/info",
                &[("Authorization", &authorization)],
            )
            .await;
        assert_error(res, 401, "unauthenticated").await;
        // With the CSRF header, a state-changing route is refused by the same rule and the
        // cookie's session is not touched.
        let csrf = app.csrf_token(&mut b).await;
        let res = app
            .send(
                &mut b,
                Method::DELETE,
                "/api/sessions",
                &[("Authorization", &authorization), ("X-CSRF-Token", &csrf)],
            )
            .await;
        assert_error(res, 401, "unauthenticated").await;
        // Without it, a bearer-scheme header skips the CSRF check and is refused as a
        // credential; any other scheme is held by the CSRF check (and the Origin guard) like
        // a cookie request: a browser may add Basic credentials by itself.
        let res = app
            .send(
                &mut b,
                Method::DELETE,
                "/api/sessions",
                &[("Authorization", &authorization)],
            )
            .await;
        if authorization.to_ascii_lowercase().starts_with("bearer ") {
            assert_error(res, 401, "unauthenticated").await;
        } else {
            assert_error(res, 403, "csrf_failed").await;
        }
    }
    // The cookie alone still works, its user's other sessions were never revoked; and the
    // cookie's token as a bearer works too (it is the same session), the scheme in any case.
    assert_eq!(app.user_info(&mut browser.clone()).await.status(), 200);
    assert_eq!(app.user_info(&mut other).await.status(), 200);
    let res = app
        .send(
            &mut Browser::new(),
            Method::GET,
            "/api/user/info",
            &[("Authorization", &format!("bEaReR {cookie}"))],
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_valid_bearer_beside_another_users_cookie_is_the_bearers_user() {
    let app = spawn_app().await;
    let (mut client, _) = app.signed_in_browser("Cookie owner").await;
    let bearer_user = Uuid::new_v4();
    app.sign_in_bearer(&mut client, bearer_user, profile("Bea", "free"))
        .await;
    let res = app.user_info(&mut client).await;
    assert_eq!(json(res).await["user"]["user_id"], bearer_user.to_string());
}

#[tokio::test]
async fn logout_with_a_bearer_ends_that_session_and_leaves_the_cookie_alone() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut both = firefox();
    app.sign_in(&mut both, user, profile("Ada", "free")).await;
    let token = app
        .sign_in_bearer(&mut both, user, profile("Ada", "free"))
        .await;

    // A malformed Authorization header signs nobody out, the cookie's session least of all.
    let mut garbage = both.clone().with_bearer("nonsense");
    let res = app
        .send(&mut garbage, Method::POST, "/auth/logout", &[])
        .await;
    assert_error(res, 401, "unauthenticated").await;

    let res = app.send(&mut both, Method::POST, "/auth/logout", &[]).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies_named(&res, SESSION_COOKIE).is_empty());
    assert_error(app.user_info(&mut both).await, 401, "unauthenticated").await;
    let mut cookie_only = Browser {
        bearer: None,
        ..both.clone()
    };
    assert_eq!(app.user_info(&mut cookie_only).await.status(), 200);
    let mut replay = Browser::new().with_bearer(token.expose());
    assert_error(app.user_info(&mut replay).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn bearer_sessions_end_by_id_and_by_signing_out_elsewhere() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut cookie = Browser::extension();
    app.sign_in(&mut cookie, user, profile("Ada", "free")).await;
    let mut client = firefox();
    let token = app
        .sign_in_bearer(&mut client, user, profile("Ada", "free"))
        .await;
    let id = token.hash().public_id().to_string();
    assert_eq!(app.revoke_session(&mut cookie, &id).await.status(), 200);
    assert_error(app.user_info(&mut client).await, 401, "unauthenticated").await;

    // Revoking its own session by id: no cookie to clear for a bearer.
    let token = app
        .sign_in_bearer(&mut client, user, profile("Ada", "free"))
        .await;
    let id = token.hash().public_id().to_string();
    let res = app
        .send(
            &mut client,
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies_named(&res, SESSION_COOKIE).is_empty());
    assert_error(app.user_info(&mut client).await, 401, "unauthenticated").await;

    app.sign_in_bearer(&mut client, user, profile("Ada", "free"))
        .await;
    assert_eq!(app.revoke_other_sessions(&mut cookie).await.status(), 200);
    assert_error(app.user_info(&mut client).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_bearer_request_that_slides_the_session_gets_no_cookie() {
    // A 2 s idle timeout refreshes last_seen after 200 ms.
    let app = spawn_app_with(|c| c.set("LATCHKEY__SESSION__IDLE_TIMEOUT", "2s")).await;
    let mut client = firefox();
    app.sign_in_bearer(&mut client, Uuid::new_v4(), profile("Ada", "free"))
        .await;
    let mut cookie = Browser::extension();
    app.sign_in(&mut cookie, Uuid::new_v4(), profile("Bo", "free"))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The cookie session is renewed (the control), the bearer one is not given a cookie.
    let res = app.user_info(&mut cookie).await;
    assert_eq!(set_cookies_named(&res, SESSION_COOKIE).len(), 1);
    let res = app.user_info(&mut client).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies_named(&res, SESSION_COOKIE).is_empty());
    assert!(res.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn the_per_session_limits_count_bearer_sessions_too() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__LIMITS__SESSIONS_PER_SESSION", "2")
            .set("LATCHKEY__LIMITS__WINDOW", "1d")
    })
    .await;
    let user = Uuid::new_v4();
    let mut first = firefox();
    let mut second = firefox();
    app.sign_in_bearer(&mut first, user, profile("Ada", "free"))
        .await;
    app.sign_in_bearer(&mut second, user, profile("Ada", "free"))
        .await;
    for _ in 0..2 {
        assert_eq!(app.list_sessions(&mut first).await.status(), 200);
    }
    assert_error(app.list_sessions(&mut first).await, 429, "rate_limited").await;
    assert_eq!(app.list_sessions(&mut second).await.status(), 200);
}

/// Two `Authorization` headers are no credential, even when the first is a valid bearer: a
/// proxy in front of latchkey may read the other one, and the two must not disagree about
/// who is asking.
#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = spawn_app().await;
    let (browser, _) = app.signed_in_browser("Ada").await;
    let token = browser.cookies[SESSION_COOKIE].clone();
    for second in [format!("Bearer {token}"), "Bearer bad".to_owned()] {
        let res = testkit::http_client()
            .get(app.url("/api/user/info"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Authorization", second)
            .send()
            .await
            .expect("answer");
        assert_error(res, 401, "unauthenticated").await;
    }
    // One is fine.
    let res = testkit::http_client()
        .get(app.url("/api/user/info"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 200);
}
