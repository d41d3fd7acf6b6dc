//! A database that the released latchkey (0.1.0, on SeaORM 1.1) migrated and wrote must be
//! accepted as it is by this build: the recorded migration history read the same and nothing
//! applied again, every row read back as it was written, new rows written in the same encoding
//! (so that a range of timestamps, today's usage or a week of events, sees old and new rows
//! alike), and the schema the same as this build's migrations make on an empty database.
//!
//! The fixtures are that release's databases, dumped: the migrations applied by
//! `Migrator::up` and one row per table written through the `entity` crate of commit f7470ef,
//! on SQLite (`sqlite3 … .dump`, without its `PRAGMA foreign_keys=OFF`) and on PostgreSQL 15
//! (`pg_dump --no-owner --no-privileges --inserts`, without its comments, `SET`s and psql
//! meta-commands). They are never regenerated: they stand for what is deployed.

use chrono::{DateTime, Utc};
use entity::webhook_events;
use entity::{identities, plans, security_events, subscriptions, usage_events, users};
use migration::{Migrator, MigratorTrait};
use sea_orm::prelude::{DateTimeUtc, Uuid};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, Set, Statement,
};
use serde_json::json;

use crate::migrations::on_a_fresh_postgres_database;

const RELEASED_SQLITE: &str = include_str!("fixtures/released-sqlite.sql");
const RELEASED_POSTGRES: &str = include_str!("fixtures/released-postgres.sql");

#[tokio::test]
async fn a_sqlite_database_of_the_released_version_is_accepted() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let open = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let db = Database::connect(open("released.db"))
        .await
        .expect("open SQLite");
    db.execute_unprepared(RELEASED_SQLITE)
        .await
        .expect("load the released database");

    check_released_database(&db).await;

    let fresh = Database::connect(open("fresh.db"))
        .await
        .expect("open SQLite");
    Migrator::up(&fresh, None).await.expect("migrate up");
    let schema = "SELECT type || ' ' || name || ': ' || sql FROM sqlite_master \
                  WHERE name NOT LIKE 'sqlite_%' ORDER BY name";
    // One spelling differs, in the table sea-orm-migration makes for itself: SeaORM 2 writes
    // SQLite's 64-bit integer as `integer` where 1.1 wrote `bigint`. To SQLite both are the
    // same type (INTEGER affinity, up to 64 bits), so the released table stays as it is.
    let released: Vec<String> = strings(&db, schema)
        .await
        .into_iter()
        .map(|sql| sql.replace(r#""applied_at" bigint"#, r#""applied_at" integer"#))
        .collect();
    assert_eq!(
        released,
        strings(&fresh, schema).await,
        "this build's migrations make the released schema"
    );
    fresh.close().await.expect("close SQLite");
    db.close().await.expect("close SQLite");
}

#[tokio::test]
async fn a_postgres_database_of_the_released_version_is_accepted() {
    on_a_fresh_postgres_database(|db| async move {
        Migrator::up(&db, None).await.expect("migrate up");
        let fresh = postgres_schema(&db).await;
        db.execute_unprepared("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            .await
            .expect("empty the database");

        db.execute_unprepared(RELEASED_POSTGRES)
            .await
            .expect("load the released database");
        assert_eq!(
            postgres_schema(&db).await,
            fresh,
            "this build's migrations make the released schema"
        );
        check_released_database(&db).await;
    })
    .await;
}

/// Every check that does not depend on the backend.
async fn check_released_database(db: &DatabaseConnection) {
    let history = migration_history(db).await;
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let recorded: Vec<String> = history.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(
        recorded, names,
        "the released history names every migration"
    );
    assert!(Migrator::get_pending_migrations(db)
        .await
        .expect("pending migrations")
        .is_empty());
    Migrator::up(db, None)
        .await
        .expect("migrate up: nothing to do");
    assert_eq!(
        migration_history(db).await,
        history,
        "nothing applied again"
    );

    check_released_rows(db).await;
    check_new_rows_beside_released_ones(db).await;
}

/// `seaql_migrations` as (version, applied_at), oldest first.
async fn migration_history(db: &DatabaseConnection) -> Vec<(String, i64)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version, applied_at FROM seaql_migrations ORDER BY version",
        ))
        .await
        .expect("read seaql_migrations");
    rows.iter()
        .map(|row| {
            (
                row.try_get_by_index(0).expect("version"),
                row.try_get_by_index(1).expect("applied_at"),
            )
        })
        .collect()
}

