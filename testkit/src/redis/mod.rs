//! `redis-server` processes of a test's (or the bench's) own: [`RedisServer`] starts one with
//! [`RedisOptions`] (TLS, an ACL user, extra arguments, a CPU), [`RedisCluster`] makes several
//! into a Redis Cluster, and [`stats`] reads what a server counted.
//!
//! Every server listens on a free loopback port, keeps no data on disk (`--save ""`,
//! `--appendonly no`), writes its log and files into a temporary directory of its own, and is
//! killed when dropped. Starting waits until the server answers `PING`; a server that exits or
//! stays silent fails with the end of its log.

mod cluster;
mod server;
pub mod stats;

use std::process::{Command, Stdio};

use crate::Error;

pub use cluster::{ClusterOptions, RedisCluster};
pub use server::{RedisOptions, RedisServer, TlsFiles};

/// `redis-cli -p <port> <args>`'s standard output: for arranging and inspecting a server the
/// way an operator would. Redis' own error replies are output too (`(error) …`); only a
/// `redis-cli` that does not run is an error.
pub fn cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("redis-cli does not run (Debian: redis-tools): {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
