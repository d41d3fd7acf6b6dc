//! The operator's service behind `latchkey sessions|users|plan` (docs/operations.md): finding users,
//! listing and revoking sessions, changing plans, disabling and erasing users.
//!
//! Everything here takes the database and the session store directly, so it works from any
//! pod and while no HTTP server runs. The command line (`cli/`) only parses, calls one of
//! these functions and prints the result. This module orchestrates: its SQL is in
//! [`crate::accounts`], its Redis in [`crate::session`].
//!
//! Order of writes: the database first (the durable record, and what refuses new logins),
//! then Redis (what live sessions read), so that a failure half-way leaves the database right
//! and running the command again finishes the job. Erasure is the one exception: its
//! database write removes the user that a rerun would look up, so [`delete_user`] ends
//! everything in Redis before the rows go (see there).

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use uuid::Uuid;

use crate::accounts::events::SecurityEvent;
use crate::session::StoreError;

mod audit;
mod plans;
mod seconds;
mod sessions;
mod users;

pub use audit::{security_events, AuditQuery, EventKind, EventRow};
pub use plans::{set_plan, PlanChange};
pub use sessions::{
    parse_session_id, reindex, revoke_all, revoke_session, revoke_user, user_sessions, SessionRow,
    SessionWalk,
};
pub use users::{
    delete_user, disable_user, enable_user, erase_leftovers, find_owner, find_user, show_user,
    Deleted, Disabled, IdentityView, Owner, SubscriptionView, UserDetail, UserPages, UserSummary,
};

/// How many per-user store calls run at once (session counts, revocations).
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user {0}")]
    UnknownUser(String),
    #[error("{count} users have the email {email}; name one by id: {ids}")]
    AmbiguousUser {
        email: String,
        count: usize,
        ids: String,
    },
    #[error("unknown plan {name:?} (plans: {known})")]
    UnknownPlan { name: String, known: String },
    #[error("no live session with id {0}")]
    NoSuchSession(String),
    #[error("{0} has no live session")]
    UserHasNoSession(String),
    #[error("no live session in the deployment")]
    NoSession,
    #[error("{0:?} is not a session id (16 hex digits, as `sessions list` shows)")]
    BadSessionId(String),
    #[error("--until {0} is in the past")]
    UntilInPast(String),
    #[error("database error")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database was changed but the session store was not: the command can be run again.
    #[error("{done} in the database, but not in the session store (run the command again)")]
    Partial {
        done: String,
        #[source]
        source: StoreError,
    },
    /// An erasure stopped at one of its steps; what is done is a state from which running
    /// `users delete` again with the user id finishes it.
    #[error(
        "erasing {id} stopped half-way ({done}); run `latchkey users delete {id} --yes` again \
         once this is fixed"
    )]
    Unfinished {
        id: Uuid,
        done: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An id that is in neither the database nor the session store.
    #[error("no user {0}: not in the database, and no live session in the session store")]
    NothingLeft(Uuid),
}

impl AdminError {
    /// Whether the operator asked for something malformed (exit status 2) rather than
    /// something that does not exist or failed (exit status 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::BadSessionId(_) | Self::UntilInPast(_))
    }

    /// Turns the failure of one step of an erasure into [`Self::Unfinished`].
    fn unfinished<E>(id: Uuid, done: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| Self::Unfinished {
            id,
            done,
            source: Box::new(source),
        }
    }

    /// Whether a revocation found no session to revoke (exit status 1, "revoked 0").
    pub fn nothing_revoked(&self) -> bool {
        matches!(
            self,
            Self::NoSuchSession(_) | Self::UserHasNoSession(_) | Self::NoSession
        )
    }
}

type Result<T, E = AdminError> = std::result::Result<T, E>;

/// Writes the security events of an operator's command. The command's work is done by then:
/// a database that fails here is logged, not turned into a failed command.
async fn record(db: &sea_orm::DatabaseConnection, events: &[SecurityEvent]) {
    if let Err(e) = crate::accounts::events::record(db, events).await {
        tracing::warn!(error = %e, lost = events.len(), "could not record security events");
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
