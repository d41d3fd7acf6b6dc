//! latchkey's database schema, as SeaORM migrations.
//!
//! One dated file per table, in foreign-key order; each `down` drops what its `up` created, so
//! `Migrator::down(db, None)` leaves no application table behind. The same statements run on
//! SQLite and PostgreSQL: timestamps are `timestamp with time zone`, and foreign keys are
//! declared inside `CREATE TABLE` because SQLite cannot add them afterwards.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::MigrationStatus;

mod m20261124_000001_create_plans;
mod m20261124_000002_create_users;
mod m20261124_000003_create_identities;
mod m20261124_000004_create_subscriptions;
mod m20261124_000005_create_usage_events;
mod m20261124_000006_create_webhook_events;
mod m20261206_000007_create_security_events;

/// Every migration of latchkey, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_plans::Migration),
            Box::new(m20261124_000002_create_users::Migration),
            Box::new(m20261124_000003_create_identities::Migration),
            Box::new(m20261124_000004_create_subscriptions::Migration),
            Box::new(m20261124_000005_create_usage_events::Migration),
            Box::new(m20261124_000006_create_webhook_events::Migration),
            Box::new(m20261206_000007_create_security_events::Migration),
        ]
    }
}
