//! `latchkey serve` as a process of its own: another replica for the integration tests, the
//! binary as it ships for the bench. Configured by environment variables alone, as in a pod,
//! and stopped (SIGKILL, then reaped) when dropped.
//!
//! This crate does not depend on latchkey, so the caller names the binary
//! (`env!("CARGO_BIN_EXE_latchkey")`, which Cargo sets only for tests and benches).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, Error};

/// How long the server may take to answer `/healthz` after it is started (it may migrate a
/// fresh database first, and a debug build on a busy machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start: `binary serve <args>`.
pub struct Serve<'a> {
    /// The `latchkey` binary.
    pub binary: &'a Path,
    /// After `serve`, e.g. `--no-migrate` for a replica whose database is migrated already.
    pub args: &'a [&'a str],
    /// Its `LATCHKEY_CONFIG_DIR`: the `config/` of the tree the binary was built from.
    pub config_dir: &'a Path,
    /// Its configuration: the only `LATCHKEY…` variables it sees (the caller's own, and
    /// `RUST_LOG`, are removed, so that the process runs with exactly this configuration),
    /// under `LATCHKEY_ENV=test`. The port is chosen here.
    pub vars: &'a BTreeMap<String, String>,
    /// Where its log (stderr) goes; nowhere when `None`.
    pub log: Option<&'a Path>,
}

/// A running `latchkey serve`.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Served {
    /// Starts the server and waits until `/healthz` answers 200.
    pub async fn start(serve: Serve<'_>) -> Result<Self, Error> {
        let port = free_port()?;
        let stderr = match serve.log {
            Some(path) => Stdio::from(std::fs::File::create(path).map_err(|e| {
                Error::new(format!("cannot create the log {}: {e}", path.display()))
            })?),
            None => Stdio::null(),
        };
        let mut command = Command::new(serve.binary);
        for (name, _) in std::env::vars_os() {
            let upper = name.to_string_lossy().to_ascii_uppercase();
            if upper.starts_with("LATCHKEY") || upper == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        let child = command
            .arg("serve")
            .args(serve.args)
            .env("LATCHKEY_ENV", "test")
            .env("LATCHKEY_CONFIG_DIR", serve.config_dir)
            .envs(serve.vars)
            .env("LATCHKEY__SERVER__PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| Error::new(format!("{} does not start: {e}", serve.binary.display())))?;
        let mut served = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        served.wait_until_it_answers().await?;
        Ok(served)
    }

    async fn wait_until_it_answers(&mut self) -> Result<(), Error> {
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", self.base);
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::new(format!(
                    "latchkey serve exited with {status} before it answered"
                )));
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::new(format!(
                    "latchkey serve did not answer {url} within {START_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as Kubernetes does on a rolling update.
    pub fn terminate(&self) -> Result<(), Error> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|e| Error::new(format!("kill does not run: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(format!("kill -TERM {} failed", self.pid())))
        }
    }

    /// Waits up to `limit` for the process to exit on its own; its exit status.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}
