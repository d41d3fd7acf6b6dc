//! The migrations, run for real: on a fresh SQLite file always, and on PostgreSQL when
//! `LATCHKEY__DATABASE__URL` points at one (each run gets a database of its own, dropped after).

use std::time::SystemTime;

use entity::{identities, plans, subscriptions, usage_events, users, webhook_events};
use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::prelude::{DateTimeUtc, Json, Uuid};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, Statement,
};

const APP_TABLES: [&str; 7] = [
    "plans",
    "users",
    "identities",
    "subscriptions",
    "usage_events",
    "webhook_events",
    "security_events",
];

#[tokio::test]
async fn migrations_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("latchkey.db");
    let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("open SQLite");

    // sqlx turns foreign keys on for every SQLite connection; the cascades below rely on it.
    let pragma = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await
        .expect("PRAGMA foreign_keys")
        .expect("a row");
    assert_eq!(pragma.try_get_by_index::<i32>(0).expect("an integer"), 1);

    check_migrations(&db).await;
    db.close().await.expect("close SQLite");
}

#[tokio::test]
async fn migrations_work_on_postgres() {
    on_a_fresh_postgres_database(|db| async move { check_migrations(&db).await }).await;
}

/// Runs `checks` against a database of its own on the PostgreSQL of `LATCHKEY__DATABASE__URL`
/// (skipped when that is not a PostgreSQL URL), and drops the database afterwards.
pub(crate) async fn on_a_fresh_postgres_database<F, Fut>(checks: F)
where
    F: FnOnce(DatabaseConnection) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let server_url = match std::env::var("LATCHKEY__DATABASE__URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            println!("skipped: LATCHKEY__DATABASE__URL is not a PostgreSQL URL");
            return;
        }
    };
    let server = Database::connect(&server_url)
        .await
        .expect("connect to PostgreSQL");
    let name = format!("lk_test_{}", Uuid::new_v4().simple());
    server
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .expect("create the test database");

    // The checks run in a task of their own so that the database is dropped even when one of
    // them panics; the panic is raised again afterwards.
    let url = with_database(&server_url, &name);
    let outcome = tokio::spawn(async move {
        let db = Database::connect(&url)
            .await
            .expect("connect to the test database");
        checks(db.clone()).await;
        db.close().await.expect("close the test database");
    })
    .await;

    // FORCE (PostgreSQL 13+) ends connections a panicking task may have left open.
    server
        .execute_unprepared(&format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#))
        .await
        .expect("drop the test database");
    server.close().await.expect("close PostgreSQL");
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("checks did not finish: {error}"),
        }
    }
}

