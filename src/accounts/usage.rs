//! Usage events: the history of metered features. The quota itself is counted in Redis.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

/// One use of a metered feature, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub user_id: Uuid,
    /// The feature, e.g. `ocr`.
    pub kind: &'static str,
    /// When it was used (not when the record reached the database).
    pub at: DateTime<Utc>,
}

/// Records one use of a metered feature (`kind`, e.g. `ocr`) for the user's history.
pub async fn record_usage<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    kind: &str,
) -> Result<(), DbErr> {
    entity::usage_events::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Records several uses at once, all or none.
pub async fn record_usages<C: ConnectionTrait>(
    db: &C,
    records: &[UsageRecord],
) -> Result<(), DbErr> {
    if records.is_empty() {
        return Ok(());
    }
    let rows = records.iter().map(|r| entity::usage_events::ActiveModel {
        user_id: Set(r.user_id),
        kind: Set(r.kind.to_owned()),
        created_at: Set(r.at),
        ..Default::default()
    });
    entity::usage_events::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}
