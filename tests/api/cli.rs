//! The operator's command line (`latchkey sessions|users|plan`), run as the built binary
//! against the Redis and database of a running test server, whose HTTP answers show the
//! effect on the very next request.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{identities, subscriptions, usage_events, users};
use futures_util::stream::{self, StreamExt};
use latchkey::accounts::{self, AccountError};
use latchkey::auth::Identity;
use latchkey::session::{
    ClientInfo, MemoryStore, NewSession, PublicId, RedisStore, SessionRecord, SessionStore,
    SessionToken, Transport,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use uuid::Uuid;

use crate::support::app::{spawn_app, TestApp};
use crate::support::browser::Browser;
use crate::support::config::{TestConfig, TestDb};
use crate::support::process::{latchkey, latchkey_on_terminal, Run, ServerProcess};
use crate::support::redis::redis_url;
use crate::support::response::{assert_error, json};
use crate::support::users::{
    free_user, insert_free_user, profile, sign_in_user, sign_in_user_bearer,
};

async fn cli(app: &TestApp, args: &[&str]) -> Run {
    latchkey(&app.config.vars, args).await
}

/// A user row as a first login would leave it, with a GitHub identity.
async fn insert_user(db: &DatabaseConnection, email: &str) -> users::Model {
    let now = Utc::now();
    let name = email.split('@').next().unwrap_or("user");
    let user = insert_free_user(db, email, name).await;
    identities::ActiveModel {
        user_id: Set(user.id),
        provider: Set("github".to_owned()),
        subject: Set(user.id.simple().to_string()),
        email: Set(Some(email.to_owned())),
        email_verified: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert identity");
    user
}

/// What GitHub would assert for the user [`insert_user`] made.
fn identity_of(user: &users::Model) -> Identity {
    Identity {
        provider: "github".into(),
        subject: user.id.simple().to_string(),
        email: user.email.clone(),
        email_verified: true,
        name: user.name.clone(),
        picture: None,
    }
}

async fn status(app: &TestApp, browser: &Browser) -> u16 {
    app.user_info(&mut browser.clone()).await.status().as_u16()
}

fn public_id(browser: &Browser) -> String {
    let cookie = &browser.cookies[crate::support::browser::SESSION_COOKIE];
    SessionToken::parse(cookie)
        .expect("a session cookie")
        .hash()
        .public_id()
        .to_string()
}

#[tokio::test]
async fn list_shows_a_session_created_through_the_app() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let browser = sign_in_user(&app, &db, &ada).await;
    let id = public_id(&browser);

    let table = cli(&app, &["sessions", "list"]).await;
    let text = table.ok();
    assert!(text.contains(&id), "{text}");
    assert!(text.contains("ada@example.com"), "{text}");
    // The table names the device; the user agent itself is in --json (below).
    assert!(text.contains("DEVICE"), "{text}");
    assert!(text.contains("Unknown device"), "{text}");
    assert!(text.trim_end().ends_with("1 session(s)"), "{text}");
    assert!(text.contains("TRANSPORT"), "{text}");

    for args in [
        &["sessions", "list", "--json"][..],
        &["sessions", "list", "--user", "ADA@example.com", "--json"],
        &["sessions", "list", "--user", &ada.id.to_string(), "--json"],
        &[
            "sessions",
            "list",
            "--user",
            &ada.id.simple().to_string(),
            "--json",
        ],
    ] {
        let doc = cli(&app, args).await.json();
        assert_eq!(doc["count"], 1, "{args:?}: {doc}");
        let s = &doc["sessions"][0];
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["user_id"], ada.id.to_string());
        assert_eq!(s["email"], "ada@example.com");
        assert_eq!(s["user_agent"], "latchkey-tests/1.0");
        assert_eq!(s["ip"], "127.0.0.1");
        assert_eq!(s["transport"], "cookie");
        for field in ["created_at", "last_seen_at", "expires_at"] {
            let t = s[field].as_str().expect(field);
            assert!(
                chrono::DateTime::parse_from_rfc3339(t).is_ok(),
                "{field}: {t}"
            );
        }
    }
    // The listing never shows the cookie.
    let cookie = &browser.cookies[crate::support::browser::SESSION_COOKIE];
    let secret = cookie.split_once('.').map(|(_, s)| s).unwrap_or_default();
    assert!(!table.stdout.contains(secret));
}

#[tokio::test]
async fn revoke_by_id_ends_that_session_and_no_other() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let laptop = sign_in_user(&app, &db, &ada).await;
    let phone = sign_in_user(&app, &db, &ada).await;
    assert_eq!(status(&app, &laptop).await, 200);

    // A bearer session (token mode) is listed with its transport and revoked by id alike.
    let firefox = sign_in_user_bearer(&app, &db, &ada).await;
    let bearer_id = SessionToken::parse(firefox.bearer.as_deref().unwrap_or_default())
        .expect("a bearer token")
        .hash()
        .public_id()
        .to_string();
    let doc = cli(&app, &["sessions", "list", "--json"]).await.json();
    let listed = doc["sessions"].as_array().cloned().unwrap_or_default();
    let bearer = listed.iter().find(|s| s["id"] == bearer_id.as_str());
    assert_eq!(
        bearer.map(|s| s["transport"].clone()),
        Some("bearer".into())
    );
    assert!(cli(&app, &["sessions", "list"])
        .await
        .ok()
        .contains("bearer"));
    assert_eq!(status(&app, &firefox).await, 200);
    let run = cli(&app, &["sessions", "revoke", &bearer_id]).await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    assert_eq!(status(&app, &firefox).await, 401);

    let run = cli(&app, &["sessions", "revoke", &public_id(&laptop)]).await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    assert_error(
        app.user_info(&mut laptop.clone()).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(status(&app, &phone).await, 200);

    // Gone now: nothing matches (exit 1). Scoped to a user, the id must be theirs.
    cli(&app, &["sessions", "revoke", &public_id(&laptop)])
        .await
        .fails(1);
    insert_user(&db, "bob@example.com").await;
    let run = cli(
        &app,
        &[
            "sessions",
            "revoke",
            &public_id(&phone),
            "--user",
            "bob@example.com",
        ],
    )
    .await;
    assert!(run.fails(1).contains("no live session"), "{run:?}");
    assert_eq!(status(&app, &phone).await, 200);
    let run = cli(
        &app,
        &[
            "sessions",
            "revoke",
            &public_id(&phone),
            "--user",
            &ada.id.to_string(),
        ],
    )
    .await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    assert_eq!(status(&app, &phone).await, 401);
}

#[tokio::test]
async fn revoke_by_user_ends_every_session_of_that_user() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;
    let ada_1 = sign_in_user(&app, &db, &ada).await;
    let ada_2 = sign_in_user(&app, &db, &ada).await;
    let bob_1 = sign_in_user(&app, &db, &bob).await;
    let ada_bearer = sign_in_user_bearer(&app, &db, &ada).await;

    let run = cli(&app, &["sessions", "revoke", "--user", " Ada@Example.COM "]).await;
    assert_eq!(run.ok().trim(), "revoked 3 session(s)");
    assert_eq!(status(&app, &ada_bearer).await, 401);
    assert_eq!(status(&app, &ada_1).await, 401);
    assert_eq!(status(&app, &ada_2).await, 401);
    assert_eq!(status(&app, &bob_1).await, 200);
}

