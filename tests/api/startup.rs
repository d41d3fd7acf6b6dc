//! What start-up tells: one summary line of what is on, and, when the database cannot be
//! reached, why, without its password.

use std::collections::BTreeMap;

use crate::support::config::{TestConfig, TestDb};
use crate::support::process::{free_port, latchkey, ServerProcess};

/// The `latchkey is listening` line of a server started with `vars`, and the whole log.
async fn summary_line(vars: &BTreeMap<String, String>) -> (String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("latchkey.log");
    let mut vars = vars.clone();
    vars.insert("LATCHKEY__LOG__LEVEL".into(), "info".into());
    let mut process = ServerProcess::start(&vars, Some(&log)).await;
    process.stop();
    let text = std::fs::read_to_string(&log).expect("the log");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("latchkey is listening"))
        .collect();
    assert_eq!(lines.len(), 1, "one summary line:\n{text}");
    (lines[0].to_owned(), text.clone())
}

#[tokio::test]
async fn the_startup_summary_names_what_is_on() {
    let db = TestDb::new().await;
    let vars = TestConfig::new(&db)
        .set("LATCHKEY__PROVIDERS__GOOGLE__CLIENT_ID", "google-client-id")
        .set(
            "LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRET",
            "planted-google-secret-7f3a",
        )
        .set("LATCHKEY__VISION__API_KEY", "sk-planted-vision-key-91be")
        .set(
            "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
            "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/",
        )
        .set(
            "LATCHKEY__DATABASE__URL",
            "postgres://latchkey:planted-db-secret-5c2e@127.0.0.1:1/latchkey",
        )
        .vars;
    let (line, log) = summary_line(&vars).await;
    assert!(!log.contains("nobody can sign in"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal"
    );
    for expected in [
        "environment=test",
        "public_url=http://localhost:8080/",
        "store=redis redis://127.0.0.1",
        "database=postgres://latchkey:REDACTED@127.0.0.1:1/latchkey",
        "providers=github off (no client_id), google on",
        "allowed_origins=chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        "redirect_uris=https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/, \
         http://localhost:8080/auth/complete",
        "vision=on (gpt-4o-mini at https://api.openai.com/v1",
        "webhook=off (billing.stripe_webhook_secret unset)",
    ] {
        assert!(line.contains(expected), "{expected:?} in:\n{line}");
    }
    for secret in [
        "planted-google-secret-7f3a",
        "sk-planted-vision-key-91be",
        "planted-db-secret-5c2e",
    ] {
        assert!(!line.contains(secret), "a secret in the summary: {line}");
    }

    // The other way round: no provider (nobody can sign in), no vision, a webhook.
    let db = TestDb::new().await;
    let vars = TestConfig::new(&db)
        .set("LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET", "whsec_planted")
        .vars;
    let (line, log) = summary_line(&vars).await;
    assert!(
        log.contains("no sign-in provider is on, so nobody can sign in"),
        "{log}"
    );
    assert!(log.contains("make demo"), "{log}");
    for expected in [
        "providers=github off (no client_id), google off (no client_id)",
        "vision=off (vision.api_key unset)",
        "webhook=on (POST /webhooks/stripe)",
    ] {
        assert!(line.contains(expected), "{expected:?} in:\n{line}");
    }
    assert!(!line.contains("whsec_planted"), "{line}");
}

/// `latchkey migrate status` against `url`: its one error line.
async fn migrate_error(url: &str) -> String {
    let db = TestDb::new().await;
    let vars = TestConfig::new(&db)
        .set("LATCHKEY__DATABASE__URL", url)
        .vars;
    let run = latchkey(&vars, &["migrate", "status"]).await;
    run.fails(2).to_owned()
}

/// The PostgreSQL server of the tests: the one `LATCHKEY__DATABASE__URL` names, else the
/// machine's own (the project's test machines run one on 127.0.0.1:5432).
fn postgres_server() -> url::Url {
    let url = std::env::var("LATCHKEY__DATABASE__URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    url::Url::parse(&url).expect("a PostgreSQL URL")
}

#[tokio::test]
async fn an_unreachable_database_says_why_without_its_password() {
    // Nothing listens there.
    let port = free_port();
    let error = migrate_error(&format!(
        "postgres://latchkey:planted-db-secret-a41f@127.0.0.1:{port}/latchkey"
    ))
    .await;
    assert!(error.contains("connection refused"), "{error}");
    assert!(
        error.contains(&format!(
            "postgres://latchkey:REDACTED@127.0.0.1:{port}/latchkey"
        )),
        "{error}"
    );
    assert!(!error.contains("planted-db-secret-a41f"), "{error}");

    let server = postgres_server();
    // The server answers, the database does not exist.
    let mut missing = server.clone();
    missing.set_path("latchkey_no_such_database_3b9d");
    let _ = missing.set_password(Some("planted-db-secret-77c0"));
    let error = migrate_error(missing.as_str()).await;
    assert!(error.contains("the database does not exist"), "{error}");
    assert!(!error.contains("planted-db-secret-77c0"), "{error}");

    // A user the server does not know.
    let mut stranger = server.clone();
    let _ = stranger.set_username("latchkey_no_such_role_3b9d");
    let _ = stranger.set_password(Some("planted-db-secret-08aa"));
    let error = migrate_error(stranger.as_str()).await;
    assert!(error.contains("authentication failed"), "{error}");
    assert!(!error.contains("planted-db-secret-08aa"), "{error}");

    // TLS that does not verify (the server has no certificate from a public authority, or
    // no TLS at all).
    let mut tls = server.clone();
    tls.set_query(Some("sslmode=verify-full"));
    let error = migrate_error(tls.as_str()).await;
    assert!(error.contains("TLS failed"), "{error}");

    // `config check` says the same.
    let db = TestDb::new().await;
    let vars = TestConfig::new(&db)
        .set("LATCHKEY__DATABASE__URL", missing.as_str())
        .vars;
    let run = latchkey(&vars, &["config", "check"]).await;
    let error = run.fails(2);
    assert!(error.contains("the database does not exist"), "{error}");
    assert!(!run.stdout.contains("planted-db-secret-77c0"), "{run:?}");
}
