//! The plans table: the plan names an operator may give a user. What a plan allows is
//! configuration, not SQL.

use entity::plans;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QueryOrder};

/// Whether `name` is a plan of the plans table.
pub async fn exists<C: ConnectionTrait>(db: &C, name: &str) -> Result<bool, DbErr> {
    Ok(plans::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// Every plan name, in order.
pub async fn names<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    Ok(plans::Entity::find()
        .order_by_asc(plans::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect())
}