#[tokio::test]
async fn revoke_all_off_a_terminal_ends_every_session_without_yes() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;
    let browsers = [
        sign_in_user(&app, &db, &ada).await,
        sign_in_user(&app, &db, &ada).await,
        sign_in_user(&app, &db, &bob).await,
    ];

    // stdin is not a terminal here, as under `kubectl exec` without -t: nobody to ask, so
    // --all goes ahead without --yes.
    let run = cli(&app, &["sessions", "revoke", "--all"]).await;
    assert_eq!(run.ok().trim(), "revoked 3 session(s)");
    assert!(run.stderr.is_empty(), "{run:?}");
    for b in &browsers {
        assert_error(app.user_info(&mut b.clone()).await, 401, "unauthenticated").await;
    }
    let doc = cli(&app, &["sessions", "list", "--json"]).await.json();
    assert_eq!(doc["count"], 0);

    // --yes is still accepted.
    let again = sign_in_user(&app, &db, &bob).await;
    let run = cli(&app, &["sessions", "revoke", "--all", "--yes"]).await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    assert_eq!(status(&app, &again).await, 401);
}

#[tokio::test]
async fn revoke_that_matches_nothing_prints_0_and_exits_1() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;

    // No session at all in this deployment (its own key prefix).
    let run = cli(&app, &["sessions", "revoke", "--all"]).await;
    assert!(run.fails(1).contains("no live session"), "{run:?}");
    assert_eq!(run.stdout.trim(), "revoked 0 session(s)", "{run:?}");

    // A user with no live session, while another user has one.
    let bobs = sign_in_user(&app, &db, &bob).await;
    let run = cli(&app, &["sessions", "revoke", "--user", "ada@example.com"]).await;
    let line = run.fails(1);
    assert!(line.contains("ada@example.com"), "{run:?}");
    assert!(line.contains("has no live session"), "{run:?}");
    assert!(line.contains(&ada.id.to_string()), "{run:?}");
    assert_eq!(run.stdout.trim(), "revoked 0 session(s)", "{run:?}");
    assert_eq!(status(&app, &bobs).await, 200);

    // An id that matches nothing takes the same path.
    let run = cli(&app, &["sessions", "revoke", "0123456789abcdef"]).await;
    assert!(run.fails(1).contains("no live session"), "{run:?}");
    assert_eq!(run.stdout.trim(), "revoked 0 session(s)", "{run:?}");

    // Once bob's one session is revoked, a second --user run finds none.
    let run = cli(&app, &["sessions", "revoke", "--user", "bob@example.com"]).await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    let run = cli(&app, &["sessions", "revoke", "--user", "bob@example.com"]).await;
    run.fails(1);
    assert_eq!(run.stdout.trim(), "revoked 0 session(s)", "{run:?}");
    let run = cli(&app, &["sessions", "revoke", "--all"]).await;
    run.fails(1);
    assert_eq!(run.stdout.trim(), "revoked 0 session(s)", "{run:?}");
    // An unknown user is not "revoked 0": nothing was looked at.
    let run = cli(
        &app,
        &["sessions", "revoke", "--user", "nobody@example.com"],
    )
    .await;
    assert!(run.fails(1).contains("no user"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

/// `migrate status` as (name, status) pairs, from stdout.
fn migration_status(run: &Run) -> Vec<(String, String)> {
    run.ok()
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(name), Some(status), None) => (name.to_owned(), status.to_owned()),
                _ => panic!("`<name> <status>`: {line:?} in {run:?}"),
            }
        })
        .collect()
}

#[tokio::test]
async fn migrate_prints_status_and_summaries_on_stdout() {
    // The test configuration logs at `warn`: what is printed here is not a log line.
    let app = spawn_app().await;
    let names: Vec<String> = {
        use migration::MigratorTrait;
        migration::Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    };
    assert!(names.len() >= 2);
    let latest = names.last().cloned().unwrap_or_default();

    // The app migrated its fresh database at start-up: everything applied.
    let status = migration_status(&cli(&app, &["migrate", "status"]).await);
    let all_applied: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), "applied".to_owned()))
        .collect();
    assert_eq!(status, all_applied);

    let run = cli(&app, &["migrate", "up"]).await;
    assert!(run.ok().starts_with("applied 0 migration(s)"), "{run:?}");

    // down rolls back the latest one only.
    let run = cli(&app, &["migrate", "down", "--yes"]).await;
    assert_eq!(run.ok().trim(), format!("rolled back {latest}"));
    let status = migration_status(&cli(&app, &["migrate", "status"]).await);
    let mut expected = all_applied.clone();
    if let Some(last) = expected.last_mut() {
        last.1 = "pending".to_owned();
    }
    assert_eq!(status, expected);

    // up (the default action) applies it again.
    let run = cli(&app, &["migrate"]).await;
    assert_eq!(run.ok().trim(), format!("applied 1 migration(s): {latest}"));
    let status = migration_status(&cli(&app, &["migrate", "status"]).await);
    assert_eq!(status, all_applied);

    // fresh drops everything and applies every migration.
    let db = app.db().await;
    insert_user(&db, "ada@example.com").await;
    let run = cli(&app, &["migrate", "fresh", "--yes"]).await;
    assert_eq!(
        run.ok().trim(),
        format!("database recreated, {} migration(s) applied", names.len())
    );
    let left = users::Entity::find().count(&db).await.expect("count users");
    assert_eq!(left, 0, "fresh empties the tables");
    let status = migration_status(&cli(&app, &["migrate", "status"]).await);
    assert_eq!(status, all_applied);
}

async fn user_count(db: &DatabaseConnection) -> u64 {
    users::Entity::find().count(db).await.expect("count users")
}

/// Off a terminal nobody can be asked, so `down` and `fresh` need `--yes`: without it they
/// are refused as bad usage (exit 2) and the database is left as it was.
#[tokio::test]
async fn migrate_down_and_fresh_off_a_terminal_need_yes() {
    let app = spawn_app().await;
    let db = app.db().await;
    insert_user(&db, "ada@example.com").await;
    let before = cli(&app, &["migrate", "status"]).await.ok().to_owned();

    for action in ["down", "fresh"] {
        let run = cli(&app, &["migrate", action]).await;
        let line = run.fails(2);
        assert!(line.contains("--yes"), "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert_eq!(user_count(&db).await, 1, "no table was dropped");
    assert_eq!(cli(&app, &["migrate", "status"]).await.ok(), before);
    // What keeps the data needs no confirmation.
    cli(&app, &["migrate", "up"]).await.ok();

    cli(&app, &["migrate", "fresh", "--yes"]).await.ok();
    assert_eq!(user_count(&db).await, 0);
}

/// On a terminal `down`, `fresh` and `sessions revoke --all` ask, through one confirmation:
/// any answer but `yes` leaves everything as it was (exit 1), `yes` goes ahead.
#[tokio::test]
async fn destructive_commands_ask_on_a_terminal() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let browser = sign_in_user(&app, &db, &ada).await;
    let vars = &app.config.vars;

    let run = latchkey_on_terminal(vars, &["migrate", "fresh"], "no\n").await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Type yes to continue"), "{run:?}");
    assert!(run.stdout.contains("not confirmed"), "{run:?}");
    assert_eq!(user_count(&db).await, 1);
    let run = latchkey_on_terminal(vars, &["sessions", "revoke", "--all"], "\n").await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("signs every user out"), "{run:?}");
    assert_eq!(status(&app, &browser).await, 200);

    let run = latchkey_on_terminal(vars, &["sessions", "revoke", "--all"], "yes\n").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("revoked 1 session(s)"), "{run:?}");
    assert_eq!(status(&app, &browser).await, 401);
    let run = latchkey_on_terminal(vars, &["migrate", "down"], "yes\n").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("rolled back"), "{run:?}");
    let run = latchkey_on_terminal(vars, &["migrate", "fresh"], "yes\n").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("database recreated"), "{run:?}");
    assert_eq!(user_count(&db).await, 0);
    // --yes is not asked.
    let run = latchkey_on_terminal(vars, &["migrate", "fresh", "--yes"], "").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("Type yes"), "{run:?}");
}

