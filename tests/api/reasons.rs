//! Why a session ended (docs/api.md, "Why a session ended"): every 401 `unauthenticated`
//! carries `reason`, reached here by each reason's real path, for cookie and bearer sessions
//! alike, and still told after a restart of the server (it lives in Redis).

use std::time::Duration;

use latchkey::session::{SessionToken, Transport};
use latchkey::startup::{Application, Options};
use reqwest::Response;
use uuid::Uuid;

use crate::support::app::{spawn_app, spawn_app_with, TestApp};
use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::process::latchkey;
use crate::support::response::json;
use crate::support::users::{insert_free_user, profile, sign_in_user, sign_in_user_bearer};

const BOTH: [Transport; 2] = [Transport::Cookie, Transport::Bearer];

/// A new session of `user` carried as `transport`.
async fn signed_in(app: &TestApp, user: Uuid, transport: Transport) -> Browser {
    let mut browser = Browser::extension();
    match transport {
        Transport::Cookie => {
            app.sign_in(&mut browser, user, profile("Ada", "free"))
                .await
        }
        Transport::Bearer => {
            app.sign_in_bearer(&mut browser, user, profile("Ada", "free"))
                .await
        }
    };
    browser
}

fn token_of(browser: &Browser) -> SessionToken {
    let raw = browser
        .bearer
        .clone()
        .or_else(|| browser.cookies.get(SESSION_COOKIE).cloned())
        .expect("a credential");
    SessionToken::parse(&raw).expect("a session token")
}

fn public_id(browser: &Browser) -> String {
    token_of(browser).hash().public_id().to_string()
}

