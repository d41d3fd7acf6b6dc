//! `SeaORM` Entity, mirrors the tables created by the `migration` crate.

pub use super::identities::Entity as Identities;
pub use super::plans::Entity as Plans;
pub use super::security_events::Entity as SecurityEvents;
pub use super::subscriptions::Entity as Subscriptions;
pub use super::usage_events::Entity as UsageEvents;
pub use super::users::Entity as Users;
pub use super::webhook_events::Entity as WebhookEvents;
