//! `latchkey audit`: the security events, newest first, as the operator reads them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Owner, Result};
use crate::accounts::{self, events, events::EventQuery};

pub use crate::accounts::events::Kind as EventKind;

/// One event as the operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub user_id: Option<Uuid>,
    /// The user's email while the user exists.
    pub email: Option<String>,
    pub actor: String,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub device: Option<String>,
    pub reason: Option<String>,
    /// Provider, counts, plans: an object, or null.
    pub details: Value,
}

/// Which events: a user's or everyone's, of a kind or all, since a time; at most `limit`.
pub struct AuditQuery<'a> {
    pub owner: Option<&'a Owner>,
    pub kind: Option<EventKind>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// The events `query` names, newest first, with their users' emails.
pub async fn security_events(
    db: &DatabaseConnection,
    query: &AuditQuery<'_>,
) -> Result<Vec<EventRow>> {
    let rows = events::find(
        db,
        &EventQuery {
            user_id: query.owner.map(Owner::id),
            kind: query.kind,
            since: query.since,
            limit: query.limit,
        },
    )
    .await?;
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|r| r.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let emails: HashMap<Uuid, Option<String>> = accounts::users_by_ids(db, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| EventRow {
            at: r.at,
            email: r.user_id.and_then(|id| emails.get(&id).cloned().flatten()),
            kind: r.kind,
            user_id: r.user_id,
            actor: r.actor,
            session_id: r.session_id,
            ip: r.ip,
            device: r.device,
            reason: r.reason,
            details: r
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null),
        })
        .collect())
}
