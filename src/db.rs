//! The SQL database: connecting and migrating. Queries live with the feature that owns them.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

/// Connects, creating the directory of a SQLite file first so that the embedded default
/// (`sqlite://data/latchkey.db?mode=rwc`) works on a fresh checkout.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    open(settings, false).await
}

/// The same pool, opening its connections on first use: for `serve --no-migrate`, so that a
/// replica starts, and answers signed-in users from Redis, while the database is down
/// (contract §4); `/readyz` names the database until it answers.
pub async fn connect_lazily(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    open(settings, true).await
}

async fn open(settings: &DatabaseSettings, lazy: bool) -> anyhow::Result<DatabaseConnection> {
    let url = settings.url.expose_secret();
    ensure_sqlite_dir(url)?;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(lazy)
        .sqlx_logging(false);
    // The error is not shown: sqlx can echo the URL, password included.
    Database::connect(options)
        .await
        .map_err(|_| anyhow::anyhow!("database.url: cannot connect to the database"))
}

fn ensure_sqlite_dir(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("database.url: cannot create {}", dir.display()))?;
        }
    }
    Ok(())
}

/// The `latchkey migrate` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum MigrateAction {
    /// Apply every pending migration.
    #[default]
    Up,
    /// Roll back the last applied migration.
    Down,
    /// Show which migrations are applied.
    Status,
    /// Drop every table and apply all migrations again (destroys data).
    Fresh,
}

pub async fn migrate(db: &DatabaseConnection, action: MigrateAction) -> anyhow::Result<()> {
    match action {
        MigrateAction::Up => Migrator::up(db, None).await,
        MigrateAction::Down => Migrator::down(db, Some(1)).await,
        MigrateAction::Status => Migrator::status(db).await,
        MigrateAction::Fresh => Migrator::fresh(db).await,
    }
    .context("migration failed")
}
