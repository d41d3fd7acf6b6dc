//! The `latchkey` command line (contract §1). Each subcommand is a small function; the
//! `///` docs are the `--help` text.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Settings, Sources};
use crate::db::{self, MigrateAction};
use crate::startup::{Application, Options};
use crate::{dev, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Login and session server for browser extensions"
)]
pub struct Cli {
    /// A TOML file layered over config/default.toml and config/<LATCHKEY_ENV>.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server, applying pending migrations first.
    ///
    /// Example: LATCHKEY_ENV=production latchkey serve
    Serve {
        /// Do not apply pending migrations (when a separate job runs `latchkey migrate`).
        #[arg(long)]
        no_migrate: bool,
        /// Development only: use the Redis at redis.url if it answers, else start a
        /// redis-server under data/, else the memory store (what `make run` uses).
        #[arg(long)]
        dev_store: bool,
    },
    /// Apply, roll back or inspect database migrations.
    ///
    /// Example: latchkey migrate status
    Migrate {
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
    },
}

/// Exit status of contract §1: 0 done, 1 nothing matched or a domain error, 2 bad usage or
/// configuration.
pub enum Failure {
    Domain(anyhow::Error),
    Usage(anyhow::Error),
}

impl Failure {
    pub fn exit(self) -> ExitCode {
        let (error, code) = match self {
            Self::Domain(e) => (e, 1),
            Self::Usage(e) => (e, 2),
        };
        eprintln!("error: {}", one_line(&error));
        ExitCode::from(code)
    }
}

fn one_line(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let mut settings = Settings::load(&Sources::from_process(cli.config.clone()))
        .map_err(|e| Failure::Usage(e.into()))?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve {
            no_migrate,
            dev_store,
        } => {
            let _dev_redis = if dev_store {
                Some(dev::choose_store(&mut settings).await)
            } else {
                None
            };
            serve(settings, !no_migrate).await
        }
        Command::Migrate { action } => migrate(&settings, action).await,
    }
}

async fn serve(settings: Settings, migrate: bool) -> Result<(), Failure> {
    let app = Application::build(settings, Options { migrate })
        .await
        .map_err(Failure::Usage)?;
    tracing::info!(port = app.port(), "latchkey is listening");
    app.run_until_stopped()
        .await
        .map_err(|e| Failure::Domain(e.into()))
}

async fn migrate(settings: &Settings, action: MigrateAction) -> Result<(), Failure> {
    let conn = db::connect(&settings.database)
        .await
        .map_err(Failure::Usage)?;
    db::migrate(&conn, action).await.map_err(Failure::Domain)
}
