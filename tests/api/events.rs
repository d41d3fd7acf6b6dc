//! Security events caused over HTTP (docs/operations.md, "Security events"): a sign-in, a
//! refused sign-in, a sign-out, revoking one's own sessions, an eviction beyond
//! `session.max_per_user`; read back from SQL and through `GET /api/user/events`; and never a
//! token, code, secret or cookie in any of them.

use reqwest::{Method, Response};
use url::Url;
use uuid::Uuid;

use crate::support::browser::{Browser, SESSION_COOKIE};
use crate::support::events::{all_events, details, wait_for_event, wait_for_kind};
use crate::support::response::{assert_error, json};
use crate::support::world::World;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0";

/// A Google sign-in whose callback comes from Firefox on Linux; returns the callback URL
/// (with its code) and the answer.
async fn sign_in_from_firefox(world: &World, browser: &mut Browser) -> (Url, Response) {
    let auth_url = world.start_login(browser, "google").await;
    let callback = world.google.approve(&auth_url).await.expect("consent");
    let path = format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap_or_default()
    );
    let res = world
        .app
        .send(browser, Method::GET, &path, &[("User-Agent", FIREFOX)])
        .await;
    assert_eq!(res.status(), 200);
    (callback, res)
}

async fn my_events(world: &World, browser: &mut Browser, query: &str) -> Response {
    world
        .app
        .get(browser, &format!("/api/user/events{query}"))
        .await
}

#[tokio::test]
async fn a_sign_in_is_recorded_and_listed_to_its_user() {
    let world = World::start().await;
    let db = world.app.db().await;
    let mut firefox = Browser::extension();
    sign_in_from_firefox(&world, &mut firefox).await;
    let user: Uuid = world.user_id(&mut firefox).await.parse().expect("uuid");

    let login = wait_for_kind(&db, user, "login").await;
    assert_eq!(login.actor, "user");
    assert_eq!(login.device.as_deref(), Some("Firefox 153 on Linux"));
    assert_eq!(login.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(login.session_id.as_deref().map(str::len), Some(16));
    let d = details(&login);
    assert_eq!(d["provider"], "google");
    assert_eq!(d["user"], "new");
    assert_eq!(d["transport"], "cookie");

    let res = my_events(&world, &mut firefox, "").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = json(res).await;
    assert_eq!(body["success"], true);
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{body}");
    let event = &events[0];
    assert_eq!(event["kind"], "login");
    assert_eq!(event["device"], "Firefox 153 on Linux");
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["reason"], serde_json::Value::Null);
    assert!(
        event["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{event}"
    );

    // A second sign-in of the same account, then a sign-out from the first browser: the
    // second browser sees all three, newest first.
    let mut other = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut other).await.status(), 200);
    assert_eq!(world.app.logout(&mut firefox).await.status(), 200);
    wait_for_kind(&db, user, "logout").await;
    let body = json(my_events(&world, &mut other, "").await).await;
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["logout", "login", "login"], "{body}");
    // The sign-out's request came with no user agent; the first sign-in's from Firefox.
    assert_eq!(body["events"][0]["device"], "Unknown device");
    assert_eq!(body["events"][2]["device"], "Firefox 153 on Linux");
    let body = json(my_events(&world, &mut other, "?limit=1").await).await;
    assert_eq!(body["events"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(login_events_of_others(&world).await, 0);
}

/// Events a stranger can read of Alice's: none.
async fn login_events_of_others(world: &World) -> usize {
    let (mut stranger, _) = world.app.signed_in_browser("Eve").await;
    let body = json(my_events(world, &mut stranger, "").await).await;
    body["events"].as_array().map_or(usize::MAX, Vec::len)
}

#[tokio::test]
async fn hostile_limits_are_400_and_no_session_is_401() {
    let world = World::start().await;
    let (mut browser, _) = world.app.signed_in_browser("Ada").await;
    for query in [
        "?limit=0",
        "?limit=-1",
        "?limit=abc",
        "?limit=",
        "?limit=1e9",
        "?limit=%00",
        "?limit=1&limit=2",
        "?limit=18446744073709551616x",
    ] {
        assert_error(
            my_events(&world, &mut browser, query).await,
            400,
            "invalid_request",
        )
        .await;
    }
    for query in [
        "?limit=100",
        "?limit=1000000",
        "?limit=99999999999999999999999",
    ] {
        let res = my_events(&world, &mut browser, query).await;
        assert_eq!(res.status(), 200, "{query}");
    }
    assert_error(
        my_events(&world, &mut Browser::new(), "").await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn revoking_ones_own_sessions_and_eviction_are_recorded() {
    let world = World::start_with(|c| c.set("LATCHKEY__SESSION__MAX_PER_USER", "2")).await;
    let db = world.app.db().await;
    let mut laptop = Browser::extension();
    sign_in_from_firefox(&world, &mut laptop).await;
    let user: Uuid = world.user_id(&mut laptop).await.parse().expect("uuid");
    let mut phone = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut phone).await.status(), 200);

    // One revoked by its id from the laptop.
    let sessions = json(world.app.list_sessions(&mut laptop).await).await;
    let phone_id = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("the phone's session")
        .to_owned();
    assert_eq!(
        world
            .app
            .revoke_session(&mut laptop, &phone_id)
            .await
            .status(),
        200
    );
    let revoked = wait_for_kind(&db, user, "session_revoked").await;
    assert_eq!(revoked.reason.as_deref(), Some("revoked"));
    assert_eq!(revoked.session_id.as_deref(), Some(phone_id.as_str()));
    assert_eq!(revoked.actor, "user");
    // The device of the session that revoked it: the laptop's sign-in came from Firefox.
    assert_eq!(revoked.device.as_deref(), Some("Firefox 153 on Linux"));

    // Two more sign-ins: the cap of 2 evicts the laptop's session.
    let laptop_id = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .expect("the laptop's session")
        .to_owned();
    for _ in 0..2 {
        let mut b = Browser::extension();
        assert_eq!(world.sign_in_with_google(&mut b).await.status(), 200);
    }
    let evicted = wait_for_event(&db, "eviction", |e| {
        e.kind == "session_revoked" && e.reason.as_deref() == Some("evicted")
    })
    .await;
    assert_eq!(evicted.session_id.as_deref(), Some(laptop_id.as_str()));
    assert_eq!(evicted.actor, "system");
    assert_eq!(evicted.user_id, Some(user));

    // "Sign out everywhere else" from a fresh session.
    let mut tablet = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut tablet).await.status(), 200);
    let res = world.app.revoke_other_sessions(&mut tablet).await;
    let n = json(res).await["revoked"].as_u64().expect("revoked");
    assert!(n >= 1);
    let several = wait_for_kind(&db, user, "sessions_revoked").await;
    assert_eq!(details(&several)["count"], n);
    assert_eq!(details(&several)["by"], "user");
}

