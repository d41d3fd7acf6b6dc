//! All integration tests build into one binary (faster to link, one harness): one module per
//! feature, and the harness they share in `support/`. The fake providers and the Redis
//! launchers are the dev-only `testkit` crate's.

mod audit;
mod auth;
mod bearer;
mod billing;
mod cli;
mod cli_output;
mod cluster;
mod compact_layout;
mod config;
mod config_reference;
mod cors;
mod csrf;
mod demo;
mod devices;
mod events;
mod explained;
mod headers;
mod health;
mod hostile;
mod layers;
mod logout;
mod migrations;
mod observability;
mod openapi;
mod race;
mod ratelimit;
mod reasons;
mod redis_down;
mod redis_tls;
mod released_database;
mod replicas;
mod sessions;
mod startup;
mod store;
mod support;
mod timeouts;
mod token_attacks;
mod token_mode;
mod user_info;
mod vision;
