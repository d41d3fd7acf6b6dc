//! The `latchkey` command line (docs/operations.md): the grammar in [`args`] (its `///` docs are the
//! `--help` text), the exit policy in [`Failure`], what is printed in `output`, and one
//! module per command group, each a few small functions. The operator commands (`sessions`,
//! `users`, `plan`) call [`crate::admin`] and print its results; they load the configuration
//! exactly as `serve` does and talk to Redis and the database directly, so they work while no
//! server runs.

use sea_orm::DatabaseConnection;

use crate::config::{Settings, Sources, StoreKind};
use crate::session::{RedisLayout, Sessions};
use crate::{db, startup, telemetry};

mod args;
mod audit;
mod config;
mod confirm;
mod failure;
mod migrate;
mod output;
mod plan;
mod serve;
mod sessions;
mod table;
mod users;

pub use args::{
    Cli, Command, ConfigCommand, JsonFlag, Limit, PlanCommand, Revocation, SessionsCommand,
    UsersCommand,
};
pub use failure::Failure;
pub use output::printable;

/// Runs the parsed command line: loads the configuration, starts the log, and dispatches.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let settings = Settings::load(&Sources::from_process(cli.config.clone()))
        .map_err(|e| Failure::Usage(e.into()))?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve {
            no_migrate,
            dev_store,
        } => serve::run(settings, no_migrate, dev_store).await,
        Command::Migrate {
            action,
            yes,
            output,
        } => migrate::run(&settings, action, yes, output.json).await,
        Command::Sessions { command } => {
            sessions::run(&Ops::connect(&settings).await?, command).await
        }
        Command::Users { command } => users::run(&Ops::connect(&settings).await?, command).await,
        Command::Plan { command } => plan::run(&Ops::connect(&settings).await?, command).await,
        Command::Audit {
            user,
            since,
            kind,
            limit,
            output,
        } => {
            let ops = Ops::connect(&settings).await?;
            let filter = audit::Filter {
                user,
                since,
                kind,
                limit,
            };
            audit::run(&ops, filter, output.json).await
        }
        Command::Config {
            command: ConfigCommand::Check { output },
        } => config::check(&settings, output.json).await,
    }
}

/// What the operator commands work with: the database and the session store of the
/// configuration, as the server would open them.
pub(super) struct Ops {
    pub(super) db: DatabaseConnection,
    pub(super) sessions: Sessions,
    /// What the Redis store writes (`redis.layout`).
    pub(super) layout: RedisLayout,
}

impl Ops {
    async fn connect(settings: &Settings) -> Result<Self, Failure> {
        if settings.session.store == StoreKind::Memory {
            return Err(Failure::Usage(anyhow::anyhow!(
                "session.store: `memory` keeps sessions inside the server process, where this \
                 command cannot reach them; point session.store and redis.url at the servers' Redis"
            )));
        }
        let db = db::connect(&settings.database)
            .await
            .map_err(Failure::Usage)?;
        let sessions = startup::build_sessions(settings).map_err(Failure::Usage)?;
        Ok(Self {
            db,
            sessions,
            layout: settings.redis.layout,
        })
    }
}
