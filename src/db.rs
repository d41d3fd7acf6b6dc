//! The SQL database: connecting, migrating, and retrying a transaction that lost a race.
//! Queries live with the module that owns their tables (`accounts` for users and profiles,
//! `billing` for subscriptions and Stripe events).

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use migration::{MigrationStatus, Migrator, MigratorTrait};
use sea_orm::sqlx::Error as SqlxError;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr, SqlErr};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

/// Connects, creating the directory of a SQLite file first so that the embedded default
/// (`sqlite://data/latchkey.db?mode=rwc`) works on a fresh checkout.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    open(settings, false).await
}

/// The same pool, opening its connections on first use: for `serve --no-migrate`, so that a
/// replica starts, and answers signed-in users from Redis, while the database is down
/// (docs/api.md, "Sessions"); `/readyz` names the database until it answers.
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
    match Database::connect(options).await {
        Ok(db) => Ok(db),
        Err(e) => {
            let why = why_unreachable(&e, url).await;
            Err(anyhow::anyhow!(
                "database.url: cannot connect to the database at {}: {why}",
                redacted_url(url)
            ))
        }
    }
}

/// Why the database did not take a connection, in words that say what to fix. It is built
/// from the error's kind and the server's SQLSTATE, never from the driver's own text, which
/// can echo the URL with its password.
async fn why_unreachable(e: &DbErr, url: &str) -> String {
    let sqlx = match e {
        DbErr::Conn(RuntimeErr::SqlxError(e)) => e.as_ref(),
        _ => return "the connection failed".to_owned(),
    };
    match sqlx {
        // SQLite's messages name no credential (it has none): "unable to open database file".
        SqlxError::Database(d) if url.starts_with("sqlite:") => {
            format!(
                "SQLite cannot open it ({}): check the path and its directory's permissions",
                d.message()
            )
        }
        SqlxError::Database(d) => match d.code().as_deref() {
            Some("3D000") => {
                "the database does not exist: create it, or correct its name in database.url"
                    .to_owned()
            }
            Some("28P01") => "authentication failed: wrong user name or password".to_owned(),
            Some("28000") => "authentication failed: the server does not accept this user \
                              from this host (no such role, or pg_hba.conf)"
                .to_owned(),
            Some("53300") => "the server has too many connections".to_owned(),
            Some("57P03") => "the server is starting up or shutting down".to_owned(),
            Some(code) => format!("the server refused the connection (SQLSTATE {code})"),
            None => "the database refused the connection".to_owned(),
        },
        SqlxError::Tls(_) => "TLS failed: check sslmode in database.url and the server's \
                              certificate"
            .to_owned(),
        SqlxError::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => refused(url),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => format!(
                "cannot open the file ({}): check the path and its directory's permissions",
                io.kind()
            ),
            // rustls reports a refused certificate or handshake this way.
            std::io::ErrorKind::InvalidData => format!(
                "TLS failed ({}): check sslmode in database.url and the server's certificate",
                io.get_ref()
                    .map_or_else(|| io.kind().to_string(), ToString::to_string)
            ),
            // An I/O error's text is the system's (never the URL): "failed to lookup address
            // information: Name or service not known".
            _ => format!("network error: {io}"),
        },
        SqlxError::Configuration(_) => "database.url is not a URL the driver accepts".to_owned(),
        // A refused connection is retried until the pool gives up, and then reads as a
        // timeout: ask the address once more to say which it was.
        SqlxError::PoolTimedOut => probe(url).await,
        _ => "the connection failed".to_owned(),
    }
}

fn refused(url: &str) -> String {
    match host_and_port(url) {
        Some((host, port)) => {
            format!("connection refused: nothing listens at {host}:{port} (is the server running?)")
        }
        None => "connection refused (is the server running?)".to_owned(),
    }
}

/// After a time-out: whether the server's address refuses, does not resolve, or is silent.
async fn probe(url: &str) -> String {
    let Some((host, port)) = host_and_port(url) else {
        return "no answer within 5 s".to_owned();
    };
    let attempt = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused(url),
        Ok(Err(_)) => format!("cannot reach {host}:{port} (unknown host or no route)"),
        Ok(Ok(_)) => {
            format!("{host}:{port} accepts connections but the database did not answer within 5 s")
        }
        Err(_) => {
            format!("no answer from {host}:{port} within 5 s (a firewall, or the wrong host)")
        }
    }
}

/// The host and port of a network database URL (PostgreSQL's default port when none).
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return None;
    }
    let host = parsed.host_str()?.to_owned();
    let port = parsed.port().unwrap_or(5432);
    Some((host, port))
}

/// `url` with its password shown as `REDACTED`.
fn redacted_url(url: &str) -> String {
    crate::config::redacted_url(url)
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
    /// Roll back the last applied migration (destroys what it created, data included).
    Down,
    /// Show which migrations are applied.
    Status,
    /// Drop every table and apply all migrations again (destroys data).
    Fresh,
}

