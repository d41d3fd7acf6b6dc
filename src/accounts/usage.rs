//! Usage events: the history of metered features. The quota itself is counted in Redis.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use uuid::Uuid;

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
