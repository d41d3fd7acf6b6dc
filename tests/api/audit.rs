//! `latchkey audit` and the events of the operator's commands (docs/operations.md, "Security
//! events"): revocations, disable, enable, plan changes and erasure, read back with
//! `audit --json`; the retention; and events and usage records that wait while the database
//! does not take them.

use std::time::Duration;

use chrono::Utc;
use entity::usage_events;
use latchkey::accounts::events::{self, Actor, Kind, SecurityEvent};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::support::app::{spawn_app, spawn_app_with, TestApp};
use crate::support::events::{all_events, events_of};
use crate::support::process::latchkey;
use crate::support::response::json;
use crate::support::users::{insert_free_user, sign_in_user};

async fn audit(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    latchkey(&app.config.vars, &all).await.json()
}

fn kinds(listing: &Value) -> Vec<String> {
    listing["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_owned())
        .collect()
}

#[tokio::test]
async fn every_operator_command_that_changes_state_is_in_the_audit() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_free_user(&db, "ada@example.com", "Ada").await;
    let id = ada.id.to_string();
    let run = |args: &'static [&'static str]| {
        let vars = app.config.vars.clone();
        async move { latchkey(&vars, args).await }
    };

    // Revoke one session by id, then all of hers.
    let mut browser = sign_in_user(&app, &db, &ada).await;
    let listed = json(app.list_sessions(&mut browser).await).await;
    let session = listed["sessions"][0]["id"].as_str().expect("id").to_owned();
    latchkey(&app.config.vars, &["sessions", "revoke", &session])
        .await
        .ok();
    sign_in_user(&app, &db, &ada).await;
    sign_in_user(&app, &db, &ada).await;
    latchkey(&app.config.vars, &["sessions", "revoke", "--user", &id])
        .await
        .ok();
    sign_in_user(&app, &db, &ada).await;
    latchkey(&app.config.vars, &["users", "disable", &id])
        .await
        .ok();
    latchkey(&app.config.vars, &["users", "enable", &id])
        .await
        .ok();
    latchkey(&app.config.vars, &["plan", "set", &id, "pro"])
        .await
        .ok();
    sign_in_user(&app, &db, &ada).await;
    run(&["sessions", "revoke", "--all"]).await.ok();

    let listing = audit(&app, &["--user", "ada@example.com"]).await;
    assert_eq!(
        kinds(&listing),
        [
            "sessions_revoked",
            "plan_changed",
            "account_enabled",
            "sessions_revoked",
            "account_disabled",
            "sessions_revoked",
            "session_revoked",
        ],
        "{listing:#}"
    );
    let events = listing["events"].as_array().expect("events");
    for e in events {
        assert_eq!(e["actor"], "operator", "{e}");
        assert_eq!(e["user_id"], id.as_str(), "{e}");
        assert_eq!(e["email"], "ada@example.com", "{e}");
    }
    assert_eq!(events[6]["session_id"], session.as_str());
    assert_eq!(events[6]["reason"], "revoked_by_operator");
    assert_eq!(events[5]["details"]["count"], 2);
    assert_eq!(events[3]["details"]["by"], "disable");
    assert_eq!(events[1]["details"]["from"], "free");
    assert_eq!(events[1]["details"]["to"], "pro");
    assert_eq!(events[1]["details"]["source"], "operator");

    // Filters: kind, limit, since.
    let only = audit(&app, &["--kind", "plan_changed"]).await;
    assert_eq!(kinds(&only), ["plan_changed"]);
    assert_eq!(kinds(&audit(&app, &["--limit", "2"]).await).len(), 2);
    assert_eq!(kinds(&audit(&app, &["--since", "1h"]).await).len(), 7);
    assert_eq!(
        kinds(&audit(&app, &["--since", "2999-01-01T00:00:00Z"]).await).len(),
        0
    );
    latchkey(&app.config.vars, &["audit", "--kind", "nope"])
        .await
        .fails(2);
    latchkey(&app.config.vars, &["audit", "--since", "yesterday"])
        .await
        .fails(2);
    latchkey(&app.config.vars, &["audit", "--limit", "0"])
        .await
        .fails(2);

    // The table.
    let table = latchkey(&app.config.vars, &["audit", "--user", &id]).await;
    let out = table.ok();
    assert!(out.contains("plan_changed"), "{out}");
    assert!(out.contains("from=free"), "{out}");
    assert!(out.contains("7 event(s)"), "{out}");
}

