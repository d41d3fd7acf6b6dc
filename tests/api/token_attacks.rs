//! Token mode under attack: codes that are wrong, replayed, stolen, late; redirect URIs that
//! only look registered; weak or missing PKCE; and what Redis keeps.

use entity::users;
use latchkey::auth::code::{self, Grant, CODE_TTL_MS};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use crate::support::response::{assert_error, json};
use crate::support::token::{
    callback_for, code_for, exchange, exchange_raw, firefox, location, param, token_login,
    token_world, with_redirect_uris, Pkce, CHROMIUM_REDIRECT,
};
use crate::support::users::insert_free_user;
use crate::support::world::World;

#[tokio::test]
async fn a_wrong_verifier_spends_the_code() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let res = exchange(&world, &code, &Pkce::new().verifier).await;
    assert_error(res, 400, "invalid_grant").await;
    // The right verifier comes too late: the code was spent by the failed attempt.
    assert_error(
        exchange(&world, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    assert_eq!(exchange(&world, &code, &pkce.verifier).await.status(), 200);
    assert_error(
        exchange(&world, &code, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn one_flows_code_with_another_flows_verifier_is_refused() {
    let world = token_world().await;
    let (victim, attacker) = (Pkce::new(), Pkce::new());
    let victims_code = code_for(&world, &victim).await;
    code_for(&world, &attacker).await;
    let res = exchange(&world, &victims_code, &attacker.verifier).await;
    assert_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn redirect_uris_that_only_look_registered_are_refused() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let id = "abcdefghijklmnopabcdefghijklmnop";
    for redirect in [
        format!("https://{id}.chromiumapp.org.evil.example/"),
        format!("https://{id}.chromiumapp.org/other"),
        format!("https://{id}.chromiumapp.org/?next=evil"),
        format!("https://{id}.chromiumapp.org/#frag"),
        format!("http://{id}.chromiumapp.org/"),
        format!("https://{}.chromiumapp.org/", id.to_uppercase()),
        format!("https://{id}.chromiumapp.org"),
        format!("https://evil.{id}.chromiumapp.org/"),
        "http://localhost:8080/auth/complete/".to_owned(),
        "http://localhost:8080/auth/google/callback".to_owned(),
        String::new(),
    ] {
        let res = token_login(
            &world,
            &mut firefox(),
            "google",
            &[
                ("redirect_uri", &redirect),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
        assert!(res.headers().get("set-cookie").is_none());
        assert_error(res, 400, "invalid_redirect_uri").await;
    }
    let missing = [
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let res = token_login(&world, &mut firefox(), "google", &missing).await;
    assert_error(res, 400, "invalid_redirect_uri").await;
    // The exact URI passes (the control).
    let exact = [
        ("redirect_uri", CHROMIUM_REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    assert_eq!(
        token_login(&world, &mut firefox(), "google", &exact)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_plain_missing_or_malformed_challenge_is_refused() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let r = ("redirect_uri", CHROMIUM_REDIRECT);
    let c = ("code_challenge", pkce.challenge.as_str());
    let long_state = "s".repeat(513);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![r, c, ("code_challenge_method", "plain")],
        vec![
            r,
            ("code_challenge", &pkce.verifier),
            ("code_challenge_method", "plain"),
        ],
        vec![r, c],
        vec![r, ("code_challenge_method", "S256")],
        vec![
            r,
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
        vec![
            r,
            ("code_challenge", &pkce.verifier),
            ("code_challenge_method", "S256"),
        ],
        vec![
            r,
            c,
            ("code_challenge_method", "S256"),
            ("state", &long_state),
        ],
        vec![
            r,
            c,
            ("code_challenge_method", "S256"),
            ("state", "tab\there"),
        ],
    ];
    for params in cases {
        let res = token_login(&world, &mut firefox(), "google", &params).await;
        assert_error(res, 400, "invalid_request").await;
    }
    let res = world
        .app
        .get(&mut firefox(), "/auth/google/login?mode=tokens")
        .await;
    assert_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_code_past_its_lifetime_is_refused() {
    let world = token_world().await;
    let db = world.app.db().await;
    let ada = insert_free_user(&db, "ada@example.com", "Ada").await;
    let (_, scratch) =
        latchkey::startup::build_stores(&world.app.config.settings()).expect("stores");
    let pkce = Pkce::new();
    let grant = |created_ms| Grant {
        user_id: ada.id,
        code_challenge: pkce.challenge.clone(),
        redirect_uri: CHROMIUM_REDIRECT.into(),
        created_ms,
        provider: "google".into(),
        joined: "known".into(),
    };
    let now = latchkey::session::now_ms();
    let late = latchkey::session::random_secret();
    code::save(&scratch, &late, &grant(now - CODE_TTL_MS - 1000))
        .await
        .expect("store");
    assert_error(
        exchange(&world, &late, &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
    // The same grant written now is good (the control).
    let fresh = latchkey::session::random_secret();
    code::save(&scratch, &fresh, &grant(now))
        .await
        .expect("store");
    assert_eq!(exchange(&world, &fresh, &pkce.verifier).await.status(), 200);
}

#[tokio::test]
async fn malformed_exchanges_are_invalid_request_and_a_bad_verifier_spends_the_code() {
    let world = token_world().await;
    for body in [
        "",
        "not json",
        "{}",
        r#"{"code":"x"}"#,
        r#"{"code":1,"code_verifier":2}"#,
    ] {
        let res = exchange_raw(&world, None, body).await;
        assert_error(res, 400, "invalid_request").await;
    }
    for verifier in ["short", &format!("{}!", "a".repeat(50)), &"a".repeat(129)] {
        let pkce = Pkce::new();
        let code = code_for(&world, &pkce).await;
        assert_error(
            exchange(&world, &code, verifier).await,
            400,
            "invalid_request",
        )
        .await;
        let res = exchange(&world, &code, &pkce.verifier).await;
        assert_error(res, 400, "invalid_grant").await;
    }
    let pkce = Pkce::new();
    assert_error(
        exchange(&world, "not-a-code", &pkce.verifier).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_user_disabled_after_the_callback_gets_no_session() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let db = world.app.db().await;
    let user = users::Entity::find()
        .one(&db)
        .await
        .expect("query")
        .expect("the user");
    let mut active: users::ActiveModel = user.into();
    active.disabled_at = Set(Some(chrono::Utc::now()));
    active.update(&db).await.expect("disable");
    assert_error(
        exchange(&world, &code, &pkce.verifier).await,
        403,
        "account_disabled",
    )
    .await;

    // A token-mode sign-in of the disabled user goes back to the extension with the error.
    let res = callback_for(
        &world,
        &mut firefox(),
        "google",
        CHROMIUM_REDIRECT,
        &pkce,
        None,
    )
    .await;
    assert_eq!(
        param(&location(&res), "error").as_deref(),
        Some("account_disabled")
    );
}

#[tokio::test]
async fn the_exchange_takes_any_origin_and_is_limited_per_address() {
    let world = World::start_with(|c| {
        with_redirect_uris(c)
            .set("LATCHKEY__LIMITS__AUTH_PER_IP", "5")
            .set("LATCHKEY__LIMITS__WINDOW", "1d")
    })
    .await;
    // A token-mode login and its callback: 2 sign-in requests; the exchange is the 3rd.
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let body = serde_json::json!({"code": code, "code_verifier": pkce.verifier}).to_string();
    let res = exchange_raw(&world, Some("https://anything.example"), &body).await;
    assert_eq!(res.status(), 200, "any Origin is accepted");
    // 2 more make 5; the exchange after them is over the limit.
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let res = exchange(&world, &code, &pkce.verifier).await;
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn neither_the_code_nor_the_session_token_is_kept_in_redis() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let before = redis_dump(&world).await;
    assert!(
        before.iter().any(|(k, _)| k.contains(":code:")),
        "{before:?}"
    );
    let res = exchange(&world, &code, &pkce.verifier).await;
    let token = json(res).await["session_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = token
        .split_once('.')
        .map(|(_, s)| s.to_owned())
        .unwrap_or_default();
    let after = redis_dump(&world).await;
    assert!(
        !after.iter().any(|(k, _)| k.contains(":code:")),
        "the code is gone"
    );
    for (key, value) in before.iter().chain(&after) {
        for needle in [&code, &token, &secret, &pkce.verifier] {
            assert!(!key.contains(needle.as_str()), "{key}");
            assert!(!value.contains(needle.as_str()), "{key} = {value}");
        }
    }
}

/// Every key under the test's prefix with its value (strings, or the members of a sorted set).
async fn redis_dump(world: &World) -> Vec<(String, String)> {
    let mut conn = world.app.redis().await;
    let mut out = Vec::new();
    for key in world.app.redis_keys().await {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let value = match kind.as_str() {
            "string" => redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => {
                let members: Vec<String> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                members.join(" ")
            }
            other => format!("<{other}>"),
        };
        out.push((key, value));
    }
    out
}

/// The session a code becomes is recorded with the client that exchanged the code, the one
/// that holds the token: a session someone else obtained from a code shows their address and
/// agent in the user's list, not the user's own browser's.
#[tokio::test]
async fn the_session_records_the_client_that_exchanged_the_code() {
    let world = token_world().await;
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let body = serde_json::json!({"code": code, "code_verifier": pkce.verifier}).to_string();
    let res = testkit::http_client()
        .post(world.app.url("/auth/token"))
        .header("Content-Type", "application/json")
        .header("User-Agent", "ExchangingAgent/1.0")
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 200);
    let token = json(res).await["session_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let res = testkit::http_client()
        .get(world.app.url("/api/sessions"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("answer");
    let listed = json(res).await;
    assert_eq!(listed["sessions"][0]["user_agent"], "ExchangingAgent/1.0");
    assert_eq!(listed["sessions"][0]["transport"], "bearer");
}