/// With `LATCHKEY_ENV=production`, `down` and `fresh` need `--yes` even on a terminal: they
/// are refused (exit 2) without asking, and the data is kept.
#[tokio::test]
async fn migrate_down_and_fresh_in_production_need_yes_always() {
    let db = TestDb::new().await;
    let config = TestConfig::new(&db)
        .set("LATCHKEY_ENV", "production")
        .set("LATCHKEY__SERVER__PUBLIC_URL", "https://auth.example.com")
        .set("LATCHKEY__VISION__API_KEY", "sk-test");
    latchkey(&config.vars, &["migrate"]).await.ok();
    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    insert_user(&conn, "ada@example.com").await;

    for action in ["down", "fresh"] {
        let run = latchkey_on_terminal(&config.vars, &["migrate", action], "yes\n").await;
        assert_eq!(run.code, 2, "{action}: {run:?}");
        assert!(run.stdout.contains("--yes"), "{action}: {run:?}");
        assert!(run.stdout.contains("production"), "{action}: {run:?}");
        assert!(!run.stdout.contains("Type yes"), "not asked: {run:?}");
        let run = latchkey(&config.vars, &["migrate", action]).await;
        assert!(run.fails(2).contains("--yes"), "{action}: {run:?}");
    }
    assert_eq!(user_count(&conn).await, 1, "no table was dropped");
    latchkey(&config.vars, &["migrate", "status"]).await.ok();

    let run = latchkey(&config.vars, &["migrate", "fresh", "--yes"]).await;
    assert!(run.ok().contains("database recreated"), "{run:?}");
    assert_eq!(user_count(&conn).await, 0);
}

#[tokio::test]
async fn serve_dev_store_is_refused_in_production() {
    // A production configuration that is otherwise valid, and a Redis that does not answer,
    // so that --dev-store would fall back to a redis-server or the memory store if it ran.
    let db = TestDb::new().await;
    let config = TestConfig::new(&db)
        .set("LATCHKEY_ENV", "production")
        .set("LATCHKEY__SERVER__PUBLIC_URL", "https://auth.example.com")
        .set("LATCHKEY__VISION__API_KEY", "sk-test")
        .set(
            "LATCHKEY__REDIS__URL",
            &format!("redis://127.0.0.1:{}", crate::support::process::free_port()),
        );
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        latchkey(&config.vars, &["serve", "--dev-store"]),
    )
    .await
    .expect("serve --dev-store exits at once in production");
    let line = run.fails(2);
    assert!(
        line.contains("--dev-store") && line.contains("production"),
        "{run:?}"
    );
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[tokio::test]
async fn plan_set_is_seen_by_every_live_session_on_its_next_request() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let laptop = sign_in_user(&app, &db, &ada).await;
    let phone = sign_in_user(&app, &db, &ada).await;
    let before = json(app.user_info(&mut laptop.clone()).await).await;
    assert_eq!(before["user"]["plan"], "free");
    assert_eq!(before["user"]["daily_ocr_limit"], 20);

    let until = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let run = cli(
        &app,
        &["plan", "set", "ada@example.com", "pro", "--until", &until],
    )
    .await;
    assert!(run.ok().contains("to pro until"), "{run:?}");
    for b in [&laptop, &phone] {
        let after = json(app.user_info(&mut b.clone()).await).await;
        assert_eq!(after["user"]["plan"], "pro", "{after}");
        assert_eq!(after["user"]["current_plan"], "pro", "{after}");
        assert!(after["user"]["daily_ocr_limit"].is_null(), "{after}");
    }
    let stored = users::Entity::find_by_id(ada.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.plan, "pro");
    assert!(stored.plan_until.is_some());
    let shown = cli(&app, &["users", "show", &ada.id.to_string(), "--json"])
        .await
        .json();
    assert_eq!(shown["user"]["plan"], "pro");
    assert_eq!(shown["user"]["assigned_plan"], "pro");
    assert_eq!(shown["user"]["sessions"], 2);

    // And back, with no end.
    cli(&app, &["plan", "set", &ada.id.simple().to_string(), "free"])
        .await
        .ok();
    let back = json(app.user_info(&mut laptop.clone()).await).await;
    assert_eq!(back["user"]["plan"], "free");
    assert_eq!(back["user"]["daily_ocr_limit"], 20);
}

#[tokio::test]
async fn unknown_users_plans_and_sessions_exit_1() {
    let app = spawn_app().await;
    let db = app.db().await;
    insert_user(&db, "ada@example.com").await;
    let nobody = Uuid::new_v4().to_string();
    for args in [
        &["plan", "set", "nobody@example.com", "pro"][..],
        &["plan", "set", &nobody, "pro"],
        &["users", "show", "nobody@example.com"],
        &["users", "disable", &nobody],
        &["users", "enable", "nobody@example.com"],
        &["users", "delete", "nobody@example.com", "--yes"],
        &["sessions", "list", "--user", "nobody@example.com"],
        &["sessions", "revoke", "--user", &nobody],
        &["sessions", "revoke", "0123456789abcdef"],
    ] {
        let run = cli(&app, args).await;
        let line = run.fails(1);
        assert!(
            line.contains("no user") || line.contains("no live session"),
            "{args:?}: {line}"
        );
    }
    let run = cli(&app, &["plan", "set", "ada@example.com", "gold"]).await;
    assert!(run.fails(1).contains("unknown plan"), "{run:?}");
}

