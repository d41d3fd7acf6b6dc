//! What the command line prints, for a person and for a program: tables that fit the
//! terminal and are plain when piped, one JSON document for `--json` on every command, the
//! list filters, one time format, and clap's "did you mean".

use latchkey::session::{ClientInfo, Transport};
use unicode_width::UnicodeWidthStr;

use crate::support::app::{spawn_app, TestApp};
use crate::support::process::{latchkey, latchkey_on_terminal, Run};
use crate::support::users::{insert_free_user, profile};

const LONG_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, \
                          like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86";
const EMAIL: &str = "grace.brewster.hopper@navy.example.com";

/// The app with one user who has two sessions, one from a browser with a long user agent.
async fn app_with_sessions() -> TestApp {
    let app = spawn_app().await;
    let db = app.db().await;
    let user = insert_free_user(&db, EMAIL, "Grace Brewster Murray Hopper").await;
    for (agent, transport) in [
        (LONG_AGENT, Transport::Cookie),
        ("curl/8.5.0", Transport::Bearer),
    ] {
        let client = ClientInfo {
            user_agent: agent.into(),
            ip: "203.0.113.7".into(),
        };
        app.sessions
            .start(user.id, profile("Grace", "free"), &client, transport)
            .await
            .expect("a session starts");
    }
    app
}

/// Box drawing: U+2500–U+257F.
fn has_box_drawing(text: &str) -> bool {
    text.chars().any(|c| ('\u{2500}'..='\u{257f}').contains(&c))
}

/// A command's output on a terminal `width` columns wide (`COLUMNS`).
async fn on_terminal(app: &TestApp, width: usize, args: &[&str]) -> String {
    let mut vars = app.config.vars.clone();
    vars.insert("COLUMNS".into(), width.to_string());
    let run = latchkey_on_terminal(&vars, args, "").await;
    assert_eq!(run.code, 0, "{run:?}");
    run.stdout.replace("\r\n", "\n")
}

#[tokio::test]
async fn tables_fit_80_and_200_columns_and_are_plain_when_piped() {
    let app = app_with_sessions().await;
    for args in [
        &["sessions", "list"][..],
        &["users", "list"][..],
        &["users", "show", EMAIL][..],
    ] {
        for width in [80, 200] {
            let text = on_terminal(&app, width, args).await;
            assert!(text.contains(EMAIL), "{args:?} at {width}:\n{text}");
            for line in text.lines() {
                assert!(
                    line.width() <= width,
                    "{args:?}: a line of {} columns on a terminal of {width}:\n{line}\n{text}",
                    line.width()
                );
            }
        }
        // Piped: every value whole, no rule and no box drawing.
        let run = latchkey(&app.config.vars, args).await;
        let text = run.ok();
        assert!(!has_box_drawing(text), "{args:?}:\n{text}");
        assert!(!text.contains('…'), "{args:?}:\n{text}");
        assert!(text.contains(EMAIL), "{args:?}:\n{text}");
    }

    // Sessions: the table names the device read from the user agent (the whole user agent is
    // in --json); at 80 columns some columns give way, and a line says which.
    let wide = on_terminal(&app, 200, &["sessions", "list"]).await;
    assert!(wide.contains("EXPIRES"), "{wide}");
    assert!(wide.contains("DEVICE"), "{wide}");
    assert!(!wide.contains("Mozilla/5.0"), "{wide}");
    let narrow = on_terminal(&app, 80, &["sessions", "list"]).await;
    assert!(narrow.contains("hidden to fit 80 columns"), "{narrow}");
    assert!(narrow.contains("LAST SEEN"), "{narrow}");
    let piped = latchkey(&app.config.vars, &["sessions", "list"]).await;
    assert!(!has_box_drawing(piped.ok()), "{piped:?}");
    let json = latchkey(&app.config.vars, &["sessions", "list", "--json"]).await;
    assert!(json.ok().contains(LONG_AGENT), "{json:?}");
    assert!(piped.ok().ends_with("2 session(s)\n"), "{piped:?}");
}

/// Asserts `run` printed one JSON document, and returns it.
#[track_caller]
fn document(run: &Run) -> serde_json::Value {
    let doc = run.json();
    assert!(doc.is_object(), "{run:?}");
    doc
}

