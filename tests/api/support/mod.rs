//! The harness every integration test starts from, one file per job:
//!
//! - [`app`]: `spawn_app()` runs the real application on a random port with its own Redis key
//!   prefix and a fresh database, and hands back a [`app::TestApp`] with one helper per route;
//! - [`config`]: the test configuration ([`config::TestConfig`]) and database ([`config::TestDb`]);
//! - [`browser`]: a small cookie-keeping browser and the cookie names;
//! - [`response`]: reading and asserting answers (JSON bodies, error envelopes, `Set-Cookie`);
//! - [`users`]: profiles and user rows as a login leaves them;
//! - [`events`]: security events read back from SQL, waiting for the journal;
//! - [`process`]: the built binary as a process: `latchkey serve` replicas and CLI runs;
//! - [`redis`]: Redis as the tests see it (the shared URL, the shared cluster, counters);
//! - [`stores`]: sessions as the store suites hand them to a store directly;
//! - [`world`]: the app with fake Google and GitHub as its providers;
//! - [`token`]: token mode as an extension without cookies drives it.
//!
//! The fakes and the Redis launchers themselves are the dev-only `testkit` crate's; what here
//! needs latchkey's own types wraps them.

pub mod app;
pub mod browser;
pub mod config;
pub mod events;
pub mod process;
pub mod redis;
pub mod response;
pub mod stores;
pub mod token;
pub mod users;
pub mod world;