fn at(text: &str) -> DateTimeUtc {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 timestamp")
        .with_timezone(&Utc)
}

fn ada() -> Uuid {
    Uuid::parse_str("0a0a0a0a-0000-4000-8000-00000000ada0").expect("a UUID")
}

/// The rows the fixtures hold, as the released version wrote them.
async fn check_released_rows(db: &DatabaseConnection) {
    let created = at("2026-11-30T12:00:00.123456Z");
    let plans: Vec<(String, bool)> = plans::Entity::find()
        .order_by_asc(plans::Column::Name)
        .all(db)
        .await
        .expect("read plans")
        .into_iter()
        .map(|p| (p.name, p.unlimited))
        .collect();
    assert_eq!(plans, [("free".into(), false), ("pro".into(), true)]);

    let user = users::Entity::find_by_id(ada())
        .one(db)
        .await
        .expect("read");
    assert_eq!(
        user,
        Some(users::Model {
            id: ada(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            name: Some("Ada Lovelace".into()),
            image: None,
            plan: "pro".into(),
            plan_until: Some(at("2027-01-01T00:00:00Z")),
            stripe_customer_id: Some("cus_ada".into()),
            disabled_at: None,
            created_at: created,
            updated_at: at("2026-12-01T08:30:15.5Z"),
        })
    );
    let identity = identities::Entity::find()
        .filter(identities::Column::Provider.eq("github"))
        .filter(identities::Column::Subject.eq("42"))
        .one(db)
        .await
        .expect("read");
    assert_eq!(
        identity,
        Some(identities::Model {
            id: 1,
            user_id: ada(),
            provider: "github".into(),
            subject: "42".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            created_at: created,
            updated_at: created,
        })
    );
    let subscription = subscriptions::Entity::find_by_id("sub_1").one(db).await;
    assert_eq!(
        subscription.expect("read"),
        Some(subscriptions::Model {
            id: "sub_1".into(),
            user_id: Some(ada()),
            customer_id: "cus_ada".into(),
            status: "active".into(),
            price_id: Some("price_pro".into()),
            current_period_end: Some(at("2027-01-01T00:00:00Z")),
            cancel_at_period_end: false,
            last_event_at: at("2026-12-01T08:30:15Z"),
            created_at: created,
            updated_at: at("2026-12-01T08:30:15.5Z"),
        })
    );
    let usage = usage_events::Entity::find().all(db).await.expect("read");
    assert_eq!(
        usage,
        [usage_events::Model {
            id: 1,
            user_id: ada(),
            kind: "vision".into(),
            created_at: at("2026-12-02T23:59:59.999999Z"),
        }]
    );
    let webhook = webhook_events::Entity::find_by_id("evt_1").one(db).await;
    assert_eq!(
        webhook.expect("read"),
        Some(webhook_events::Model {
            id: "evt_1".into(),
            event_type: "customer.subscription.updated".into(),
            customer_id: Some("cus_ada".into()),
            event_created_at: at("2026-12-01T08:30:15Z"),
            received_at: at("2026-12-01T08:30:16.25Z"),
            outcome: "applied".into(),
            payload: Some(
                json!({"id": "evt_1", "data": {"object": {"id": "sub_1", "items": [1, 2]}}})
            ),
        })
    );
    let events = security_events::Entity::find().all(db).await.expect("read");
    assert_eq!(
        events,
        [security_events::Model {
            id: 1,
            at: at("2026-12-06T10:00:00.000001Z"),
            kind: "login".into(),
            user_id: Some(ada()),
            actor: "user".into(),
            session_id: Some("s-1".into()),
            ip: Some("203.0.113.7".into()),
            device: Some("Firefox on Linux".into()),
            reason: None,
            details: Some(r#"{"provider":"github"}"#.into()),
        }]
    );
}

/// Rows written now sit beside the released ones: found by the same user id, in the same
/// timestamp ranges, numbered after them, and the released foreign keys still cascade.
async fn check_new_rows_beside_released_ones(db: &DatabaseConnection) {
    let new = usage_events::ActiveModel {
        user_id: Set(ada()),
        kind: Set("vision".into()),
        created_at: Set(at("2026-12-03T00:00:00.5Z")),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert a usage event");
    assert_eq!(new.id, 2, "numbered after the released row");

    // SQLite keeps timestamps as text and compares them as text: a new row must be written in
    // the released encoding, or a range would mix two orders.
    if db.get_database_backend() == DbBackend::Sqlite {
        assert_eq!(
            strings(db, "SELECT created_at FROM usage_events ORDER BY id").await,
            [
                "2026-12-02T23:59:59.999999+00:00",
                "2026-12-03T00:00:00.500+00:00"
            ]
        );
    }

    let within = |from: &str, to: &str| {
        usage_events::Entity::find()
            .filter(usage_events::Column::UserId.eq(ada()))
            .filter(usage_events::Column::CreatedAt.gte(at(from)))
            .filter(usage_events::Column::CreatedAt.lt(at(to)))
            .order_by_asc(usage_events::Column::CreatedAt)
            .all(db)
    };
    let ids = |rows: Vec<usage_events::Model>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    let day = within("2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z").await;
    assert_eq!(ids(day.expect("one day")), [1]);
    let next = within("2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z").await;
    assert_eq!(ids(next.expect("the next day")), [2]);
    let both = within("2026-12-02T23:59:59.999999Z", "2026-12-03T00:00:00.500001Z").await;
    assert_eq!(ids(both.expect("both")), [1, 2]);
    let later = security_events::Entity::find()
        .filter(security_events::Column::At.gt(at("2026-12-06T10:00:00Z")))
        .count(db)
        .await;
    assert_eq!(
        later.expect("count"),
        1,
        "microseconds are kept and compared"
    );

    let mut user = users::Entity::find_by_id(ada())
        .one(db)
        .await
        .expect("read")
        .expect("the released user")
        .into_active_model();
    user.name = Set(Some("Ada King".into()));
    let user = user.update(db).await.expect("update the released user");
    assert_eq!(user.name.as_deref(), Some("Ada King"));

    users::Entity::delete_by_id(ada())
        .exec(db)
        .await
        .expect("delete the released user");
    let usage = usage_events::Entity::find().count(db).await;
    assert_eq!(usage.expect("count"), 0, "usage events cascade");
    let identities = identities::Entity::find().count(db).await;
    assert_eq!(identities.expect("count"), 0, "identities cascade");
    let subscription = subscriptions::Entity::find_by_id("sub_1").one(db).await;
    let subscription = subscription.expect("read").expect("kept");
    assert_eq!(subscription.user_id, None, "subscriptions are detached");
}

/// The first column of each row of `sql`, as text.
async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect(sql);
    rows.iter()
        .map(|row| row.try_get_by_index(0).expect("a text column"))
        .collect()
}

/// Columns, constraints and indexes of the public schema, each as one line of text.
async fn postgres_schema(db: &DatabaseConnection) -> Vec<String> {
    let columns = "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' \
                   || is_nullable || ' ' || COALESCE(column_default, '') \
                   FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1";
    let constraints = "SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) \
                       FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
                       ORDER BY 1";
    let indexes = "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1";
    let mut schema = strings(db, columns).await;
    schema.extend(strings(db, constraints).await);
    schema.extend(strings(db, indexes).await);
    schema
}
