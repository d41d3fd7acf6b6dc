use reqwest::Method;

use crate::support::app::spawn_app;
use crate::support::browser::{Browser, EXTENSION_ORIGIN};
use crate::support::response::assert_error;

fn cors_headers(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn an_allowed_origin_gets_its_exact_origin_with_credentials() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let res = app.user_info(&mut browser).await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], EXTENSION_ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn another_origin_gets_no_cors_header_at_all() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    for origin in [
        "https://evil.example",
        "null",
        "chrome-extension://otherextension",
    ] {
        browser.origin = Some(origin.into());
        let res = app.user_info(&mut browser).await;
        assert!(
            cors_headers(&res).is_empty(),
            "{origin}: {:?}",
            cors_headers(&res)
        );
    }
    // Nor does a request without Origin.
    browser.origin = None;
    let res = app.get(&mut browser, "/healthz").await;
    assert!(cors_headers(&res).is_empty());
}

#[tokio::test]
async fn preflight_from_the_allowed_origin_is_answered() {
    let app = spawn_app().await;
    let mut browser = Browser::extension();
    let res = app
        .send(
            &mut browser,
            Method::OPTIONS,
            "/auth/logout",
            &[
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "x-csrf-token"),
            ],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], EXTENSION_ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default();
    assert!(headers.to_lowercase().contains("x-csrf-token"), "{headers}");
    assert_ne!(h["access-control-allow-origin"], "*");
}

/// An allowed origin may send a bearer token (token mode) through CORS too.
#[tokio::test]
async fn preflight_from_the_allowed_origin_may_ask_for_authorization() {
    let app = spawn_app().await;
    let mut browser = Browser::extension();
    let res = app
        .send(
            &mut browser,
            Method::OPTIONS,
            "/api/sessions",
            &[
                ("Access-Control-Request-Method", "DELETE"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let headers = res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
}

#[tokio::test]
async fn preflight_from_another_origin_is_refused_without_cors_headers() {
    let app = spawn_app().await;
    let mut browser = Browser::new();
    browser.origin = Some("https://evil.example".into());
    let res = app
        .send(
            &mut browser,
            Method::OPTIONS,
            "/api/sessions",
            &[("Access-Control-Request-Method", "DELETE")],
        )
        .await;
    assert!(cors_headers(&res).is_empty());
    assert_error(res, 403, "origin_not_allowed").await;
}

#[tokio::test]
async fn unsafe_methods_from_a_foreign_origin_are_refused_before_any_work() {
    let app = spawn_app().await;
    let (mut victim, _) = app.signed_in_browser("Ada").await;
    let token = app.csrf_token(&mut victim).await;
    let mut attacker = victim.clone();
    attacker.origin = Some("https://evil.example".into());
    for (method, path) in [
        (Method::POST, "/auth/logout"),
        (Method::DELETE, "/api/sessions"),
        (Method::PUT, "/api/sessions"),
        (Method::PATCH, "/api/user/info"),
        (Method::POST, "/no/such/route"),
    ] {
        // Even with a valid CSRF header the foreign origin is refused.
        let res = app
            .send(&mut attacker, method, path, &[("X-CSRF-Token", &token)])
            .await;
        assert!(cors_headers(&res).is_empty());
        assert_error(res, 403, "origin_not_allowed").await;
    }
    assert_eq!(app.user_info(&mut victim).await.status(), 200);
}