/// What a `latchkey migrate` action did, or found, for the command line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// Every migration, oldest first, and whether it is applied.
    Status(Vec<(String, bool)>),
    /// The migrations this run applied, oldest first (none: the database was up to date).
    Applied(Vec<String>),
    /// The migration this run rolled back (none: no migration was applied).
    RolledBack(Option<String>),
    /// Every table was dropped and this many migrations applied.
    Recreated(usize),
}

pub async fn migrate(db: &DatabaseConnection, action: MigrateAction) -> anyhow::Result<Migrated> {
    run_migrations(db, action).await.context("migration failed")
}

async fn run_migrations(db: &DatabaseConnection, action: MigrateAction) -> Result<Migrated, DbErr> {
    Ok(match action {
        MigrateAction::Status => Migrated::Status(
            Migrator::get_migration_with_status(db)
                .await?
                .iter()
                .map(|m| (m.name().to_owned(), m.status() == MigrationStatus::Applied))
                .collect(),
        ),
        // What changed is read from the migrations table before and after, so that the summary
        // says what this run did even if another migrator ran at the same time.
        MigrateAction::Up => {
            let before = applied(db).await?;
            Migrator::up(db, None).await?;
            Migrated::Applied(
                applied(db)
                    .await?
                    .into_iter()
                    .filter(|name| !before.contains(name))
                    .collect(),
            )
        }
        MigrateAction::Down => {
            let before = applied(db).await?;
            Migrator::down(db, Some(1)).await?;
            let after = applied(db).await?;
            Migrated::RolledBack(before.into_iter().rev().find(|name| !after.contains(name)))
        }
        MigrateAction::Fresh => {
            Migrator::fresh(db).await?;
            Migrated::Recreated(applied(db).await?.len())
        }
    })
}

/// The names of the applied migrations, oldest first.
async fn applied(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_applied_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

/// How many times [`retry_on_conflict`] runs a transaction again after a lost race.
const RETRIES: u64 = 5;

/// An error that may be a lost race between two writers (see [`is_conflict`]).
pub trait SqlFailure {
    /// The database's error, if this is one.
    fn db_err(&self) -> Option<&DbErr>;
}

impl SqlFailure for DbErr {
    fn db_err(&self) -> Option<&DbErr> {
        Some(self)
    }
}

/// Runs `transaction` again, up to five more times with a short growing pause, while it
/// fails with a lost race ([`is_conflict`]). The transaction must roll back on failure (a
/// `DatabaseTransaction` dropped uncommitted does), so each attempt starts from what is
/// committed and sees the winner's rows: the identity another login just created, the
/// event another delivery just recorded.
pub async fn retry_on_conflict<T, E, F, Fut>(mut transaction: F) -> Result<T, E>
where
    E: SqlFailure,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match transaction().await {
            Err(e) if attempt < RETRIES && e.db_err().is_some_and(is_conflict) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Two writers met: a unique key raced, SQLite refused a second writer, or PostgreSQL
/// detected a deadlock or could not serialise the transaction and asks for a retry.
pub fn is_conflict(e: &DbErr) -> bool {
    if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    let text = e.to_string();
    [
        "database is locked",
        "deadlock detected",
        "could not serialize access",
    ]
    .iter()
    .any(|m| text.contains(m))
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;

    /// A caller's error: a database failure, or a refusal of its own.
    #[derive(Debug)]
    enum AccountError {
        Db(DbErr),
        Disabled,
    }

    impl SqlFailure for AccountError {
        fn db_err(&self) -> Option<&DbErr> {
            match self {
                Self::Db(e) => Some(e),
                Self::Disabled => None,
            }
        }
    }

    /// Runs a transaction that fails with `failures` in turn, then succeeds; how many attempts
    /// it took, or the error it ended with.
    async fn attempts(failures: Vec<AccountError>) -> Result<usize, AccountError> {
        let calls = Cell::new(0);
        let failures = RefCell::new(failures.into_iter());
        retry_on_conflict(|| {
            calls.set(calls.get() + 1);
            let next = failures.borrow_mut().next();
            async move { next.map_or(Ok(()), Err) }
        })
        .await
        .map(|()| calls.get())
    }

    fn db(text: &str) -> AccountError {
        AccountError::Db(DbErr::Custom(text.to_owned()))
    }

    #[tokio::test]
    async fn a_lost_race_of_any_database_is_run_again() {
        let races = vec![
            db("database is locked"),
            db("could not serialize access due to concurrent update"),
            db("deadlock detected"),
        ];
        assert_eq!(attempts(races).await.ok(), Some(4));
    }

    #[tokio::test]
    async fn other_failures_are_not_run_again() {
        let refused = attempts(vec![AccountError::Disabled]).await;
        assert!(matches!(refused, Err(AccountError::Disabled)));
        let broken = attempts(vec![db("no such table: users")]).await;
        assert!(matches!(broken, Err(AccountError::Db(_))));
    }

    #[tokio::test]
    async fn a_race_lost_six_times_is_given_up() {
        let races = (0..6).map(|_| db("database is locked")).collect();
        assert!(matches!(attempts(races).await, Err(AccountError::Db(_))));
    }
}
