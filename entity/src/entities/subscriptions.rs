//! `SeaORM` Entity, mirrors migration `m20261124_000004_create_subscriptions`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A Stripe subscription, keyed by Stripe's id.
///
/// `user_id` is nullable and set to NULL when the user is deleted: erasing a person must not
/// erase the billing records the business has to keep, so they stay, detached, and are still
/// found by `customer_id`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: Option<Uuid>,
    pub customer_id: String,
    pub status: String,
    pub price_id: Option<String>,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    /// `created` of the newest Stripe event applied to this row. Stripe does not deliver
    /// events in order, so an event older than this is ignored rather than applied.
    pub last_event_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "Cascade",
        on_delete = "SetNull"
    )]
    Users,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
