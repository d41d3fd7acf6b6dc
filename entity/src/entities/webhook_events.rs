//! `SeaORM` Entity, mirrors migration `m20261124_000006_create_webhook_events`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Every Stripe event received, keyed by Stripe's event id so a redelivery is recognised and
/// changes nothing. `outcome` says what was done (`"applied"`, `"ignored_stale"`,
/// `"unknown_customer"`, ...); `payload` keeps the raw event when it could not be applied, so
/// it can be replayed once the customer is known.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub event_type: String,
    pub customer_id: Option<String>,
    pub event_created_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
    pub outcome: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub payload: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