#[tokio::test]
async fn bad_usage_exits_2_with_one_line() {
    let app = spawn_app().await;
    let db = app.db().await;
    insert_user(&db, "ada@example.com").await;
    let past = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    for args in [
        &["sessions", "list", "--bogus"][..],
        &["sessions", "revoke"],
        &["sessions", "revoke", "0123456789abcdef", "--all"],
        &["sessions", "revoke", "not-a-session-id"],
        &["plan", "set", "ada@example.com"],
        &[
            "plan",
            "set",
            "ada@example.com",
            "pro",
            "--until",
            "next tuesday",
        ],
        &["plan", "set", "ada@example.com", "pro", "--until", &past],
        &["users", "delete", "ada@example.com"],
        &["users", "frobnicate"],
        &["users", "list", "--config", "/nonexistent/latchkey.toml"],
    ] {
        cli(&app, args).await.fails(2);
    }
    // Nothing was deleted or changed by the refused commands.
    let shown = cli(&app, &["users", "show", "ada@example.com", "--json"])
        .await
        .json();
    assert_eq!(shown["user"]["plan"], "free");

    // Every command has --help with an example.
    for args in [
        &["sessions", "list"][..],
        &["sessions", "revoke"],
        &["users", "list"],
        &["users", "show"],
        &["users", "disable"],
        &["users", "enable"],
        &["users", "delete"],
        &["plan", "set"],
    ] {
        let mut with_help = args.to_vec();
        with_help.push("--help");
        let run = cli(&app, &with_help).await;
        assert!(run.ok().contains("Example"), "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn disable_ends_every_session_and_refuses_logins_until_enabled() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;
    let ada_sessions = [
        sign_in_user(&app, &db, &ada).await,
        sign_in_user_bearer(&app, &db, &ada).await,
    ];
    let bob_session = sign_in_user(&app, &db, &bob).await;

    let run = cli(&app, &["users", "disable", "ada@example.com"]).await;
    let out = run.ok();
    assert!(out.contains("disabled ada@example.com"), "{out}");
    assert!(out.contains("revoked 2 session(s)"), "{out}");
    for b in &ada_sessions {
        assert_error(app.user_info(&mut b.clone()).await, 401, "unauthenticated").await;
    }
    assert_eq!(status(&app, &bob_session).await, 200);
    assert!(matches!(
        accounts::sign_in(&db, &identity_of(&ada)).await,
        Err(AccountError::Disabled)
    ));
    let shown = cli(&app, &["users", "show", "ada@example.com", "--json"])
        .await
        .json();
    assert!(shown["user"]["disabled_at"].is_string(), "{shown}");
    assert_eq!(shown["user"]["sessions"], 0);

    // Again: still disabled, nothing left to revoke.
    let again = cli(&app, &["users", "disable", &ada.id.to_string()]).await;
    assert!(again.ok().contains("already disabled"), "{again:?}");

    let run = cli(&app, &["users", "enable", "ada@example.com"]).await;
    assert!(run.ok().contains("enabled ada@example.com"), "{run:?}");
    let user = accounts::sign_in(&db, &identity_of(&ada))
        .await
        .expect("an enabled user logs in");
    assert_eq!(user.id, ada.id);
    let browser = sign_in_user(&app, &db, &user).await;
    assert_eq!(status(&app, &browser).await, 200);
}

#[tokio::test]
async fn delete_erases_the_user_and_keeps_billing_records_detached() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;
    let now = Utc::now();
    subscriptions::ActiveModel {
        id: Set("sub_ada".into()),
        user_id: Set(Some(ada.id)),
        customer_id: Set("cus_ada".into()),
        status: Set("canceled".into()),
        price_id: Set(None),
        current_period_end: Set(Some(now)),
        cancel_at_period_end: Set(false),
        last_event_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&db)
    .await
    .expect("insert subscription");
    usage_events::ActiveModel {
        user_id: Set(ada.id),
        kind: Set("ocr".into()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("insert usage");
    let browser = sign_in_user(&app, &db, &ada).await;
    let ada_bearer = sign_in_user_bearer(&app, &db, &ada).await;
    let bob_session = sign_in_user(&app, &db, &bob).await;

    cli(&app, &["users", "delete", "ada@example.com"])
        .await
        .fails(2);
    assert_eq!(status(&app, &browser).await, 200);

    let run = cli(&app, &["users", "delete", "ada@example.com", "--yes"]).await;
    let out = run.ok();
    assert!(out.contains("deleted ada@example.com"), "{out}");
    assert!(out.contains("revoked 2 session(s)"), "{out}");
    assert_eq!(status(&app, &ada_bearer).await, 401);
    assert_error(
        app.user_info(&mut browser.clone()).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(status(&app, &bob_session).await, 200);

    let listed = cli(&app, &["users", "list", "--json"]).await.json();
    assert_eq!(listed["count"], 1, "{listed}");
    let ids: Vec<&str> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, [bob.id.to_string()]);
    assert!(users::Entity::find_by_id(ada.id)
        .one(&db)
        .await
        .unwrap()
        .is_none());
    let left = identities::Entity::find()
        .filter(identities::Column::UserId.eq(ada.id))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let usage = usage_events::Entity::find()
        .filter(usage_events::Column::UserId.eq(ada.id))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(usage, 0);
    let kept = subscriptions::Entity::find_by_id("sub_ada".to_owned())
        .one(&db)
        .await
        .unwrap()
        .expect("the billing record is kept");
    assert_eq!(kept.user_id, None);
    assert_eq!(kept.customer_id, "cus_ada");
    cli(&app, &["users", "show", &ada.id.to_string()])
        .await
        .fails(1);
}

/// The test's configuration with Redis where nothing listens: as for an operator whose Redis
/// is down, every session store call of the command fails.
fn redis_stopped(app: &TestApp) -> BTreeMap<String, String> {
    let mut vars = app.config.vars.clone();
    vars.insert(
        "LATCHKEY__REDIS__URL".into(),
        format!("redis://127.0.0.1:{}", crate::support::process::free_port()),
    );
    vars.insert("LATCHKEY__REDIS__TIMEOUT".into(), "1s".into());
    vars
}

/// Whether Redis still holds a session or the profile cache (name, email) of `user`.
async fn left_in_redis(app: &TestApp, user: Uuid) -> Vec<String> {
    let tag = app.user_tag(user);
    app.redis_keys()
        .await
        .into_iter()
        .filter(|k| *k == format!("{tag}:p") || k.starts_with(&format!("{tag}:s:")))
        .collect()
}

async fn stored(db: &DatabaseConnection, user: &users::Model) -> Option<users::Model> {
    users::Entity::find_by_id(user.id)
        .one(db)
        .await
        .expect("read the user")
}

/// Redis stopped during `users delete`: the command fails before any row goes, with the user
/// disabled so that no login can start a session meanwhile; once Redis is back, running it
/// again (with the id it names) erases them and their cookie answers 401.
#[tokio::test]
async fn delete_with_redis_stopped_fails_and_the_rerun_finishes_the_erasure() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;
    let laptop = sign_in_user(&app, &db, &ada).await;
    let phone = sign_in_user(&app, &db, &ada).await;
    let bobs = sign_in_user(&app, &db, &bob).await;

    let run = latchkey(
        &redis_stopped(&app),
        &["users", "delete", "ada@example.com", "--yes"],
    )
    .await;
    let line = run.fails(1);
    assert!(line.contains("stopped half-way"), "{run:?}");
    assert!(
        line.contains(&format!("latchkey users delete {} --yes", ada.id)),
        "the error names the rerun: {run:?}"
    );
    assert!(run.stdout.is_empty(), "{run:?}");
    // Nothing is erased, and logins are refused from now on.
    let kept = stored(&db, &ada).await.expect("the user is still there");
    assert!(kept.disabled_at.is_some(), "{kept:?}");
    assert!(matches!(
        accounts::sign_in(&db, &identity_of(&ada)).await,
        Err(AccountError::Disabled)
    ));

    // Redis back: the rerun the error named erases the user.
    let run = cli(&app, &["users", "delete", &ada.id.to_string(), "--yes"]).await;
    let out = run.ok();
    assert!(out.contains("deleted ada@example.com"), "{out}");
    assert!(out.contains("revoked 2 session(s)"), "{out}");
    for b in [&laptop, &phone] {
        assert_error(app.user_info(&mut b.clone()).await, 401, "unauthenticated").await;
    }
    assert!(stored(&db, &ada).await.is_none());
    assert_eq!(left_in_redis(&app, ada.id).await, Vec::<String>::new());
    assert_eq!(status(&app, &bobs).await, 200);
}

/// `BEFORE DELETE` on `users` fails every deletion of a user row: the database failing at the
/// step of `users delete` that removes the rows.
async fn refuse_user_deletion(db: &DatabaseConnection, refuse: bool) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let statements: &[&str] = match (db.get_database_backend(), refuse) {
        (DbBackend::Postgres, true) => &[
            "CREATE FUNCTION keep_users() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'kept by the test'; END $$",
            "CREATE TRIGGER keep_users BEFORE DELETE ON users \
             FOR EACH ROW EXECUTE FUNCTION keep_users()",
        ],
        (DbBackend::Postgres, false) => &[
            "DROP TRIGGER keep_users ON users",
            "DROP FUNCTION keep_users()",
        ],
        (_, true) => &["CREATE TRIGGER keep_users BEFORE DELETE ON users \
             BEGIN SELECT RAISE(ABORT, 'kept by the test'); END"],
        (_, false) => &["DROP TRIGGER keep_users"],
    };
    for sql in statements {
        db.execute_unprepared(sql).await.expect(sql);
    }
}

/// The database failing when the rows go: the user's sessions have ended already (their
/// cookie answers 401) and the rows are all there, so the rerun finishes the erasure.
#[tokio::test]
async fn delete_that_fails_in_the_database_has_ended_the_sessions_and_the_rerun_finishes() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let browser = sign_in_user(&app, &db, &ada).await;

    refuse_user_deletion(&db, true).await;
    let run = cli(&app, &["users", "delete", "ada@example.com", "--yes"]).await;
    assert!(run.fails(1).contains("stopped half-way"), "{run:?}");
    assert_error(
        app.user_info(&mut browser.clone()).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(left_in_redis(&app, ada.id).await, Vec::<String>::new());
    let kept = stored(&db, &ada).await.expect("the rows are kept");
    assert!(kept.disabled_at.is_some(), "{kept:?}");
    let identities_left = identities::Entity::find()
        .filter(identities::Column::UserId.eq(ada.id))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(identities_left, 1, "the transaction rolled back");

    refuse_user_deletion(&db, false).await;
    let run = cli(&app, &["users", "delete", "ada@example.com", "--yes"]).await;
    assert!(run.ok().contains("deleted ada@example.com"), "{run:?}");
    assert!(stored(&db, &ada).await.is_none());
}

/// A user whose rows are gone while Redis still holds their sessions (what an erasure that
/// failed after the rows went leaves, or a row deleted by hand): their id still reaches the
/// sessions, with `sessions revoke --user` and with `users delete`.
#[tokio::test]
async fn sessions_of_a_user_no_longer_in_the_database_can_be_ended_by_id() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let laptop = sign_in_user(&app, &db, &ada).await;
    let phone = sign_in_user(&app, &db, &ada).await;
    users::Entity::delete_by_id(ada.id)
        .exec(&db)
        .await
        .expect("delete the row");
    assert_eq!(
        status(&app, &laptop).await,
        200,
        "Redis alone signs them in"
    );
    let id = ada.id.to_string();

    let listed = cli(&app, &["sessions", "list", "--user", &id, "--json"])
        .await
        .json();
    assert_eq!(listed["count"], 2, "{listed}");
    let run = cli(
        &app,
        &["sessions", "revoke", &public_id(&laptop), "--user", &id],
    )
    .await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    assert_eq!(status(&app, &laptop).await, 401);
    assert_eq!(status(&app, &phone).await, 200);

    let run = cli(&app, &["sessions", "revoke", "--user", &id]).await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    assert_error(
        app.user_info(&mut phone.clone()).await,
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(left_in_redis(&app, ada.id).await, Vec::<String>::new());
    let run = cli(&app, &["sessions", "revoke", "--user", &id]).await;
    assert!(run.fails(1).contains("no live session"), "{run:?}");
    assert_eq!(run.stdout.trim(), "revoked 0 session(s)", "{run:?}");

    // `users delete` with the id ends what is left in Redis too.
    let again = sign_in_user(&app, &db, &ada).await;
    let run = cli(&app, &["users", "delete", &id, "--yes"]).await;
    let out = run.ok();
    assert!(out.contains("revoked 1 session(s)"), "{out}");
    assert_eq!(status(&app, &again).await, 401);
    assert_eq!(left_in_redis(&app, ada.id).await, Vec::<String>::new());
    let run = cli(&app, &["users", "delete", &id, "--yes"]).await;
    assert!(run.fails(1).contains("no user"), "{run:?}");
}

#[tokio::test]
async fn users_list_and_show_print_tables_and_json() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_user(&db, "ada@example.com").await;
    let bob = insert_user(&db, "bob@example.com").await;
    sign_in_user(&app, &db, &ada).await;
    sign_in_user(&app, &db, &ada).await;

    let table = cli(&app, &["users", "list"]).await;
    let text = table.ok();
    assert!(text.contains("ada@example.com") && text.contains("bob@example.com"));
    assert!(text.trim_end().ends_with("2 user(s)"), "{text}");

    let doc = cli(&app, &["users", "list", "--json"]).await.json();
    assert_eq!(doc["count"], 2);
    let users = doc["users"].as_array().unwrap();
    let by_email = |email: &str| {
        users
            .iter()
            .find(|u| u["email"] == email)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_email("ada@example.com")["sessions"], 2);
    assert_eq!(by_email("bob@example.com")["sessions"], 0);
    assert_eq!(by_email("bob@example.com")["plan"], "free");
    assert_eq!(by_email("bob@example.com")["id"], bob.id.to_string());

    let shown = cli(&app, &["users", "show", "ada@example.com", "--json"])
        .await
        .json();
    let user = &shown["user"];
    assert_eq!(user["id"], ada.id.to_string());
    assert_eq!(user["sessions"], 2);
    assert_eq!(user["identities"][0]["provider"], "github");
    assert!(user["subscriptions"].as_array().unwrap().is_empty());
    let text = cli(&app, &["users", "show", "ada@example.com"]).await;
    assert!(text.ok().contains("github"), "{text:?}");
}

