//! Headers every answer owes: `nosniff` everywhere, `no-store` wherever personal data is.

use reqwest::{Method, Response};

use crate::support::app::spawn_app_with;
use crate::support::browser::{Browser, EXTENSION_ORIGIN};

fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__LIMITS__AUTH_PER_IP", "1")
            .set("LATCHKEY__LIMITS__WINDOW", "1d")
    })
    .await;
    let (mut signed_in, _) = app.signed_in_browser("Ada").await;
    let mut nobody = Browser::extension();
    let mut foreign = Browser::extension();
    foreign.origin = Some("https://evil.example".into());
    let preflight = [
        ("Access-Control-Request-Method", "POST"),
        ("Origin", EXTENSION_ORIGIN),
    ];
    let answers = [
        app.get(&mut nobody, "/healthz").await,
        app.get(&mut nobody, "/readyz").await,
        app.get(&mut nobody, "/metrics").await,
        app.get(&mut nobody, "/openapi.json").await,
        app.get(&mut nobody, "/auth/csrf-token").await,
        app.get(&mut nobody, "/auth/csrf-token").await, // 429
        app.get(&mut nobody, "/api/user/info").await,   // 401
        app.user_info(&mut signed_in).await,
        app.list_sessions(&mut signed_in).await,
        app.get(&mut nobody, "/no/such/route").await,
        app.send(&mut nobody, Method::PUT, "/healthz", &[]).await,
        app.send(&mut foreign, Method::POST, "/auth/logout", &[])
            .await,
        app.send(&mut nobody, Method::OPTIONS, "/auth/logout", &preflight)
            .await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 401, 200, 200, 404, 405, 403, 200]
    );
    for res in &answers {
        assert_eq!(
            header(res, "x-content-type-options"),
            "nosniff",
            "{} {}",
            res.status(),
            res.url()
        );
    }
}

#[tokio::test]
async fn answers_with_personal_data_are_never_stored() {
    let app = spawn_app_with(|c| c).await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let answers = [
        app.user_info(&mut browser).await,
        app.list_sessions(&mut browser).await,
        app.revoke_other_sessions(&mut browser).await,
    ];
    for res in &answers {
        assert_eq!(res.status(), 200, "{}", res.url());
        assert_eq!(header(res, "cache-control"), "no-store", "{}", res.url());
    }
}
