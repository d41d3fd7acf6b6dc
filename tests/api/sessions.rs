use reqwest::Method;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::response::{assert_error, json};
use crate::support::users::profile;

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

/// A request judged by its bearer token leaves the browser's cookie alone, even when the
/// token is that of a session begun with a cookie: the cookie beside it may name another
/// session, which the request did not end.
#[tokio::test]
async fn revoking_my_session_by_bearer_leaves_the_cookie_beside_it() {
    let app = spawn_app().await;
    let (mut browser, user) = app.signed_in_browser("Ada").await;
    let mut other = Browser::extension();
    let token = app.sign_in(&mut other, user, profile("Ada", "free")).await;
    let body = json(app.list_sessions(&mut other).await).await;
    let id = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .expect("the current session's id")
        .to_owned();
    let kept = browser.cookies[SESSION_COOKIE].clone();
    browser.bearer = Some(token.expose().to_owned());
    let res = app.revoke_session(&mut browser, &id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        browser.cookies.get(SESSION_COOKIE),
        Some(&kept),
        "the cookie stays"
    );
    browser.bearer = None;
    assert_eq!(
        app.list_sessions(&mut browser).await.status(),
        200,
        "its session lives"
    );
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

#[tokio::test]
async fn redis_holds_neither_the_token_nor_its_secret() {
    let app = spawn_app().await;
    let mut browser = Browser::new();
    let user = Uuid::new_v4();
    let token = app
        .sign_in(&mut browser, user, profile("Ada", "free"))
        .await;
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    let secret = token
        .expose()
        .split_once('.')
        .map(|(_, s)| s.to_owned())
        .expect("a token has a secret part");
    let mut conn = app.redis().await;
    let keys = app.redis_keys().await;
    // The session, the user's index (which also keeps why a session ended, for a later 401)
    // and the profile; under the compact layout the profile holds a one-session user's index
    // entry, and there is no index key.
    let compact = app
        .config
        .vars
        .get("LATCHKEY__REDIS__LAYOUT")
        .is_some_and(|layout| layout == "compact");
    assert_eq!(keys.len(), if compact { 2 } else { 3 }, "{keys:?}");
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let value: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap()],
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("{key} is a {other}: every key is a string or the index"),
        };
        for text in std::iter::once(&key).chain(&value) {
            assert!(!text.contains(&secret), "{key} holds the token's secret");
        }
    }
}

/// The layout before packed strings kept a session and the profile cache as Redis hashes
/// under the same key names. Such a session signs nobody in (the user signs in again once),
/// and meeting it is never an error: no 5xx, no WRONGTYPE from a script.
#[tokio::test]
async fn a_session_of_the_hash_layout_reads_as_signed_out_never_5xx() {
    // The releases of the hash layout wrote the indexed layout only.
    let app = spawn_app_with(|c| c.set("LATCHKEY__REDIS__LAYOUT", "indexed")).await;
    let user = Uuid::new_v4();
    let mut old = Browser::extension();
    let old_token = app.sign_in(&mut old, user, profile("Ada", "free")).await;
    let tag = app.user_tag(user);
    let key = format!("{tag}:s:{}", old_token.hash().encode());
    let now = latchkey::session::now_ms();
    let mut conn = app.redis().await;
    // As the previous release wrote them.
    let _: () = redis::pipe()
        .atomic()
        .del(&key)
        .hset_multiple(
            &key,
            &[
                ("c", now.to_string()),
                ("s", now.to_string()),
                ("a", (now + 600_000).to_string()),
                ("ua", "latchkey-tests/1.0".to_owned()),
                ("ip", "127.0.0.1".to_owned()),
            ],
        )
        .pexpire_at(&key, now + 600_000)
        .query_async(&mut conn)
        .await
        .unwrap();

    // The hot path's MGET reads a hash as nil: no session, no WRONGTYPE. The key is left to
    // its TTL (or the list and revoke-all below, which delete it).
    assert_error(app.user_info(&mut old).await, 401, "unauthenticated").await;

    // A second old session, met first by the list of a new one: it is not listed, and it
    // leaves neither its key nor its index entry behind.
    let mut other = Browser::extension();
    let other_token = app.sign_in(&mut other, user, profile("Ada", "free")).await;
    let mut new = Browser::extension();
    let new_token = app.sign_in(&mut new, user, profile("Ada", "free")).await;
    let other_key = format!("{tag}:s:{}", other_token.hash().encode());
    let _: () = redis::pipe()
        .atomic()
        .del(&other_key)
        .hset(&other_key, "c", now)
        .query_async(&mut conn)
        .await
        .unwrap();
    let res = app.list_sessions(&mut new).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let ids: Vec<_> = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, [new_token.hash().public_id().as_str()]);
    let index: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{tag}:i"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(index, [new_token.hash().encode()]);
    assert_error(app.user_info(&mut other).await, 401, "unauthenticated").await;

    // An old profile hash: every session of the user reads as signed out, without an error,
    // until the next login writes the profile anew.
    let profile_key = format!("{tag}:p");
    let _: () = redis::pipe()
        .atomic()
        .del(&profile_key)
        .hset_multiple(&profile_key, &[("n", "Ada"), ("pl", "pro"), ("hs", "0")])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_error(app.user_info(&mut new).await, 401, "unauthenticated").await;
    let mut again = Browser::extension();
    app.sign_in(&mut again, user, profile("Ada", "free")).await;
    let res = app.user_info(&mut again).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["user"]["plan"], "free");
}