/// Characters a terminal acts on instead of showing: what no table or message may print raw.
fn acted_on(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[test]
fn printable_escapes_what_a_terminal_acts_on_and_nothing_else() {
    use latchkey::cli::printable;
    assert_eq!(
        printable("Ada Lovelace, café, 日本"),
        "Ada Lovelace, café, 日本"
    );
    assert_eq!(
        printable("a\u{1b}[2J\u{1b}]0;t\u{7}\r\n\t\u{7f}\u{85}\u{9b}b"),
        r"a\u{1b}[2J\u{1b}]0;t\u{7}\r\n\t\u{7f}\u{85}\u{9b}b"
    );
    assert_eq!(
        printable("x\u{202a}\u{202e}\u{2066}\u{2069}y"),
        r"x\u{202a}\u{202e}\u{2066}\u{2069}y"
    );
    // A backslash is doubled, so text cannot pose as an escape.
    assert_eq!(printable(r"C:\u{1b}"), r"C:\\u{1b}");
    for c in (0..=0x10ffff).filter_map(char::from_u32) {
        let shown = printable(c.encode_utf8(&mut [0; 4])).into_owned();
        assert!(
            !shown.chars().any(acted_on),
            "{:x}: {shown:?}",
            u32::from(c)
        );
    }
}

/// A name, email and user agent holding terminal controls (clear the screen, set the window
/// title, return to the start of the line, reverse the text) are shown escaped in every
/// table and message, and kept exactly in `--json`.
#[tokio::test]
async fn tables_show_terminal_controls_escaped() {
    let app = spawn_app().await;
    let db = app.db().await;
    let name = "Mallory\u{1b}[2J\u{1b}]0;owned\u{7}\rAda \u{202e}fdp.exe\u{2066}\u{85}\u{7f}";
    let email = "mallory\u{1b}[8m@example.com";
    let user = insert_free_user(&db, email, name).await;
    identities::ActiveModel {
        user_id: Set(user.id),
        provider: Set("github".to_owned()),
        subject: Set("mallory\u{9b}2J".to_owned()),
        email: Set(Some(email.to_owned())),
        email_verified: Set(true),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("insert identity");
    let agent = "Mozilla\u{1b}[1A\u{1b}[2K\r\u{202d}evil";
    let client = ClientInfo {
        user_agent: agent.into(),
        ip: "192.0.2.8".into(),
    };
    let profile = accounts::profile(&db, &user).await.unwrap();
    app.sessions
        .start(user.id, profile, &client, Transport::Cookie)
        .await
        .unwrap();
    let id = user.id.to_string();

    for args in [
        &["sessions", "list"][..],
        &["sessions", "list", "--user", &id],
        &["users", "list"],
        &["users", "show", &id],
    ] {
        let run = cli(&app, args).await;
        let out = run.ok();
        assert!(!out.chars().any(acted_on), "{args:?}: {out:?}");
        assert!(run.stderr.is_empty(), "{args:?}: {run:?}");
        assert!(
            out.contains(r"mallory\u{1b}[8m@example.com"),
            "{args:?}: {out}"
        );
    }
    // The table shows the device read from the user agent, not the user agent itself.
    let listed = cli(&app, &["sessions", "list"]).await;
    assert!(!listed.stdout.contains('\u{1b}'), "{listed:?}");
    assert!(listed.stdout.contains("Unknown device"), "{listed:?}");
    for args in [&["users", "disable", &id][..], &["users", "enable", &id]] {
        let run = cli(&app, args).await;
        assert!(!run.ok().chars().any(acted_on), "{args:?}: {run:?}");
        assert!(
            run.stdout.contains(r"mallory\u{1b}[8m@example.com"),
            "{run:?}"
        );
    }
    let shown = cli(&app, &["users", "show", &id]).await;
    for escaped in [
        r"Mallory\u{1b}[2J",
        r"\rAda \u{202e}fdp",
        r"mallory\u{9b}2J",
    ] {
        assert!(shown.stdout.contains(escaped), "{escaped}: {shown:?}");
    }
    // An error line that quotes the email is escaped too.
    sign_in_user(&app, &db, &user).await;
    cli(&app, &["sessions", "revoke", "--user", &id]).await.ok();
    let run = cli(&app, &["sessions", "revoke", "--user", &id]).await;
    assert!(run.fails(1).contains(r"\u{1b}[8m"), "{run:?}");
    assert!(!run.stderr.chars().any(acted_on), "{run:?}");

    // JSON keeps the exact text (its strings escape controls by JSON's rules).
    let doc = cli(&app, &["users", "show", &id, "--json"]).await.json();
    assert_eq!(doc["user"]["name"], name);
    assert_eq!(doc["user"]["email"], email);
}

/// `--json` lands on terminals too: DEL, the C1 controls (CSI, OSC) and the bidirectional
/// overrides, which JSON itself leaves raw, are written as `\uXXXX`, and the document still
/// parses to the exact text.
#[tokio::test]
async fn json_output_escapes_terminal_controls_and_keeps_the_exact_text() {
    let app = spawn_app().await;
    let db = app.db().await;
    let hostile = "Mal\u{9b}2J\u{9d}0;pwned\u{7}\u{202e}evil\u{7f}\u{2066}\u{85}";
    let email = format!("{hostile}@example.com");
    let user = insert_free_user(&db, &email, hostile).await;
    let client = ClientInfo {
        user_agent: hostile.into(),
        ip: "192.0.2.9".into(),
    };
    let profile = accounts::profile(&db, &user).await.unwrap();
    app.sessions
        .start(user.id, profile, &client, Transport::Cookie)
        .await
        .unwrap();
    let id = user.id.to_string();

    let mut docs = Vec::new();
    for args in [
        &["users", "list", "--json"][..],
        &["sessions", "list", "--json"],
        &["sessions", "list", "--user", &id, "--json"],
        &["users", "show", &id, "--json"],
    ] {
        let run = cli(&app, args).await;
        let out = run.ok();
        assert!(!out.chars().any(acted_on), "{args:?}: {out:?}");
        assert!(
            out.contains(r"Mal\u009b2J\u009d0;pwned\u0007\u202eevil\u007f"),
            "{args:?}: {out}"
        );
        let doc: serde_json::Value = serde_json::from_slice(run.stdout.as_bytes())
            .unwrap_or_else(|e| panic!("{args:?}: valid JSON ({e}): {out}"));
        docs.push(doc);
    }
    let users = docs[0]["users"].as_array().expect("users");
    let listed = users
        .iter()
        .find(|u| u["id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["name"], hostile);
    assert_eq!(listed["email"], email.as_str());
    for doc in &docs[1..3] {
        let sessions = doc["sessions"].as_array().expect("sessions");
        let session = sessions
            .iter()
            .find(|s| s["user_id"] == id.as_str())
            .expect("the session");
        assert_eq!(session["user_agent"], hostile);
        assert_eq!(session["email"], email.as_str());
    }
    assert_eq!(docs[3]["user"]["name"], hostile);
    assert_eq!(docs[3]["user"]["email"], email.as_str());
}

#[tokio::test]
async fn the_cli_works_while_no_server_runs() {
    // A database and a Redis prefix, and no server at all: migrate with the binary, arrange
    // sessions through the store, operate, and only then start a server to see the effect.
    let db = TestDb::new().await;
    let config = TestConfig::new(&db);
    latchkey(&config.vars, &["migrate"]).await.ok();
    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    let ada = insert_user(&conn, "ada@example.com").await;
    let sessions = latchkey::startup::build_sessions(&config.settings()).unwrap();
    let client = ClientInfo {
        user_agent: "offline".into(),
        ip: "192.0.2.7".into(),
    };
    let profile = accounts::profile(&conn, &ada).await.unwrap();
    let kept = sessions
        .start(ada.id, profile.clone(), &client, Transport::Cookie)
        .await
        .unwrap();
    let revoked = sessions
        .start(ada.id, profile, &client, Transport::Cookie)
        .await
        .unwrap();

    let listed = latchkey(&config.vars, &["sessions", "list", "--json"])
        .await
        .json();
    assert_eq!(listed["count"], 2);
    let id = revoked.token.hash().public_id().to_string();
    let run = latchkey(&config.vars, &["sessions", "revoke", &id]).await;
    assert_eq!(run.ok().trim(), "revoked 1 session(s)");
    latchkey(&config.vars, &["plan", "set", "ada@example.com", "pro"])
        .await
        .ok();

    let server = ServerProcess::start(&config.vars, None).await;
    let browser = |token: &SessionToken| {
        Browser::new().with_cookie(crate::support::browser::SESSION_COOKIE, token.expose())
    };
    assert_eq!(
        server.user_info(&browser(&revoked.token)).await.status(),
        401
    );
    let res = server.user_info(&browser(&kept.token)).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["user"]["plan"], "pro", "{body}");
    assert!(body["user"]["daily_ocr_limit"].is_null(), "{body}");
}

#[tokio::test]
async fn ten_thousand_sessions_list_in_pages_without_holding_redis_up() {
    const USERS: usize = 1_000;
    const PER_USER: usize = 10;
    let app = spawn_app().await;
    let db = app.db().await;
    let ids: Vec<Uuid> = (0..USERS).map(|_| Uuid::new_v4()).collect();
    for chunk in ids.chunks(200) {
        users::Entity::insert_many(chunk.iter().map(|id| users::ActiveModel {
            id: Set(*id),
            ..free_user(&format!("{}@example.com", id.simple()), None)
        }))
        .exec(&db)
        .await
        .expect("insert users");
    }
    let started = Instant::now();
    let client = ClientInfo {
        user_agent: "bulk".into(),
        ip: "192.0.2.1".into(),
    };
    let created: Vec<_> =
        stream::iter(ids.iter().flat_map(|id| std::iter::repeat_n(*id, PER_USER)))
            .map(|id| {
                let sessions = app.sessions.clone();
                let client = client.clone();
                async move {
                    sessions
                        .start(id, profile("Bulk", "free"), &client, Transport::Cookie)
                        .await
                        .expect("session starts")
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
    assert_eq!(created.len(), USERS * PER_USER);
    eprintln!(
        "created {} sessions in {:?}",
        created.len(),
        started.elapsed()
    );

    // While the listing runs, another client pings Redis: its slowest answer shows whether
    // the listing held Redis up (reported, not asserted: timing depends on the machine).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pinger = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let client = redis::Client::open(redis_url()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let mut slowest = Duration::ZERO;
            let mut pings = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
                slowest = slowest.max(t.elapsed());
                pings += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (pings, slowest)
        }
    });
    let started = Instant::now();
    let run = cli(&app, &["sessions", "list", "--json"]).await;
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (pings, slowest) = pinger.await.unwrap();
    let doc = run.json();
    eprintln!(
        "sessions list --json: {} sessions in {took:?}; {pings} concurrent PINGs, slowest {slowest:?}",
        doc["count"]
    );
    assert_eq!(doc["count"], USERS * PER_USER);
    let listed = doc["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), USERS * PER_USER);
    let unique: HashSet<&str> = listed.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(unique.len(), USERS * PER_USER);
    let expected: HashSet<String> = created
        .iter()
        .map(|s| s.token.hash().public_id().to_string())
        .collect();
    assert!(unique.iter().all(|id| expected.contains(*id)));
    assert!(listed.iter().all(|s| s["email"]
        .as_str()
        .is_some_and(|e| e.ends_with("@example.com"))));

    let started = Instant::now();
    let table = cli(&app, &["sessions", "list"]).await;
    let last = table
        .ok()
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    eprintln!("sessions list (table): {last} in {:?}", started.elapsed());
    assert_eq!(last, "10000 session(s)");

    // Leave no 12,000 keys behind in a Redis that other runs share and walk.
    let keys = app.redis_keys().await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for chunk in keys.chunks(1000) {
        let _: i64 = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

// The store's walk over every session (`SessionStore::scan`), for both stores.

fn record(now: i64) -> SessionRecord {
    SessionRecord {
        created_ms: now,
        last_seen_ms: now,
        absolute_expiry_ms: now + 600_000,
        user_agent: "walk".into(),
        ip: "192.0.2.9".into(),
        transport: Transport::Cookie,
    }
}

async fn create(store: &dyn SessionStore, user_id: Uuid, now: i64) -> PublicId {
    let token = SessionToken::generate(user_id);
    let new = NewSession {
        user_id,
        hash: token.hash(),
        record: record(now),
        idle_ms: 60_000,
        profile: profile("Walk", "free"),
        profile_expiry_ms: now + 600_000,
        max_per_user: 50,
    };
    assert!(store.create(&new).await.unwrap().stored());
    token.hash().public_id()
}

/// Walks with tiny pages, revoking what it has seen as it goes (as `revoke --all` does):
/// every session that lives through the walk is still seen, expired ones are not.
async fn scan_walks_every_live_session(store: Arc<dyn SessionStore>, count: u32) {
    let now = latchkey::session::now_ms();
    let mut expected = HashSet::new();
    let users: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
    for (i, user) in users.iter().enumerate() {
        for _ in 0..=i % 3 {
            expected.insert((*user, create(store.as_ref(), *user, now).await));
        }
    }
    let mut seen = HashSet::new();
    let mut cursor = 0;
    loop {
        let page = store.scan(cursor, count, now, 60_000).await.unwrap();
        for (user, hash, record) in page.sessions {
            assert_eq!(record.user_agent, "walk");
            store
                .revoke(user, &latchkey::session::Revoke::One(hash))
                .await
                .unwrap();
            seen.insert((user, hash.public_id()));
        }
        if page.cursor == 0 {
            break;
        }
        cursor = page.cursor;
    }
    assert_eq!(seen, expected);
    // Past their idle timeout, the sessions a walk meets are not live.
    let user = Uuid::new_v4();
    create(store.as_ref(), user, now).await;
    let mut cursor = 0;
    loop {
        let page = store
            .scan(cursor, 1000, now + 61_000, 60_000)
            .await
            .unwrap();
        assert!(page.sessions.iter().all(|(u, _, _)| *u != user));
        if page.cursor == 0 {
            break;
        }
        cursor = page.cursor;
    }
}

#[tokio::test]
async fn memory_store_scan_walks_every_live_session() {
    scan_walks_every_live_session(Arc::new(MemoryStore::new()), 2).await;
}

#[tokio::test]
async fn redis_store_scan_walks_every_live_session() {
    // A prefix with glob characters: it must be matched as written, not as a pattern.
    let prefix = format!("lktest:[{}]*?:", Uuid::new_v4().simple());
    let store = RedisStore::new(&redis_url(), &prefix, Duration::from_secs(2)).unwrap();
    // Redis's pages are counted in keys of the whole database, shared with other tests.
    scan_walks_every_live_session(Arc::new(store), 100).await;
}

/// `latchkey config check` against a test's configuration with `vars` changed.
async fn config_check(db: &TestDb, vars: &[(&str, &str)], args: &[&str]) -> Run {
    let mut config = TestConfig::new(db);
    for (key, value) in vars {
        config = config.set(key, value);
    }
    let mut argv = args.to_vec();
    argv.extend(["config", "check"]);
    latchkey(&config.vars, &argv).await
}

#[track_caller]
fn assert_hidden(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret} was printed: {run:?}"
        );
    }
}

#[tokio::test]
async fn config_check_prints_the_settings_with_every_secret_redacted() {
    let db = TestDb::new().await;
    let planted = [
        ("LATCHKEY__VISION__API_KEY", "sk-planted-vision-7f3a"),
        (
            "LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRET",
            "planted-google-secret-91c2",
        ),
        (
            "LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET",
            "planted-github-secret-44d0",
        ),
        (
            "LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET",
            "whsec_planted_5e6b",
        ),
    ];
    let mut vars = planted.to_vec();
    vars.push(("LATCHKEY__PROVIDERS__GOOGLE__CLIENT_ID", "google-client-id"));
    vars.push(("LATCHKEY__PROVIDERS__GITHUB__CLIENT_ID", "github-client-id"));
    let run = config_check(&db, &vars, &[]).await;

    let out = run.ok();
    let mut secrets: Vec<&str> = planted.iter().map(|(_, secret)| *secret).collect();
    // Run against PostgreSQL, the database URL carries a password too.
    let db_url = url::Url::parse(&db.url).expect("database URL");
    secrets.extend(db_url.password());
    assert_hidden(&run, &secrets);
    for line in [
        "environment = \"test\"",
        "vision.api_key = \"REDACTED\"",
        "providers.google.client_secret = \"REDACTED\"",
        "providers.github.client_secret = \"REDACTED\"",
        "billing.stripe_webhook_secret = \"REDACTED\"",
        "providers.google.client_id = \"google-client-id\"",
        "session.idle_timeout = \"7days\"",
        "login.success_redirect = unset",
        "redis: answers",
        "database: answers",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    assert!(out.contains("\nredis.url = \"redis://"), "{out}");
    assert!(out.contains("\ndatabase.url = \""), "{out}");
}

#[tokio::test]
async fn config_check_exits_2_when_redis_does_not_answer_and_keeps_its_password() {
    let db = TestDb::new().await;
    let port = crate::support::process::free_port();
    let url = format!("redis://:planted-redis-secret-0b7e@127.0.0.1:{port}");
    let run = config_check(&db, &[("LATCHKEY__REDIS__URL", &url)], &[]).await;

    let error = run.fails(2);
    assert!(
        error.starts_with("error: redis.url: Redis does not answer"),
        "{error}"
    );
    assert_hidden(&run, &["planted-redis-secret-0b7e"]);
    let shown = format!("redis.url = \"redis://:REDACTED@127.0.0.1:{port}\"");
    assert!(run.stdout.lines().any(|l| l == shown), "{shown} in {run:?}");
    assert!(run.stdout.contains("\nredis: does not answer ("), "{run:?}");
    assert!(run.stdout.contains("\ndatabase: answers"), "{run:?}");
}

#[tokio::test]
async fn config_check_exits_2_when_the_database_does_not_answer_and_keeps_its_password() {
    let db = TestDb::new().await;
    let port = crate::support::process::free_port();
    let url = format!("postgres://latchkey:planted-db-secret-c1d9@127.0.0.1:{port}/latchkey");
    let run = config_check(&db, &[("LATCHKEY__DATABASE__URL", &url)], &[]).await;

    let error = run.fails(2);
    assert!(
        error.starts_with("error: database.url: the database does not answer"),
        "{error}"
    );
    assert_hidden(&run, &["planted-db-secret-c1d9"]);
    let shown =
        format!("database.url = \"postgres://latchkey:REDACTED@127.0.0.1:{port}/latchkey\"");
    assert!(run.stdout.lines().any(|l| l == shown), "{shown} in {run:?}");
    assert!(run.stdout.contains("\nredis: answers"), "{run:?}");
}

#[tokio::test]
async fn config_check_refuses_a_misspelt_key_or_log_level_in_one_line() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, "[providers.google]\nclient_secrt = \"x\"\n").expect("write");
    let file = file.to_str().expect("a UTF-8 path");

    let env = config_check(&db, &[("LATCHKEY__SESSION__IDLE_TIMOUT", "1d")], &[]).await;
    assert_eq!(
        env.fails(2),
        "error: session.idle_timout: unknown key, did you mean session.idle_timeout? \
         (set by LATCHKEY__SESSION__IDLE_TIMOUT)"
    );
    let in_file = config_check(&db, &[], &["--config", file]).await;
    let error = in_file.fails(2);
    assert!(
        error.starts_with("error: providers.google.client_secrt: unknown key"),
        "{error}"
    );
    assert!(error.contains("latchkey.toml"), "{error}");
    let level = config_check(&db, &[("LATCHKEY__LOG__LEVEL", "verbose")], &[]).await;
    assert!(
        level.fails(2).starts_with("error: log.level: "),
        "{level:?}"
    );
    for run in [env, in_file, level] {
        assert!(run.stdout.is_empty(), "nothing printed: {run:?}");
    }
}

/// A variable named like latchkey's but for its prefix is refused by name, never ignored:
/// ignored, the setting would keep its value, or the server would run as development.
#[tokio::test]
async fn config_check_refuses_a_misspelt_variable_prefix_by_name() {
    let db = TestDb::new().await;
    for (var, value) in [
        ("LATCHKEY_SESSION__IDLE_TIMEOUT", "1m"),
        ("latchkey__session__idle_timeout", "1m"),
        ("LATCHKEY_ENVIRONMENT", "production"),
    ] {
        let run = config_check(&db, &[(var, value)], &[]).await;
        let error = run.fails(2);
        assert!(
            error.starts_with(&format!("error: {var}: not a variable latchkey reads")),
            "{error}"
        );
        assert!(!error.contains(value), "the value is not printed: {error}");
        assert!(run.stdout.is_empty(), "nothing printed: {run:?}");
    }
    // The two variables that choose the layers are still read.
    config_check(&db, &[("LATCHKEY_ENV", "test")], &[])
        .await
        .ok();
}

#[tokio::test]
async fn config_check_with_the_memory_store_does_not_need_redis() {
    let db = TestDb::new().await;
    let port = crate::support::process::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let run = config_check(
        &db,
        &[
            ("LATCHKEY__SESSION__STORE", "memory"),
            ("LATCHKEY__REDIS__URL", &url),
        ],
        &[],
    )
    .await;
    let out = run.ok();
    assert!(
        out.contains("\nredis: not used (session.store is memory)\n"),
        "{out}"
    );
    assert!(out.contains("\ndatabase: answers"), "{out}");
}

/// `sessions list --json --limit N` without `--user` walks the whole store, in the store's
/// order; `--help` promises the N oldest, oldest first, and that is what comes back.
#[tokio::test]
async fn list_with_a_limit_gives_the_oldest_sessions_oldest_first() {
    let app = spawn_app().await;
    let store = RedisStore::new(&redis_url(), app.config.prefix(), Duration::from_secs(2))
        .expect("the app's store");
    let now = latchkey::session::now_ms();
    let mut by_age = Vec::new();
    // Created in an order unrelated to their age (minutes ago).
    for minutes_ago in [3_i64, 7, 0, 5, 1, 6, 2, 4] {
        let mut started = record(now);
        started.created_ms = now - minutes_ago * 60_000;
        let token = SessionToken::generate(Uuid::new_v4());
        let new = NewSession {
            user_id: token.user_id(),
            hash: token.hash(),
            record: started,
            idle_ms: 600_000,
            profile: profile("Aged", "free"),
            profile_expiry_ms: now + 600_000,
            max_per_user: 50,
        };
        assert!(store.create(&new).await.expect("created").stored());
        by_age.push((minutes_ago, token.hash().public_id().to_string()));
    }
    by_age.sort_by_key(|(minutes_ago, _)| std::cmp::Reverse(*minutes_ago));
    let oldest: Vec<&str> = by_age.iter().take(3).map(|(_, id)| id.as_str()).collect();

    let doc = cli(&app, &["sessions", "list", "--json", "--limit", "3"])
        .await
        .json();
    let listed: Vec<&str> = doc["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(listed, oldest, "{doc}");
    assert_eq!(doc["count"], 3, "{doc}");
}