#[tokio::test]
async fn every_command_prints_one_json_document_with_json() {
    let app = app_with_sessions().await;
    let vars = &app.config.vars;
    let ok = |args: &'static [&'static str]| async move { document(&latchkey(vars, args).await) };

    let listed = ok(&["sessions", "list", "--json"]).await;
    assert_eq!(listed["count"], 2, "{listed}");
    let id = listed["sessions"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(ok(&["users", "list", "--json"]).await["count"], 1);
    assert_eq!(
        ok(&["users", "show", EMAIL, "--json"]).await["user"]["email"],
        EMAIL
    );
    let set = ok(&["plan", "set", EMAIL, "pro", "--json"]).await;
    assert_eq!(set["plan"], "pro", "{set}");
    assert_eq!(set["effective_plan"], "pro", "{set}");
    assert_eq!(set["live_sessions_updated"], true, "{set}");

    let revoked = document(&latchkey(vars, &["sessions", "revoke", &id, "--json"]).await);
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    let disabled = ok(&["users", "disable", EMAIL, "--json"]).await;
    assert_eq!(disabled["user"]["email"], EMAIL, "{disabled}");
    assert_eq!(disabled["revoked"], 1, "{disabled}");
    assert_eq!(disabled["already"], false, "{disabled}");
    let enabled = ok(&["users", "enable", EMAIL, "--json"]).await;
    assert_eq!(enabled["was_disabled"], true, "{enabled}");

    let status = ok(&["migrate", "status", "--json"]).await;
    let migrations = status["migrations"].as_array().expect("migrations");
    assert!(!migrations.is_empty());
    assert!(migrations.iter().all(|m| m["applied"] == true), "{status}");
    assert_eq!(
        ok(&["migrate", "up", "--json"]).await["applied"],
        serde_json::json!([])
    );

    let check = ok(&["config", "check", "--json"]).await;
    assert_eq!(check["redis"]["status"], "answers", "{check}");
    assert_eq!(check["database"]["status"], "answers", "{check}");
    assert_eq!(check["settings"]["environment"], "test", "{check}");
    assert_eq!(check["settings"]["server.port"], 0, "{check}");
    assert_eq!(
        check["settings"]["login.success_redirect"],
        serde_json::Value::Null
    );

    let deleted = ok(&["users", "delete", EMAIL, "--yes", "--json"]).await;
    assert_eq!(deleted["identities"], 0, "{deleted}");
    assert_eq!(deleted["leftovers_only"], false, "{deleted}");

    // Nothing matched: the count as JSON still, then exit 1 with one line on stderr.
    let none = latchkey(vars, &["sessions", "revoke", "--all", "--json"]).await;
    assert!(none.fails(1).contains("no live session"), "{none:?}");
    let doc: serde_json::Value = serde_json::from_str(&none.stdout).expect("JSON");
    assert_eq!(doc["revoked"], 0);
}

#[tokio::test]
async fn list_commands_filter_limit_and_write_times_to_the_second() {
    let app = app_with_sessions().await;
    let vars = &app.config.vars;
    let db = app.db().await;
    insert_free_user(&db, "ada@example.com", "Ada").await;
    let run = latchkey(vars, &["plan", "set", "ada@example.com", "pro"]).await;
    run.ok();

    let pro = latchkey(vars, &["users", "list", "--plan", "pro", "--json"])
        .await
        .json();
    assert_eq!(pro["count"], 1, "{pro}");
    assert_eq!(pro["users"][0]["email"], "ada@example.com");
    let one = latchkey(vars, &["users", "list", "--limit", "1", "--json"])
        .await
        .json();
    assert_eq!(one["count"], 1, "{one}");
    let table = latchkey(vars, &["users", "list", "--plan", "pro"]).await;
    assert!(table.ok().contains("ada@example.com"), "{table:?}");
    assert!(!table.ok().contains(EMAIL), "{table:?}");

    let recent = latchkey(vars, &["sessions", "list", "--since", "1h", "--json"])
        .await
        .json();
    assert_eq!(recent["count"], 2, "{recent}");
    let later = latchkey(
        vars,
        &[
            "sessions",
            "list",
            "--since",
            "2999-01-01T00:00:00Z",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(later["count"], 0, "{later}");
    let limited = latchkey(vars, &["sessions", "list", "--limit", "1", "--json"])
        .await
        .json();
    assert_eq!(limited["count"], 1, "{limited}");
    let bad = latchkey(vars, &["sessions", "list", "--since", "yesterday-ish"]).await;
    assert!(bad.fails(2).contains("--since"), "{bad:?}");

    // One time format: RFC 3339, UTC, to the second, in JSON as in tables.
    let is_second = |t: &serde_json::Value| {
        t.as_str().is_some_and(|t| {
            t.len() == 20 && t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok()
        })
    };
    let session = &recent["sessions"][0];
    for key in ["created_at", "last_seen_at", "expires_at"] {
        assert!(is_second(&session[key]), "{key}: {session}");
    }
    let user = &one["users"][0];
    assert!(is_second(&user["created_at"]), "{user}");
}

#[tokio::test]
async fn a_misspelt_command_or_flag_is_told_what_was_meant() {
    let app = spawn_app().await;
    let run = latchkey(&app.config.vars, &["sesions", "list"]).await;
    let line = run.fails(2);
    assert!(
        line.contains("similar subcommand exists: 'sessions'"),
        "{line}"
    );
    let run = latchkey(&app.config.vars, &["users", "list", "--jsn"]).await;
    let line = run.fails(2);
    assert!(line.contains("similar argument exists: '--json'"), "{line}");
}
