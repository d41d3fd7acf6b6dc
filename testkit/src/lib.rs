//! latchkey's test fixtures, shared by the integration tests (`tests/api`), the bench
//! (`benches/http`) and the fakes runner of the browser tests (`examples/fakes.rs`):
//!
//! - [`fakes`]: fake Google, GitHub and OpenAI servers, real HTTP on `127.0.0.1:0`;
//! - [`demo`]: `make demo`'s fakes (auto-approving providers) and its configuration;
//! - [`redis`]: the one way to start a `redis-server` of a test's own (plain, TLS, with an ACL
//!   user, pinned to a CPU) and a Redis Cluster of several of them;
//! - [`server`]: `latchkey serve` as a process of its own (a replica, or the bench's server).
//!
//! A dev-only crate: the root package lists it under `[dev-dependencies]` only, so the
//! latchkey library and binary never link it (`cargo tree -p latchkey -e normal`). It does not
//! depend on latchkey either: what needs latchkey's types stays in `tests/api/support`.
//!
//! A fixture that cannot do its job fails with a message that says what and why: the launchers
//! return [`Error`] (no `unwrap`/`expect` there, which clippy enforces); the fakes, which
//! run inside a test whose environment is broken if they cannot bind a port, panic with an
//! `expect` message.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod demo;
pub mod fakes;
pub mod redis;
pub mod server;

pub use fakes::http_client;

use std::fmt;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Why a fixture could not do its job, in words for the test log. Its `Debug` is the same
/// message, so that a test's `.expect("…")` prints it as it is.
pub struct Error(String);

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A loopback port that was free a moment ago (the usual bind-to-0 race applies: good enough
/// for tests on one machine).
pub fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("no free loopback port: {e}")))
}

/// Polls `ready` every 100 ms for up to 30 s; the error names what was awaited.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::new(format!("timed out waiting for {what}")))
}