#[tokio::test]
async fn erasure_leaves_one_account_deleted_event_and_no_personal_data() {
    let app = spawn_app().await;
    let db = app.db().await;
    let ada = insert_free_user(&db, "ada.lovelace@example.com", "Ada Lovelace").await;
    let other = insert_free_user(&db, "bob@example.com", "Bob").await;
    let client_ip = "198.51.100.77";
    let mut events = Vec::new();
    for user in [ada.id, other.id] {
        events.push(
            SecurityEvent::new(Kind::Login, Actor::User)
                .user(user)
                .session("0123456789abcdef")
                .client(
                    client_ip,
                    "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0",
                )
                .detail("provider", "google"),
        );
    }
    events::record(&db, &events).await.expect("events");
    sign_in_user(&app, &db, &ada).await;

    let id = ada.id.to_string();
    latchkey(&app.config.vars, &["users", "delete", &id, "--yes"])
        .await
        .ok();

    let left = events_of(&db, ada.id).await;
    assert_eq!(left.len(), 1, "{left:#?}");
    let deleted = &left[0];
    assert_eq!(deleted.kind, "account_deleted");
    assert_eq!(deleted.actor, "operator");
    assert_eq!(
        (&deleted.ip, &deleted.device, &deleted.session_id),
        (&None, &None, &None)
    );
    assert_eq!(deleted.details, None);
    let table = format!("{:?}", all_events(&db).await);
    for personal in ["ada.lovelace", "Lovelace"] {
        assert!(!table.contains(personal), "{personal}: {table}");
    }
    // Bob's events are his.
    assert_eq!(events_of(&db, other.id).await.len(), 1);
    assert_eq!(
        kinds(&audit(&app, &["--user", &id]).await),
        ["account_deleted"]
    );
}

