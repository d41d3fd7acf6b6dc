//! `SeaORM` Entity, mirrors migration `m20261124_000001_create_plans`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A plan a user can be on. The migration seeds `free` and `pro`; free's daily limit is
/// configuration (`plans.free.daily_ocr_limit`), not a column, so it can change without a
/// migration.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub display_name: String,
    pub unlimited: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::users::Entity")]
    Users,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
