//! The `device` of a session (docs/api.md): a short name read from the stored user agent, in
//! `GET /api/sessions` and in the operator's `sessions list`, whose `--json` keeps the full
//! user agent beside it.

use latchkey::accounts;
use latchkey::session::{ClientInfo, Transport};

use crate::support::app::{spawn_app, TestApp};
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::process::latchkey;
use crate::support::response::json;
use crate::support::users::insert_free_user;

const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Starts a session of `user` from a client that sent `user_agent`; returns a browser
/// holding it.
async fn session_from(app: &TestApp, user: &entity::users::Model, user_agent: &str) -> Browser {
    let db = app.db().await;
    let profile = accounts::profile(&db, user).await.expect("profile");
    let client = ClientInfo {
        user_agent: user_agent.into(),
        ip: "192.0.2.7".into(),
    };
    let started = app
        .sessions
        .start(user.id, profile, &client, Transport::Cookie)
        .await
        .expect("session starts");
    Browser::extension().with_cookie(SESSION_COOKIE, started.token.expose())
}

#[tokio::test]
async fn sessions_name_the_device_and_keep_the_user_agent() {
    let app = spawn_app().await;
    let user = insert_free_user(&app.db().await, "dev@example.com", "Dev").await;
    let mut firefox = session_from(&app, &user, FIREFOX_LINUX).await;
    session_from(&app, &user, CHROME_WINDOWS).await;
    session_from(&app, &user, "").await;

    let body = json(app.list_sessions(&mut firefox).await).await;
    let mut seen: Vec<(String, String)> = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["device"].as_str().expect("device").to_owned(),
                s["user_agent"].as_str().expect("user_agent").to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "Chrome 131 on Windows".to_owned(),
                CHROME_WINDOWS.to_owned()
            ),
            ("Firefox 153 on Linux".to_owned(), FIREFOX_LINUX.to_owned()),
            ("Unknown device".to_owned(), String::new()),
        ]
    );

    let id = user.id.to_string();
    let table = latchkey(&app.config.vars, &["sessions", "list", "--user", &id]).await;
    let out = table.ok();
    assert!(out.contains("DEVICE"), "{out}");
    assert!(out.contains("Firefox 153 on Linux"), "{out}");
    assert!(out.contains("Chrome 131 on Windows"), "{out}");

    let listed = latchkey(
        &app.config.vars,
        &["sessions", "list", "--user", &id, "--json"],
    )
    .await
    .json();
    let firefox = listed["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["device"] == "Firefox 153 on Linux")
        .cloned()
        .expect("the Firefox session");
    assert_eq!(firefox["user_agent"], FIREFOX_LINUX);
}