/// Every check, against an empty database of either backend.
async fn check_migrations(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("migrate up");
    Migrator::status(db).await.expect("status after up");
    assert!(Migrator::get_pending_migrations(db)
        .await
        .expect("pending migrations")
        .is_empty());
    assert_app_tables(db, true).await;
    assert_seeded_plans(db).await;

    let now = DateTimeUtc::from(SystemTime::now());
    let ada = insert_user(db, now).await;
    assert_eq!(ada.plan, "free", "users.plan defaults to free");
    // The same (unverified) email on a second account is allowed.
    let other = insert_user(db, now).await;

    insert_identity(db, ada.id, "github", "42", now)
        .await
        .expect("first identity");
    assert!(
        insert_identity(db, other.id, "github", "42", now)
            .await
            .is_err(),
        "(provider, subject) must be unique"
    );
    insert_identity(db, other.id, "google", "42", now)
        .await
        .expect("the same subject at another provider");
    assert!(
        insert_identity(db, Uuid::new_v4(), "google", "7", now)
            .await
            .is_err(),
        "identities.user_id must refer to a user"
    );

    usage_events::ActiveModel {
        user_id: Set(ada.id),
        kind: Set("ocr".to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("usage event");
    subscriptions::ActiveModel {
        id: Set("sub_1".to_owned()),
        user_id: Set(Some(ada.id)),
        customer_id: Set("cus_1".to_owned()),
        status: Set("active".to_owned()),
        price_id: Set(Some("price_pro".to_owned())),
        current_period_end: Set(Some(now)),
        cancel_at_period_end: Set(false),
        last_event_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .expect("subscription");
    let payload: Json = [("id".to_owned(), Json::from("evt_1"))]
        .into_iter()
        .collect();
    let event = webhook_events::ActiveModel {
        id: Set("evt_1".to_owned()),
        event_type: Set("customer.subscription.created".to_owned()),
        customer_id: Set(Some("cus_unknown".to_owned())),
        event_created_at: Set(now),
        received_at: Set(now),
        outcome: Set("unknown_customer".to_owned()),
        payload: Set(Some(payload.clone())),
    }
    .insert(db)
    .await
    .expect("webhook event");
    assert_eq!(event.payload, Some(payload));

    assert!(
        plans::Entity::delete_by_id("free").exec(db).await.is_err(),
        "a plan in use cannot be deleted"
    );

    // Erasing a user takes identities and usage along and detaches billing records.
    users::Entity::delete_by_id(ada.id)
        .exec(db)
        .await
        .expect("delete user");
    let identities_left = identities::Entity::find()
        .filter(identities::Column::UserId.eq(ada.id))
        .count(db)
        .await
        .expect("count identities");
    assert_eq!(identities_left, 0, "identities cascade");
    let usage_left = usage_events::Entity::find()
        .filter(usage_events::Column::UserId.eq(ada.id))
        .count(db)
        .await
        .expect("count usage events");
    assert_eq!(usage_left, 0, "usage events cascade");
    let subscription = subscriptions::Entity::find_by_id("sub_1")
        .one(db)
        .await
        .expect("find subscription")
        .expect("the subscription is kept");
    assert_eq!(subscription.user_id, None, "subscriptions are detached");
    let others = identities::Entity::find()
        .filter(identities::Column::UserId.eq(other.id))
        .count(db)
        .await
        .expect("count identities");
    assert_eq!(others, 1, "other users are untouched");

    Migrator::down(db, None).await.expect("migrate down");
    assert_app_tables(db, false).await;
    Migrator::status(db).await.expect("status after down");
    let pending = Migrator::get_pending_migrations(db)
        .await
        .expect("pending migrations");
    assert_eq!(pending.len(), Migrator::migrations().len());

    // `fresh` drops whatever is there, foreign keys and all, and migrates again.
    Migrator::up(db, None).await.expect("migrate up again");
    insert_user(db, now).await;
    Migrator::fresh(db).await.expect("fresh");
    assert_app_tables(db, true).await;
    assert_seeded_plans(db).await;
    let users_left = users::Entity::find().count(db).await.expect("count users");
    assert_eq!(users_left, 0, "fresh starts empty");
}

async fn assert_app_tables(db: &DatabaseConnection, present: bool) {
    let manager = SchemaManager::new(db);
    for table in APP_TABLES {
        let exists = manager.has_table(table).await.expect("has_table");
        assert_eq!(exists, present, "table {table} present: {exists}");
    }
}

async fn assert_seeded_plans(db: &DatabaseConnection) {
    let plans = plans::Entity::find()
        .order_by_asc(plans::Column::Name)
        .all(db)
        .await
        .expect("read plans");
    let plans: Vec<_> = plans
        .iter()
        .map(|p| (p.name.as_str(), p.unlimited))
        .collect();
    assert_eq!(plans, [("free", false), ("pro", true)]);
}

/// A user with the same unverified email every time and the plan left to its default.
async fn insert_user(db: &DatabaseConnection, now: DateTimeUtc) -> users::Model {
    users::ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(Some("ada@example.com".to_owned())),
        email_verified: Set(false),
        name: Set(Some("Ada".to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert user")
}

async fn insert_identity(
    db: &DatabaseConnection,
    user_id: Uuid,
    provider: &str,
    subject: &str,
    now: DateTimeUtc,
) -> Result<identities::Model, DbErr> {
    identities::ActiveModel {
        user_id: Set(user_id),
        provider: Set(provider.to_owned()),
        subject: Set(subject.to_owned()),
        email_verified: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// `url` with its database name replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[test]
fn with_database_replaces_only_the_database_name() {
    let name = "lk_test_1";
    for (url, expected) in [
        ("postgres://u@h:5432/test", "postgres://u@h:5432/lk_test_1"),
        (
            "postgres://u@h/test?sslmode=disable",
            "postgres://u@h/lk_test_1?sslmode=disable",
        ),
        ("postgresql://h", "postgresql://h/lk_test_1"),
    ] {
        assert_eq!(with_database(url, name), expected);
    }
}
