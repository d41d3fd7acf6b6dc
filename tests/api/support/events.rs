//! Security events as the tests read them back: straight from SQL, waiting for the journal
//! (which writes them off the request's path) to bring them there.

use std::time::Duration;

use entity::security_events;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// How long a test waits for an event to reach the database before it fails: far more than
/// the journal needs, so that a loaded machine does not fail a test that would pass.
const PATIENCE: Duration = Duration::from_secs(30);

/// Every event in the table, oldest first.
pub async fn all_events(db: &DatabaseConnection) -> Vec<security_events::Model> {
    security_events::Entity::find()
        .order_by_asc(security_events::Column::Id)
        .all(db)
        .await
        .expect("read security_events")
}

/// The events of `user`, oldest first.
pub async fn events_of(db: &DatabaseConnection, user: Uuid) -> Vec<security_events::Model> {
    security_events::Entity::find()
        .filter(security_events::Column::UserId.eq(user))
        .order_by_asc(security_events::Column::Id)
        .all(db)
        .await
        .expect("read security_events")
}

/// Waits until the table holds an event that `wanted` accepts, and returns it.
pub async fn wait_for_event(
    db: &DatabaseConnection,
    what: &str,
    wanted: impl Fn(&security_events::Model) -> bool,
) -> security_events::Model {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let events = all_events(db).await;
        if let Some(found) = events.iter().find(|e| wanted(e)) {
            return found.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} event reached the database; it holds {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an event of `kind` about `user`.
pub async fn wait_for_kind(
    db: &DatabaseConnection,
    user: Uuid,
    kind: &str,
) -> security_events::Model {
    wait_for_event(db, kind, |e| e.user_id == Some(user) && e.kind == kind).await
}

/// The details of an event as JSON.
pub fn details(event: &security_events::Model) -> serde_json::Value {
    event
        .details
        .as_deref()
        .map(|d| serde_json::from_str(d).expect("details are JSON"))
        .unwrap_or(serde_json::Value::Null)
}
