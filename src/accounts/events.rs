//! Security events (docs/operations.md, "Security events"): what a user or an operator reads
//! back after an incident — sign-ins, refused sign-ins, sign-outs, revocations, plan changes,
//! an operator's actions on an account. This module is their SQL; writing them off the
//! request's path is [`crate::audit`]'s.
//!
//! An event holds who (the user, the actor), when, which session (its public id), from where
//! (the client's address and device) and why; never a token, a code, a secret or a cookie:
//! nothing here takes one, and the `details` a caller adds are names and counts.

use chrono::{DateTime, Utc};
use entity::security_events;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Map, Value};
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A session was started (details: provider, and whether the user was new or linked).
    Login,
    /// A callback refused a sign-in (reason: the page's code).
    LoginFailed,
    /// The user signed out.
    Logout,
    /// One session was ended by a hand (reason: `revoked`, `revoked_by_operator`, `evicted`).
    SessionRevoked,
    /// Several at once (details: by whom, how many).
    SessionsRevoked,
    /// The plan in force changed (details: from, to, source).
    PlanChanged,
    AccountDisabled,
    AccountEnabled,
    AccountDeleted,
}

impl Kind {
    pub const ALL: [Self; 9] = [
        Self::Login,
        Self::LoginFailed,
        Self::Logout,
        Self::SessionRevoked,
        Self::SessionsRevoked,
        Self::PlanChanged,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::AccountDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::SessionRevoked => "session_revoked",
            Self::SessionsRevoked => "sessions_revoked",
            Self::PlanChanged => "plan_changed",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::AccountDeleted => "account_deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The user, from one of their sessions or a sign-in.
    User,
    /// An operator, with the command line.
    Operator,
    /// latchkey itself or a third party on its behalf: eviction, Stripe, a plan's end.
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Operator => "operator",
            Self::System => "system",
        }
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEvent {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    pub actor: Actor,
    pub user_id: Option<Uuid>,
    /// The public id of the session it is about.
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub reason: Option<String>,
    pub details: Map<String, Value>,
}

/// Longest address kept: an IPv6 address with a zone fits; a hostile header does not grow it.
const MAX_IP: usize = 64;

impl SecurityEvent {
    /// An event of `kind` by `actor`, now.
    pub fn new(kind: Kind, actor: Actor) -> Self {
        Self {
            at: Utc::now(),
            kind,
            actor,
            user_id: None,
            session_id: None,
            ip: None,
            device: None,
            reason: None,
            details: Map::new(),
        }
    }

    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The session it is about, by its public id (never the token).
    pub fn session(mut self, public_id: impl ToString) -> Self {
        self.session_id = Some(public_id.to_string());
        self
    }

    /// The client that caused it: its address, and the device named by its user agent (the
    /// user agent itself is not kept).
    pub fn client(mut self, ip: &str, user_agent: &str) -> Self {
        let mut end = ip.len().min(MAX_IP);
        while !ip.is_char_boundary(end) {
            end -= 1;
        }
        self.ip = Some(ip[..end].to_owned()).filter(|ip| !ip.is_empty());
        self.device = Some(crate::device::name(user_agent));
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    fn into_row(self) -> security_events::ActiveModel {
        security_events::ActiveModel {
            at: Set(self.at),
            kind: Set(self.kind.as_str().to_owned()),
            user_id: Set(self.user_id),
            actor: Set(self.actor.as_str().to_owned()),
            session_id: Set(self.session_id),
            ip: Set(self.ip),
            device: Set(self.device),
            reason: Set(self.reason),
            details: Set(
                (!self.details.is_empty()).then(|| Value::Object(self.details).to_string())
            ),
            ..Default::default()
        }
    }
}

/// Writes `events`, all or none.
pub async fn record<C: ConnectionTrait>(db: &C, events: &[SecurityEvent]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    security_events::Entity::insert_many(events.iter().cloned().map(SecurityEvent::into_row))
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Which events to read: all of them, or a user's, a kind, since a time; newest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub user_id: Option<Uuid>,
    pub kind: Option<Kind>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// The events `query` names, newest first.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    query: &EventQuery,
) -> Result<Vec<security_events::Model>, DbErr> {
    let mut select = security_events::Entity::find();
    if let Some(user_id) = query.user_id {
        select = select.filter(security_events::Column::UserId.eq(user_id));
    }
    if let Some(kind) = query.kind {
        select = select.filter(security_events::Column::Kind.eq(kind.as_str()));
    }
    if let Some(since) = query.since {
        select = select.filter(security_events::Column::At.gte(since));
    }
    select
        .order_by_desc(security_events::Column::At)
        .order_by_desc(security_events::Column::Id)
        .limit(query.limit)
        .all(db)
        .await
}

/// Deletes the events older than `before` (the retention); returns how many. Running it on
/// several replicas at once deletes each row once and repeats nothing else.
pub async fn prune<C: ConnectionTrait>(db: &C, before: DateTime<Utc>) -> Result<u64, DbErr> {
    security_events::Entity::delete_many()
        .filter(security_events::Column::At.lt(before))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}

/// Deletes every event of a user, for their erasure; returns how many.
pub(super) async fn forget<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<u64, DbErr> {
    security_events::Entity::delete_many()
        .filter(security_events::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .map(|r| r.rows_affected)
}