#[tokio::test]
async fn a_refused_sign_in_is_recorded_without_a_user() {
    let world = World::start().await;
    let db = world.app.db().await;
    let mut browser = Browser::extension();
    let auth_url = world.start_login(&mut browser, "google").await;
    let denied = world.google.deny(&auth_url).await.expect("denied");
    let res = world.callback(&mut browser, &denied).await;
    assert_eq!(res.status(), 400);
    let failed = wait_for_event(&db, "login_failed", |e| e.kind == "login_failed").await;
    assert_eq!(failed.reason.as_deref(), Some("consent_denied"));
    assert_eq!(failed.user_id, None);
    assert_eq!(details(&failed)["provider"], "google");
    assert_eq!(failed.ip.as_deref(), Some("127.0.0.1"));
}

/// Tokens, codes, secrets and cookies go through every path that records an event; none of
/// them may be found in the table.
#[tokio::test]
async fn no_token_code_secret_or_cookie_reaches_an_event() {
    let world = World::start().await;
    let db = world.app.db().await;
    let mut browser = Browser::extension();
    let csrf = world.app.csrf_token(&mut browser).await;
    let (callback, _) = sign_in_from_firefox(&world, &mut browser).await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("the provider's code");
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let token = browser.cookies[SESSION_COOKIE].clone();
    let user: Uuid = world.user_id(&mut browser).await.parse().expect("uuid");
    // A replayed callback (refused), a revocation and a sign-out, all with the secrets on.
    world.callback(&mut browser.clone(), &callback).await;
    let mut other = Browser::extension();
    world.sign_in_with_google(&mut other).await;
    world.app.revoke_other_sessions(&mut other).await;
    world.app.logout(&mut other).await;
    wait_for_kind(&db, user, "logout").await;
    wait_for_event(&db, "login_failed", |e| e.kind == "login_failed").await;

    let secrets: Vec<String> = [
        token.clone(),
        code,
        state,
        csrf,
        world.app.config.vars["LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRET"].clone(),
        world.app.config.vars["LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET"].clone(),
    ]
    .into_iter()
    .chain(other.cookies.values().cloned())
    .filter(|s| s.len() >= 8)
    .collect();
    let table = format!("{:?}", all_events(&db).await);
    assert!(table.contains("login"), "{table}");
    for secret in &secrets {
        assert!(!table.contains(secret.as_str()), "{secret} in {table}");
    }
}

