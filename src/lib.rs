//! latchkey: a login and session server for browser extensions.
//!
//! The binary (`src/main.rs`) only parses the command line; everything it runs lives here, so
//! the integration tests exercise exactly the code that production runs.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod api;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod config;
pub mod db;
pub mod dev;
pub mod device;
pub mod http;
pub mod login;
pub mod metrics;
pub mod plan;
pub mod session;
pub mod startup;
pub mod telemetry;
pub mod text;
pub mod vision;
