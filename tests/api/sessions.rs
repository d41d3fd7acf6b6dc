use reqwest::Method;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{assert_error, json, profile, spawn_app, Browser, SESSION_COOKIE};

#[tokio::test]
async fn list_shows_the_callers_sessions_with_the_current_one_marked() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut phone = Browser::extension();
    let mut laptop = Browser::extension();
    let phone_token = app.sign_in(&mut phone, user, profile("Ada", "free")).await;
    app.sign_in(&mut laptop, user, profile("Ada", "free")).await;
    let (mut stranger, _) = app.signed_in_browser("Eve").await;

    let res = app.list_sessions(&mut phone).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let expected_id = &hex::encode(Sha256::digest(phone_token.expose().as_bytes()))[..16];
    assert_eq!(current[0]["id"], expected_id);
    for s in sessions {
        for field in ["created_at", "last_seen_at", "expires_at"] {
            assert!(
                s[field].as_str().is_some_and(|t| t.ends_with('Z')),
                "{field}: {s}"
            );
        }
        assert_eq!(s["user_agent"], "latchkey-tests/1.0");
        assert_eq!(s["ip"], "127.0.0.1");
    }
    assert_eq!(
        json(app.list_sessions(&mut stranger).await).await["sessions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_error(
        app.list_sessions(&mut Browser::new()).await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn the_public_id_is_not_the_token_nor_part_of_it() {
    let app = spawn_app().await;
    let mut browser = Browser::new();
    let token = app
        .sign_in(&mut browser, Uuid::new_v4(), profile("Ada", "free"))
        .await;
    let body = json(app.list_sessions(&mut browser).await).await;
    let id = body["sessions"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 16);
    assert!(!token.expose().contains(&id));
    // Using the id as a cookie gets nowhere.
    let mut guess = Browser::new().with_cookie(SESSION_COOKIE, &id);
    assert_error(app.user_info(&mut guess).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn revoke_one_of_my_sessions_by_id() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut phone = Browser::extension();
    let mut laptop = Browser::extension();
    app.sign_in(&mut phone, user, profile("Ada", "free")).await;
    app.sign_in(&mut laptop, user, profile("Ada", "free")).await;
    let body = json(app.list_sessions(&mut laptop).await).await;
    let phone_id = body["sessions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["current"] == false))
        .and_then(|s| s["id"].as_str())
        .expect("the other session")
        .to_owned();

    let res = app.revoke_session(&mut laptop, &phone_id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["revoked"], 1);
    assert_error(app.user_info(&mut phone).await, 401, "unauthenticated").await;
    assert_eq!(app.user_info(&mut laptop).await.status(), 200);
    // Revoking it again: it is no longer one of mine.
    assert_error(
        app.revoke_session(&mut laptop, &phone_id).await,
        404,
        "session_not_found",
    )
    .await;
}

#[tokio::test]
async fn revoking_my_current_session_by_id_also_clears_the_cookie() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    let body = json(app.list_sessions(&mut browser).await).await;
    let id = body["sessions"][0]["id"].as_str().expect("id").to_owned();
    let res = app.revoke_session(&mut browser, &id).await;
    assert_eq!(res.status(), 200);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
}

#[tokio::test]
async fn another_users_session_id_is_404_and_stays_alive() {
    let app = spawn_app().await;
    let (mut alice, _) = app.signed_in_browser("Alice").await;
    let (mut mallory, _) = app.signed_in_browser("Mallory").await;
    let body = json(app.list_sessions(&mut alice).await).await;
    let alice_id = body["sessions"][0]["id"].as_str().expect("id").to_owned();

    assert_error(
        app.revoke_session(&mut mallory, &alice_id).await,
        404,
        "session_not_found",
    )
    .await;
    assert_eq!(app.user_info(&mut alice).await.status(), 200);
    for bad in [
        "nothex0123456789",
        "0123",
        &"a".repeat(500),
        "%00%ff",
        "..%2F..%2Fetc",
    ] {
        let res = app.revoke_session(&mut mallory, bad).await;
        assert!(res.status() == 404, "{bad}: {}", res.status());
        let body = json(res).await;
        assert_eq!(body["success"], false);
    }
}

#[tokio::test]
async fn revoke_others_keeps_only_the_current_session() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut browsers: Vec<Browser> = Vec::new();
    for _ in 0..3 {
        let mut b = Browser::extension();
        app.sign_in(&mut b, user, profile("Ada", "free")).await;
        browsers.push(b);
    }
    let (mut other_user, _) = app.signed_in_browser("Bob").await;

    let res = app.revoke_other_sessions(&mut browsers[0]).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["revoked"], 2);
    assert_eq!(app.user_info(&mut browsers[0]).await.status(), 200);
    for b in &mut browsers[1..] {
        assert_error(app.user_info(b).await, 401, "unauthenticated").await;
    }
    assert_eq!(app.user_info(&mut other_user).await.status(), 200);
    assert_eq!(
        json(app.revoke_other_sessions(&mut browsers[0]).await).await["revoked"],
        0
    );
}

#[tokio::test]
async fn session_deletes_need_csrf_and_a_session() {
    let app = spawn_app().await;
    let (mut browser, _) = app.signed_in_browser("Ada").await;
    for path in ["/api/sessions", "/api/sessions/0123456789abcdef"] {
        let res = app.send(&mut browser, Method::DELETE, path, &[]).await;
        assert_error(res, 403, "csrf_failed").await;
        let res = app
            .send_with_csrf(&mut Browser::extension(), Method::DELETE, path)
            .await;
        assert_error(res, 401, "unauthenticated").await;
    }
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
}
