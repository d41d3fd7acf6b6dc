//! All integration tests build into one binary (faster to link, one harness).

mod auth;
mod billing;
mod cli;
mod cluster;
mod config;
mod cors;
mod csrf;
mod fakes;
mod fakes_selftest;
mod health;
mod helpers;
mod hostile;
mod logout;
mod migrations;
mod observability;
mod openapi;
mod race;
mod ratelimit;
mod redis_down;
mod redis_tls;
mod replicas;
mod sessions;
mod store;
mod timeouts;
mod user_info;
mod vision;