/// Asserts a 401 `unauthenticated` with `reason`.
async fn assert_reason(res: Response, reason: &str) {
    assert_eq!(res.status(), 401);
    let body = json(res).await;
    assert_eq!(body["code"], "unauthenticated", "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(body["success"], false, "{body}");
}

async fn reason_now(app: &TestApp, browser: &Browser, reason: &str) {
    assert_reason(app.user_info(&mut browser.clone()).await, reason).await;
}

#[tokio::test]
async fn no_credential_a_malformed_one_and_an_unknown_token() {
    let app = spawn_app().await;
    assert_reason(app.user_info(&mut Browser::new()).await, "no_session").await;
    let garbage = Browser::new().with_cookie(SESSION_COOKIE, "not-a-session");
    assert_reason(app.user_info(&mut garbage.clone()).await, "unknown").await;
    assert_reason(
        app.user_info(&mut Browser::new().with_bearer("nope")).await,
        "unknown",
    )
    .await;
    let never = SessionToken::generate(Uuid::new_v4());
    for browser in [
        Browser::new().with_cookie(SESSION_COOKIE, never.expose()),
        Browser::new().with_bearer(never.expose()),
    ] {
        reason_now(&app, &browser, "unknown").await;
    }
    // Every route that needs a session says it the same way.
    assert_reason(app.list_sessions(&mut Browser::new()).await, "no_session").await;
}

#[tokio::test]
async fn signing_out_then_using_the_session_is_signed_out() {
    let app = spawn_app().await;
    for transport in BOTH {
        let mut browser = signed_in(&app, Uuid::new_v4(), transport).await;
        let kept = browser.clone();
        assert_eq!(app.logout(&mut browser).await.status(), 200);
        reason_now(&app, &kept, "signed_out").await;
    }
}

#[tokio::test]
async fn a_session_revoked_from_another_one_is_revoked() {
    let app = spawn_app().await;
    for transport in BOTH {
        let user = Uuid::new_v4();
        let victim = signed_in(&app, user, transport).await;
        let mut other = signed_in(&app, user, Transport::Cookie).await;
        let res = app.revoke_session(&mut other, &public_id(&victim)).await;
        assert_eq!(res.status(), 200);
        reason_now(&app, &victim, "revoked").await;

        let victim = signed_in(&app, user, transport).await;
        assert_eq!(app.revoke_other_sessions(&mut other).await.status(), 200);
        reason_now(&app, &victim, "revoked").await;
    }
}

#[tokio::test]
async fn the_operators_revocation_and_disable_say_so() {
    let app = spawn_app().await;
    let db = app.db().await;
    for transport in BOTH {
        let ada = insert_free_user(&db, &format!("ada-{transport:?}@example.com"), "Ada").await;
        let browser = match transport {
            Transport::Cookie => sign_in_user(&app, &db, &ada).await,
            Transport::Bearer => sign_in_user_bearer(&app, &db, &ada).await,
        };
        latchkey(
            &app.config.vars,
            &["sessions", "revoke", &public_id(&browser)],
        )
        .await
        .ok();
        reason_now(&app, &browser, "revoked_by_operator").await;

        let browser = match transport {
            Transport::Cookie => sign_in_user(&app, &db, &ada).await,
            Transport::Bearer => sign_in_user_bearer(&app, &db, &ada).await,
        };
        let id = ada.id.to_string();
        latchkey(&app.config.vars, &["users", "disable", &id])
            .await
            .ok();
        reason_now(&app, &browser, "account_disabled").await;
    }
}

#[tokio::test]
async fn the_oldest_session_beyond_the_cap_is_evicted() {
    let app = spawn_app_with(|c| c.set("LATCHKEY__SESSION__MAX_PER_USER", "1")).await;
    for transport in BOTH {
        let user = Uuid::new_v4();
        let oldest = signed_in(&app, user, transport).await;
        let newest = signed_in(&app, user, transport).await;
        reason_now(&app, &oldest, "evicted").await;
        assert_eq!(app.user_info(&mut newest.clone()).await.status(), 200);
    }
}

/// Waits, without using the session (which would slide it), until the store no longer lists
/// it: the session has timed out.
async fn wait_until_gone(app: &TestApp, user: Uuid) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !app.sessions.list(user).await.expect("list").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session never timed out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_unused_session_times_out_idle() {
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__SESSION__IDLE_TIMEOUT", "1s")
            .set("LATCHKEY__SESSION__ABSOLUTE_TIMEOUT", "1h")
    })
    .await;
    for transport in BOTH {
        let user = Uuid::new_v4();
        let browser = signed_in(&app, user, transport).await;
        wait_until_gone(&app, user).await;
        reason_now(&app, &browser, "idle_timeout").await;
    }
}

#[tokio::test]
async fn a_session_past_its_absolute_timeout_is_expired() {
    // Idle and absolute alike: whichever is checked, the session is past its absolute end.
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__SESSION__IDLE_TIMEOUT", "1s")
            .set("LATCHKEY__SESSION__ABSOLUTE_TIMEOUT", "1s")
    })
    .await;
    for transport in BOTH {
        let user = Uuid::new_v4();
        let browser = signed_in(&app, user, transport).await;
        wait_until_gone(&app, user).await;
        reason_now(&app, &browser, "expired").await;
    }
}

#[tokio::test]
async fn the_reason_survives_a_restart_of_the_server() {
    let app = spawn_app().await;
    let mut browser = signed_in(&app, Uuid::new_v4(), Transport::Cookie).await;
    let kept = browser.clone();
    assert_eq!(app.logout(&mut browser).await.status(), 200);

    // Another server on the same Redis, as after a restart or on another replica.
    let restarted = Application::build(app.config.settings(), Options { migrate: false })
        .await
        .expect("application builds");
    let url = format!("http://127.0.0.1:{}/api/user/info", restarted.port());
    tokio::spawn(restarted.run_until_stopped());
    let res = crate::support::app::client()
        .get(url)
        .header("Cookie", kept.cookie_header().expect("cookie"))
        .send()
        .await
        .expect("the second server answers");
    assert_reason(res, "signed_out").await;
}

