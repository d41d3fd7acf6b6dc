//! `SeaORM` Entity, mirrors migration `m20261206_000007_create_security_events`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One security event: a sign-in, a refused sign-in, a sign-out, a revocation, a plan change,
/// an operator's action on an account. Never a token, code, secret or cookie. `user_id` has no
/// foreign key: events outlive sessions, a refused sign-in may have no user, and an erased
/// user leaves one `account_deleted` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "security_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub kind: String,
    pub user_id: Option<Uuid>,
    /// `user`, `operator` or `system`.
    pub actor: String,
    /// The public id (16 hex digits) of the session the event is about.
    pub session_id: Option<String>,
    /// The client's address, where there was a client.
    pub ip: Option<String>,
    /// The client's device name ("Firefox 153 on Linux"), where there was a client.
    pub device: Option<String>,
    pub reason: Option<String>,
    /// Further details as a JSON object (provider, counts, plans).
    #[sea_orm(column_type = "Text", nullable)]
    pub details: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
