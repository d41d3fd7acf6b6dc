//! SeaORM entities for latchkey's SQL schema.
//!
//! The modules under [`entities`] are laid out as `sea-orm-cli generate entity` writes them and
//! mirror the `migration` crate: when a migration changes a table, regenerate (or edit) the
//! matching module so both stay in step.

pub mod entities;

pub use entities::*;
