//! `latchkey migrate`.

use std::io::{self, Write};

use super::confirm::{confirm, Consent};
use super::output::{finish, plural, print_json};
use super::Failure;
use crate::config::{Environment, Settings};
use crate::db::{self, MigrateAction, Migrated};

pub(super) async fn run(
    settings: &Settings,
    action: MigrateAction,
    yes: bool,
    json: bool,
) -> Result<(), Failure> {
    if let Some(what) = destroys(action) {
        let consent = if settings.environment == Environment::Production {
            Consent::YesOnly(" (always, with LATCHKEY_ENV=production)")
        } else {
            Consent::AskElseRefuse
        };
        confirm(yes, what, "the database was not changed", consent)?;
    }
    let conn = db::connect(&settings.database)
        .await
        .map_err(Failure::Usage)?;
    let done = db::migrate(&conn, action).await.map_err(Failure::Domain)?;
    if json {
        return print_json(&migrated_json(&done));
    }
    finish(print_migrated(io::stdout().lock(), &done))
}

/// What `migrate --json` prints: `{"migrations":[{"name","applied"}]}` for `status`, else
/// what the action changed.
fn migrated_json(done: &Migrated) -> serde_json::Value {
    use serde_json::json;
    match done {
        Migrated::Status(all) => json!({
            "migrations": all
                .iter()
                .map(|(name, applied)| json!({ "name": name, "applied": applied }))
                .collect::<Vec<_>>(),
        }),
        Migrated::Applied(names) => json!({ "applied": names }),
        Migrated::RolledBack(name) => json!({ "rolled_back": name }),
        Migrated::Recreated(count) => json!({ "recreated": true, "applied": count }),
    }
}

/// What a migrate action destroys, for its confirmation; `None` for those that keep all data.
fn destroys(action: MigrateAction) -> Option<&'static str> {
    match action {
        MigrateAction::Up | MigrateAction::Status => None,
        MigrateAction::Down => Some(
            "`migrate down` rolls back the latest migration, dropping what it created and the \
             data in it",
        ),
        MigrateAction::Fresh => Some(
            "`migrate fresh` drops every table of the database and all their data, then applies \
             every migration",
        ),
    }
}

/// What `migrate` did, on stdout whatever the log level: one line per migration for `status`
/// (`<name>  applied|pending`), one summary line for the others.
fn print_migrated(mut out: impl Write, done: &Migrated) -> io::Result<()> {
    match done {
        Migrated::Status(all) => {
            let width = all.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            for (name, applied) in all {
                let status = if *applied { "applied" } else { "pending" };
                writeln!(out, "{name:<width$}  {status}")?;
            }
            Ok(())
        }
        Migrated::Applied(names) if names.is_empty() => {
            writeln!(out, "applied 0 migration(s): the database is up to date")
        }
        Migrated::Applied(names) => writeln!(
            out,
            "applied {}: {}",
            plural(names.len() as u64, "migration"),
            names.join(", ")
        ),
        Migrated::RolledBack(Some(name)) => writeln!(out, "rolled back {name}"),
        Migrated::RolledBack(None) => {
            writeln!(out, "rolled back nothing: no migration is applied")
        }
        Migrated::Recreated(count) => writeln!(
            out,
            "database recreated, {} applied",
            plural(*count as u64, "migration")
        ),
    }
}
