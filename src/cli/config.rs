//! `latchkey config check`.

use std::io::{self, Write};

use super::failure::one_line;
use super::output::{finish, print_json};
use super::Failure;
use crate::config::{Settings, StoreKind};
use crate::{db, startup};

/// What `config check` found for one dependency.
enum Check {
    Answers,
    NotUsed(&'static str),
    Fails(String),
}

/// `config check`: by the time it runs the configuration has loaded and validated as for
/// `serve` (an invalid one never gets here: one line, exit 2). It prints the effective
/// settings with every secret redacted, then whether Redis and the database answer.
pub(super) async fn check(settings: &Settings, json: bool) -> Result<(), Failure> {
    let listing = settings
        .redacted_listing()
        .map_err(|e| Failure::Usage(e.into()))?;
    if !json {
        finish((|| {
            let mut out = io::stdout().lock();
            for (key, value) in &listing {
                writeln!(out, "{key} = {value}")?;
            }
            writeln!(out)?;
            out.flush()
        })())?;
    }
    let (redis, database) = tokio::join!(check_redis(settings), check_database(settings));
    let redis_key = if settings.redis.is_cluster() {
        "redis.cluster_nodes"
    } else {
        "redis.url"
    };
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    let mut answers = serde_json::Map::new();
    for (name, what, key, check) in [
        ("redis", "Redis", redis_key, redis),
        ("database", "the database", "database.url", database),
    ] {
        let (line, state) = match check {
            Check::Answers => (
                format!("{name}: answers"),
                serde_json::json!({"status": "answers"}),
            ),
            Check::NotUsed(why) => (
                format!("{name}: not used ({why})"),
                serde_json::json!({"status": "not_used", "reason": why}),
            ),
            Check::Fails(reason) => {
                // The database's own errors already start with the key.
                let reason = reason.strip_prefix(&format!("{key}: ")).unwrap_or(&reason);
                failures.push(format!("{key}: {what} does not answer ({reason})"));
                (
                    format!("{name}: does not answer ({reason})"),
                    serde_json::json!({"status": "fails", "reason": reason}),
                )
            }
        };
        lines.push(line);
        answers.insert(name.to_owned(), state);
    }
    if json {
        // The listing's values are JSON text, but for `unset`, which is null here.
        let settings: serde_json::Map<String, serde_json::Value> = listing
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    serde_json::from_str(&v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        answers.insert("settings".to_owned(), serde_json::Value::Object(settings));
        print_json(&answers)?;
    } else {
        for line in lines {
            finish(writeln!(io::stdout().lock(), "{line}"))?;
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::Usage(anyhow::anyhow!(failures.join("; "))))
    }
}

/// Redis answers a PING (a cluster: `CLUSTER INFO` says it is ok), within `redis.timeout`,
/// as `/readyz` asks it.
async fn check_redis(settings: &Settings) -> Check {
    if settings.session.store == StoreKind::Memory {
        return Check::NotUsed("session.store is memory");
    }
    let result = match startup::build_sessions(settings) {
        Ok(sessions) => sessions.ping().await.map_err(anyhow::Error::new),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Check::Answers,
        Err(e) => Check::Fails(settings.redact_text(&one_line(&e))),
    }
}

/// The database accepts a connection and answers a ping, as `serve` would connect to it.
async fn check_database(settings: &Settings) -> Check {
    const BOUND: std::time::Duration = std::time::Duration::from_secs(15);
    let attempt = async {
        let conn = db::connect(&settings.database).await?;
        conn.ping().await?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(BOUND, attempt).await {
        Ok(Ok(())) => Check::Answers,
        Ok(Err(e)) => Check::Fails(settings.redact_text(&one_line(&e))),
        Err(_) => Check::Fails(format!("no answer within {}s", BOUND.as_secs())),
    }
}
