//! Malformed, oversized and binary input: always a 4xx with the envelope, never a 5xx.

use reqwest::header::{HeaderValue, COOKIE};
use reqwest::Method;

use crate::support::app::spawn_app;
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::response::{assert_error, json};

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/auth/csrf-token"),
    ("POST", "/auth/logout"),
    ("GET", "/api/user/info"),
    ("GET", "/api/sessions"),
    ("DELETE", "/api/sessions"),
    ("DELETE", "/api/sessions/0123456789abcdef"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
];

fn hostile_cookie_values() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(4096),
        format!("{}.{}", "g".repeat(32), "A".repeat(43)),
        format!("{}.{}", "0".repeat(32), "A".repeat(42)),
        "../../etc/passwd".into(),
        "{u:1}:s:*".into(),
        "\"quoted\"".into(),
        "a=b=c".into(),
        "%00%ff%fe".into(),
    ]
}

#[tokio::test]
async fn hostile_session_cookies_are_unauthenticated_never_5xx() {
    let app = spawn_app().await;
    for value in hostile_cookie_values() {
        for (method, path) in ROUTES {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let mut browser = Browser::new().with_cookie(SESSION_COOKIE, &value);
            let res = app.send_with_csrf(&mut browser, method, path).await;
            assert!(
                res.status().as_u16() < 500,
                "{path} with {value:?}: {}",
                res.status()
            );
            let body = json(res).await;
            assert!(body["success"].is_boolean(), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn binary_and_malformed_cookie_headers_are_4xx() {
    let app = spawn_app().await;
    let client = crate::support::app::client();
    let raw: Vec<Vec<u8>> = vec![
        b"__Host-latchkey_session=\xff\xfe\xfd".to_vec(),
        b";;;;===;;".to_vec(),
        vec![0x80; 2000],
        format!("{SESSION_COOKIE}={}", "\u{00e9}".repeat(100)).into_bytes(),
    ];
    for bytes in raw {
        let value = HeaderValue::from_bytes(&bytes).expect("obs-text header");
        let res = client
            .get(app.url("/api/user/info"))
            .header(COOKIE, value)
            .send()
            .await
            .expect("answer");
        assert_error(res, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn oversized_headers_and_bodies_are_refused_with_4xx() {
    let app = spawn_app().await;
    let client = crate::support::app::client();
    // A 64 KiB cookie header exceeds what the server reads.
    let res = client
        .get(app.url("/api/user/info"))
        .header(
            COOKIE,
            format!("{SESSION_COOKIE}={}", "a".repeat(64 * 1024)),
        )
        .send()
        .await;
    if let Ok(res) = res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }

    // A large body on a route that takes none changes nothing and is not a 5xx.
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let token = app.csrf_token(&mut browser).await;
    let res = client
        .post(app.url("/auth/logout"))
        .header("X-CSRF-Token", &token)
        .header("Origin", crate::support::browser::EXTENSION_ORIGIN)
        .body(vec![b'{'; 2 * 1024 * 1024])
        .send()
        .await
        .expect("answer");
    assert!(res.status().as_u16() < 500, "{}", res.status());
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let app = spawn_app().await;
    let mut browser = Browser::new();
    assert_error(app.get(&mut browser, "/nope").await, 404, "not_found").await;
    assert_error(
        app.get(&mut browser, &format!("/{}", "a".repeat(4000)))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&mut browser, "/api/sessions/%ff%00").await,
        405,
        "method_not_allowed",
    )
    .await;
    let res = app
        .send(&mut browser, Method::PUT, "/api/user/info", &[])
        .await;
    assert_eq!(res.headers()["allow"], "GET");
    assert_error(res, 405, "method_not_allowed").await;
    let res = app.send(&mut browser, Method::POST, "/healthz", &[]).await;
    assert_error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn hostile_csrf_headers_are_403() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let token = app.csrf_token(&mut browser).await;
    let client = crate::support::app::client();
    let cookie = format!(
        "{SESSION_COOKIE}={}; __Host-latchkey_csrf={token}",
        browser.cookies[SESSION_COOKIE]
    );
    for header in [
        HeaderValue::from_bytes(b"\xff\xfe").expect("obs-text"),
        HeaderValue::from_str(&format!("{token}x")).expect("ascii"),
        HeaderValue::from_str(&token[..42]).expect("ascii"),
        HeaderValue::from_str(&"A".repeat(8000)).expect("ascii"),
    ] {
        let res = client
            .post(app.url("/auth/logout"))
            .header(COOKIE, &cookie)
            .header("X-CSRF-Token", header)
            .send()
            .await
            .expect("answer");
        assert_error(res, 403, "csrf_failed").await;
    }
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
}