/// An operator-set plan whose end passed is noticed at the next sign-in, once.
#[tokio::test]
async fn a_lapsed_plan_is_noticed_at_the_next_sign_in_once() {
    use entity::users;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let world = World::start().await;
    let db = world.app.db().await;
    let mut browser = Browser::extension();
    assert_eq!(world.sign_in_with_google(&mut browser).await.status(), 200);
    let user: Uuid = world.user_id(&mut browser).await.parse().expect("uuid");
    let row = users::Entity::find_by_id(user)
        .one(&db)
        .await
        .expect("read")
        .expect("the user");
    let mut lapsed: users::ActiveModel = row.into();
    lapsed.plan = Set("pro".into());
    lapsed.plan_until = Set(Some(chrono::Utc::now() - chrono::Duration::hours(1)));
    lapsed.update(&db).await.expect("lapse the plan");

    for _ in 0..2 {
        let mut b = Browser::extension();
        assert_eq!(world.sign_in_with_google(&mut b).await.status(), 200);
        assert_eq!(
            json(world.app.user_info(&mut b).await).await["user"]["plan"],
            "free"
        );
    }
    let noticed = wait_for_kind(&db, user, "plan_changed").await;
    assert_eq!(noticed.reason.as_deref(), Some("lapsed"));
    assert_eq!(noticed.actor, "system");
    assert_eq!(details(&noticed)["from"], "pro");
    assert_eq!(details(&noticed)["to"], "free");
    // Both sign-ins' logins are in, and one plan change only.
    wait_for_event(&db, "the second login", |e| {
        e.user_id == Some(user) && e.kind == "login" && details(e)["user"] == "known"
    })
    .await;
    let changes = all_events(&db)
        .await
        .into_iter()
        .filter(|e| e.kind == "plan_changed")
        .count();
    assert_eq!(changes, 1);
    let stored = users::Entity::find_by_id(user)
        .one(&db)
        .await
        .expect("read")
        .expect("the user");
    assert_eq!((stored.plan.as_str(), stored.plan_until), ("free", None));
}

/// Token mode: the session starts at the code's exchange, which records the `login`, with
/// the provider the callback saw; the session token is nowhere in the event.
#[tokio::test]
async fn a_token_mode_sign_in_is_recorded_at_the_exchange() {
    use crate::support::token::{code_for, exchange, token_world, Pkce};
    let world = token_world().await;
    let db = world.app.db().await;
    let pkce = Pkce::new();
    let code = code_for(&world, &pkce).await;
    let res = exchange(&world, &code, &pkce.verifier).await;
    assert_eq!(res.status(), 200);
    let token = json(res).await["session_token"]
        .as_str()
        .expect("session_token")
        .to_owned();
    let login = wait_for_event(&db, "login", |e| e.kind == "login").await;
    let d = details(&login);
    assert_eq!(d["transport"], "bearer");
    assert_eq!(d["provider"], "google");
    assert_eq!(d["user"], "new");
    let table = format!("{:?}", all_events(&db).await);
    for secret in [token.as_str(), code.as_str(), pkce.verifier.as_str()] {
        assert!(!table.contains(secret), "{table}");
    }
    let mut client = Browser::new().with_bearer(&token);
    let listed = json(my_events(&world, &mut client, "").await).await;
    assert_eq!(listed["events"][0]["kind"], "login", "{listed}");
}