/// What an ended session costs in Redis: its entry in the user's index, no key of its own,
/// kept until its absolute expiry (the index lives as long as its latest entry).
#[tokio::test]
async fn an_ended_session_costs_one_index_entry_and_no_key() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let mut browser = signed_in(&app, user, Transport::Cookie).await;
    let kept = signed_in(&app, user, Transport::Bearer).await;
    let tag = app.user_tag(user);
    let index = format!("{tag}:i");
    let mut redis = app.redis().await;
    let usage = |key: String| {
        let mut redis = redis.clone();
        async move {
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0)
                .query_async::<Option<u64>>(&mut redis)
                .await
                .expect("MEMORY USAGE")
                .expect("the index")
        }
    };
    let users_keys = || async {
        let keys = app.redis_keys().await;
        keys.into_iter()
            .filter(|k| k.contains(&tag))
            .collect::<Vec<String>>()
    };
    let keys_before = users_keys().await.len();
    let live = usage(index.clone()).await;
    let signed_out = browser.clone();
    let hash = token_of(&browser).hash().encode();
    assert_eq!(app.logout(&mut browser).await.status(), 200);
    let ended = usage(index.clone()).await;
    let score: f64 = redis::cmd("ZSCORE")
        .arg(&index)
        .arg(&hash)
        .query_async(&mut redis)
        .await
        .expect("the ended session's entry is kept");
    println!("index of two live sessions: {live} bytes; of one live, one ended: {ended} bytes");
    assert!(score < 0.0, "marked as ended: {score}");
    assert!(
        ended <= live,
        "an ended entry takes the place of the live one"
    );
    // The session's own key is gone, and nothing took its place.
    let keys = users_keys().await;
    assert_eq!(keys.len(), keys_before - 1, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains(&hash)), "{keys:?}");
    // The index lives until the latest absolute expiry of its entries (30 days by default).
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&index)
        .query_async(&mut redis)
        .await
        .expect("PTTL");
    assert!(ttl > 29 * 24 * 3600 * 1000, "{ttl}");
    reason_now(&app, &signed_out, "signed_out").await;
    assert_eq!(app.user_info(&mut kept.clone()).await.status(), 200);
}

/// During a rolling upgrade, a replica of the previous release ends sessions by writing a
/// trace key per session (`P{u:U}:t:H`) and removing the index entry; this release still
/// reads those.
#[tokio::test]
async fn a_trace_key_of_the_previous_release_still_gives_the_reason() {
    // What the previous release left: it wrote the indexed layout only.
    let app = spawn_app_with(|c| c.set("LATCHKEY__REDIS__LAYOUT", "indexed")).await;
    let user = Uuid::new_v4();
    let browser = signed_in(&app, user, Transport::Cookie).await;
    let tag = app.user_tag(user);
    let hash = token_of(&browser).hash().encode();
    let mut redis = app.redis().await;
    // What the previous release's revoke.lua did for a user revoking it from another session.
    let _: () = redis::pipe()
        .atomic()
        .del(format!("{tag}:s:{hash}"))
        .zrem(format!("{tag}:i"), &hash)
        .cmd("SET")
        .arg(format!("{tag}:t:{hash}"))
        .arg("2")
        .arg("PX")
        .arg(86_400_000)
        .query_async(&mut redis)
        .await
        .expect("the previous release's revocation");
    reason_now(&app, &browser, "revoked").await;
    // Its login's trace of a session that then timed out: the absolute expiry's digits.
    let other = signed_in(&app, user, Transport::Bearer).await;
    let hash = token_of(&other).hash().encode();
    let absolute = latchkey::session::now_ms() + 3_600_000;
    let _: () = redis::pipe()
        .atomic()
        .del(format!("{tag}:s:{hash}"))
        .zrem(format!("{tag}:i"), &hash)
        .cmd("SET")
        .arg(format!("{tag}:t:{hash}"))
        .arg(absolute)
        .arg("PX")
        .arg(3_600_000)
        .query_async(&mut redis)
        .await
        .expect("the previous release's trace");
    reason_now(&app, &other, "idle_timeout").await;
}