#[tokio::test]
async fn events_past_the_retention_are_pruned() {
    // Three seconds of retention: the server prunes every second.
    let app = spawn_app_with(|c| c.set("LATCHKEY__AUDIT__RETENTION", "3s")).await;
    let db = app.db().await;
    let user = Uuid::new_v4();
    let mut old = SecurityEvent::new(Kind::Logout, Actor::User).user(user);
    old.at = Utc::now() - chrono::Duration::days(2);
    // Dated ahead, so that it is within the retention however slow this machine is.
    let mut kept = SecurityEvent::new(Kind::Login, Actor::User).user(user);
    kept.at = Utc::now() + chrono::Duration::hours(1);
    events::record(&db, &[old, kept]).await.expect("events");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<String> = events_of(&db, user)
            .await
            .into_iter()
            .map(|e| e.kind)
            .collect();
        if left == ["login"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Holds the database's write lock (SQLite) or a lock on the two tables (PostgreSQL), so
/// that the journal's writes fail or wait, until the transaction ends.
async fn lock_the_journal_tables(db: &DatabaseConnection) -> sea_orm::DatabaseTransaction {
    let txn = db.begin().await.expect("begin");
    match db.get_database_backend() {
        DbBackend::Postgres => {
            txn.execute_unprepared(
                "LOCK TABLE security_events, usage_events IN ACCESS EXCLUSIVE MODE",
            )
            .await
            .expect("lock");
        }
        _ => {
            // A write takes SQLite's one write lock until the transaction ends.
            events::record(
                &txn,
                &[SecurityEvent::new(Kind::AccountEnabled, Actor::System)],
            )
            .await
            .expect("a write");
        }
    }
    txn
}

/// `latchkey_journal_retries_total`, all records together, from `/metrics`.
async fn journal_retries(app: &TestApp) -> u64 {
    let text = crate::support::app::client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("latchkey_journal_retries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn multipart_png() -> (String, Vec<u8>) {
    let boundary = "latchkey-audit-boundary";
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(2048, 0x42);
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn records_made_while_the_database_does_not_take_them_reach_it_afterwards() {
    let openai = testkit::fakes::FakeOpenAi::start().await;
    openai.set_reply("字幕");
    let vars = openai.config_vars();
    let app = spawn_app_with(|mut c| {
        for (k, v) in &vars {
            c = c.set(k, v);
        }
        c
    })
    .await;
    let db = app.db().await;
    let ada = insert_free_user(&db, "ada@example.com", "Ada").await;
    let mut browsers = Vec::new();
    for _ in 0..3 {
        browsers.push(sign_in_user(&app, &db, &ada).await);
    }
    let locker = app.db().await;
    let lock = lock_the_journal_tables(&locker).await;

    // Requests answer meanwhile; their records wait.
    let (content_type, body) = multipart_png();
    for _ in 0..6 {
        let mut req = crate::support::app::client()
            .post(app.url("/api/openai/extract-subtitles"))
            .header("Content-Type", &content_type)
            .body(body.clone());
        if let Some(cookies) = browsers[0].cookie_header() {
            req = req.header("Cookie", cookies);
        }
        if let Some(origin) = &browsers[0].origin {
            req = req.header("Origin", origin);
        }
        let res = req.send().await.expect("the app answers");
        assert_eq!(res.status(), 200);
    }
    for browser in &mut browsers {
        assert_eq!(app.logout(browser).await.status(), 200);
    }
    // The database now fails the journal's writes: SQLite answers "database is locked" once
    // its busy timeout has passed; on PostgreSQL, where a write waits on the lock for ever,
    // the connections waiting on it are cut, as a database going away would.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while journal_retries(&app).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the journal never failed a write"
        );
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND wait_event_type = 'Lock'",
            )
            .await
            .expect("cut the waiting connections");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lock.rollback().await.expect("unlock");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let logouts = events_of(&db, ada.id)
            .await
            .into_iter()
            .filter(|e| e.kind == "logout")
            .count();
        let usage = usage_events::Entity::find()
            .count(&db)
            .await
            .expect("count");
        if logouts == 3 && usage == 6 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{logouts} of 3 logouts and {usage} of 6 usage records reached the database"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM: the server stops taking requests, then writes what its journal holds before the
/// process exits. The database is held until the listener has closed, so the sign-out's
/// event can only reach it through that last flush.
#[tokio::test]
async fn a_graceful_shutdown_writes_what_the_journal_holds() {
    use crate::support::browser::Browser;
    use crate::support::process::ServerProcess;
    use crate::support::users::profile;

    let app = spawn_app().await;
    let db = app.db().await;
    let mut vars = app.config.vars.clone();
    vars.insert("LATCHKEY__SERVER__DRAIN_DELAY".into(), "0s".into());
    let mut server = ServerProcess::start(&vars, None).await;
    let user = Uuid::new_v4();
    let mut browser = Browser::extension();
    app.sign_in(&mut browser, user, profile("Ada", "free"))
        .await;

    let locker = app.db().await;
    let lock = lock_the_journal_tables(&locker).await;
    let http = crate::support::app::client();
    let res = http
        .get(server.url("/auth/csrf-token"))
        .send()
        .await
        .expect("csrf");
    browser.absorb(res.headers());
    let csrf = json(res).await["csrf_token"]
        .as_str()
        .expect("csrf_token")
        .to_owned();
    let res = http
        .post(server.url("/auth/logout"))
        .header("Cookie", browser.cookie_header().expect("cookies"))
        .header("Origin", browser.origin.clone().expect("origin"))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 200);

    server.terminate();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while http.get(server.url("/healthz")).send().await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock.rollback().await.expect("unlock");
    let status = server
        .wait_exit(Duration::from_secs(60))
        .await
        .expect("the process exits");
    assert!(status.success(), "{status:?}");
    let kinds: Vec<String> = events_of(&db, user)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["logout"]);
}

/// `latchkey_journal_dropped_total{record}`, from `/metrics`.
async fn journal_dropped(app: &TestApp, record: &str) -> u64 {
    let text = crate::support::app::client()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series = format!("latchkey_journal_dropped_total{{record=\"{record}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Beyond `audit.queue` records waiting for the database, what comes is dropped and counted;
/// the requests answer all the same, and what was kept is written once the database is back.
#[tokio::test]
async fn records_beyond_the_bound_are_dropped_and_counted() {
    use crate::support::users::profile;
    let app = spawn_app_with(|c| c.set("LATCHKEY__AUDIT__QUEUE", "2")).await;
    let db = app.db().await;
    let user = Uuid::new_v4();
    let mut browsers = Vec::new();
    for _ in 0..10 {
        let mut b = crate::support::browser::Browser::extension();
        app.sign_in(&mut b, user, profile("Ada", "free")).await;
        browsers.push(b);
    }
    let locker = app.db().await;
    let lock = lock_the_journal_tables(&locker).await;
    for b in &mut browsers {
        assert_eq!(app.logout(b).await.status(), 200);
    }
    let dropped = journal_dropped(&app, "event").await;
    // One batch in the writer's hands, two in the queue: at least seven of ten dropped.
    assert!(dropped >= 7, "{dropped} dropped");
    lock.rollback().await.expect("unlock");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let kept = events_of(&db, user).await.len() as u64;
        if kept + dropped == 10 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kept} written and {dropped} dropped of 10"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
