//! `SeaORM` Entity, mirrors the tables created by the `migration` crate.

pub mod prelude;

pub mod identities;
pub mod plans;
pub mod security_events;
pub mod subscriptions;
pub mod usage_events;
pub mod users;
pub mod webhook_events;
