use reqwest::Method;

use crate::support::app::spawn_app;
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::response::{assert_error, json, set_cookies_named};

#[tokio::test]
async fn logout_revokes_the_session_and_clears_the_cookie() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let stolen_copy = browser.clone();
    assert_eq!(app.user_info(&mut browser).await.status(), 200);

    let res = app.logout(&mut browser).await;
    assert_eq!(res.status(), 200);
    let cleared = set_cookies_named(&res, SESSION_COOKIE)
        .into_iter()
        .next()
        .expect("the session cookie is cleared");
    for attribute in ["Max-Age=0", "HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(
            cleared.contains(attribute),
            "{attribute} missing in {cleared}"
        );
    }
    assert_eq!(json(res).await["success"], true);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));

    // The server forgot the session: a copy of the old cookie is worthless.
    let mut replay = stolen_copy;
    assert_error(app.user_info(&mut replay).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn logout_without_a_session_answers_200() {
    let app = spawn_app().await;
    let res = app.logout(&mut Browser::extension()).await;
    assert_eq!(res.status(), 200);
    let garbage = Browser::extension().with_cookie(SESSION_COOKIE, "not-a-token");
    let res = app.logout(&mut garbage.clone()).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn logout_needs_the_csrf_header_matching_the_cookie() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;

    let res = app
        .send(&mut browser, Method::POST, "/auth/logout", &[])
        .await;
    assert_error(res, 403, "csrf_failed").await;

    app.csrf_token(&mut browser).await;
    let res = app
        .send(
            &mut browser,
            Method::POST,
            "/auth/logout",
            &[("X-CSRF-Token", "wrong")],
        )
        .await;
    assert_error(res, 403, "csrf_failed").await;

    // A header without the cookie (a foreign page that guessed a token) fails too.
    let token = app.csrf_token(&mut browser).await;
    let mut no_cookie = browser.clone();
    no_cookie
        .cookies
        .remove(crate::support::browser::CSRF_COOKIE);
    let res = app
        .send(
            &mut no_cookie,
            Method::POST,
            "/auth/logout",
            &[("X-CSRF-Token", &token)],
        )
        .await;
    assert_error(res, 403, "csrf_failed").await;

    // Nothing was revoked by the refused attempts.
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
}

#[tokio::test]
async fn logout_by_get_is_not_a_route() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let res = app.get(&mut browser, "/auth/logout").await;
    assert_error(res, 405, "method_not_allowed").await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
}
