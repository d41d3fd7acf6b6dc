use reqwest::header::SET_COOKIE;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::browser::{Browser, CSRF_COOKIE};
use crate::support::response::json;

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn csrf_token_is_returned_and_set_as_a_host_cookie() {
    let app = spawn_app().await;
    let mut browser = Browser::extension();
    let res = app.get(&mut browser, "/auth/csrf-token").await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let body = json(res).await;
    assert_eq!(body["success"], true);
    let token = body["csrf_token"].as_str().expect("token");
    assert!(token.len() >= 43, "at least 256 bits");
    assert_eq!(
        browser.cookies.get(CSRF_COOKIE).map(String::as_str),
        Some(token)
    );

    let cookie = cookies
        .iter()
        .find(|c| c.starts_with(CSRF_COOKIE))
        .expect("CSRF cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
    assert!(!cookie.contains("Partitioned"), "{cookie}");
}

#[tokio::test]
async fn an_existing_csrf_cookie_is_reused_and_a_malformed_one_replaced() {
    let app = spawn_app().await;
    let mut browser = Browser::extension();
    let first = app.csrf_token(&mut browser).await;
    assert_eq!(app.csrf_token(&mut browser).await, first);

    let mut hostile = Browser::extension().with_cookie(CSRF_COOKIE, "short");
    let fresh = app.csrf_token(&mut hostile).await;
    assert_ne!(fresh, "short");
    assert_eq!(hostile.cookies[CSRF_COOKIE], fresh);
}

#[tokio::test]
async fn same_site_and_partitioned_follow_the_configuration() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__SESSION__SAME_SITE", "lax")
            .set("LATCHKEY__SESSION__PARTITIONED", "true")
    })
    .await;
    let res = app.get(&mut Browser::new(), "/auth/csrf-token").await;
    let cookie = set_cookies(&res).pop().expect("a cookie");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Partitioned"), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
}