/// Session data that does not decode (corruption: only latchkey writes it) reads as signed
/// out, never as a 5xx on every request until it expires; signing in again repairs it.
#[tokio::test]
async fn unreadable_session_data_reads_as_signed_out_and_sign_in_repairs_it() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut browser = Browser::extension();
    app.sign_in(&mut browser, user, profile("Ada", "pro")).await;
    let tag = app.user_tag(user);
    let mut conn = app.redis().await;
    let set = |key: String, value: &'static str| {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("KEEPTTL")
            .to_owned()
    };

    // A profile whose lengths run past its end, then one whose lengths overflow.
    for bad in ["|0|3|99|0|proAda", "|0|1|18446744073709551615|0|x"] {
        let _: () = set(format!("{tag}:p"), bad)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_error(app.user_info(&mut browser).await, 401, "unauthenticated").await;
    }
    let mut again = Browser::extension();
    app.sign_in(&mut again, user, profile("Ada", "pro")).await;
    let res = app.user_info(&mut again).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["user"]["plan"], "pro");

    // Session records the hot path's script must refuse (and delete) as packed.rs would.
    for bad in [
        "1|2|3",
        "1|2|3x|127.0.0.1|ua",
        "12345678901234567890|2|3|127.0.0.1|ua",
        // A transport must be followed by the address and the user agent.
        "1|2|3|bearer|127.0.0.1",
        "1|2|3|cookie|",
    ] {
        let token = app.sign_in(&mut browser, user, profile("Ada", "pro")).await;
        let key = format!("{tag}:s:{}", token.hash().encode());
        let _: () = set(key.clone(), bad).query_async(&mut conn).await.unwrap();
        assert_error(app.user_info(&mut browser).await, 401, "unauthenticated").await;
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!exists, "{bad:?} is deleted when met");
    }
}

#[tokio::test]
async fn a_login_beyond_the_cap_ends_the_users_oldest_session() {
    let app = spawn_app_with(|c| c.set("LATCHKEY__SESSION__MAX_PER_USER", "3")).await;
    let user = Uuid::new_v4();
    let mut browsers = Vec::new();
    for _ in 0..5 {
        // Age is counted in milliseconds: each login here is in a millisecond of its own.
        let before = latchkey::session::now_ms();
        while latchkey::session::now_ms() == before {
            tokio::task::yield_now().await;
        }
        let mut browser = Browser::extension();
        app.sign_in(&mut browser, user, profile("Ada", "free"))
            .await;
        browsers.push(browser);
    }
    for browser in &mut browsers[..2] {
        assert_error(app.user_info(browser).await, 401, "unauthenticated").await;
    }
    for browser in &mut browsers[2..] {
        assert_eq!(app.user_info(browser).await.status(), 200);
    }
    let listed = json(app.list_sessions(&mut browsers[4]).await).await;
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(3));
    // The index in Redis holds no more started entries (positive scores) than the cap; the
    // two evicted sessions are remembered beside them (negative scores), for their 401.
    let index = format!("{}:i", app.user_tag(user));
    let redis = app.redis().await;
    let count = |min: &'static str, max: &'static str| {
        let mut redis = redis.clone();
        let index = index.clone();
        async move {
            redis::cmd("ZCOUNT")
                .arg(&index)
                .arg(min)
                .arg(max)
                .query_async::<u64>(&mut redis)
                .await
                .expect("ZCOUNT")
        }
    };
    assert_eq!(count("(0", "+inf").await, 3);
    assert_eq!(count("-inf", "(0").await, 2);
}

#[tokio::test]
async fn the_session_routes_are_limited_per_session() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__LIMITS__SESSIONS_PER_SESSION", "3")
            .set("LATCHKEY__LIMITS__WINDOW", "1d")
    })
    .await;
    let user = Uuid::new_v4();
    let mut first = Browser::extension();
    let mut second = Browser::extension();
    app.sign_in(&mut first, user, profile("Ada", "free")).await;
    app.sign_in(&mut second, user, profile("Ada", "free")).await;
    assert_eq!(app.list_sessions(&mut first).await.status(), 200);
    assert_eq!(
        app.revoke_session(&mut first, "0000000000000000")
            .await
            .status(),
        404
    );
    // Other spellings of the path are the same route and the same budget.
    let res = app
        .send(&mut first, Method::GET, "/api/session%73", &[])
        .await;
    assert_eq!(res.status(), 200);
    assert_error(app.list_sessions(&mut first).await, 429, "rate_limited").await;
    assert_error(
        app.revoke_other_sessions(&mut first).await,
        429,
        "rate_limited",
    )
    .await;
    // The other session has a budget of its own.
    assert_eq!(app.list_sessions(&mut second).await.status(), 200);
}

/// A session record written before sessions had a transport (`created|last seen|absolute|ip|
/// user agent`) still authenticates, lists as a cookie session, and keeps its fields when the
/// hot path slides it.
#[tokio::test]
async fn a_record_of_the_format_before_the_transport_is_a_cookie_session() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut browser = Browser::extension();
    let token = app.sign_in(&mut browser, user, profile("Ada", "pro")).await;
    let key = format!("{}:s:{}", app.user_tag(user), token.hash().encode());
    let now = latchkey::session::now_ms();
    // last seen long enough ago that this request slides it and rewrites the record.
    let old = format!(
        "{}|{}|{}|192.0.2.4|Old|Agent",
        now - 120_000,
        now - 120_000,
        now + 3_600_000
    );
    let mut conn = app.redis().await;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&old)
        .arg("KEEPTTL")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.user_info(&mut browser).await.status(), 200);
    let listed = json(app.list_sessions(&mut browser).await).await;
    let session = &listed["sessions"][0];
    assert_eq!(session["transport"], "cookie");
    assert_eq!(session["ip"], "192.0.2.4");
    assert_eq!(session["user_agent"], "Old|Agent");
}
