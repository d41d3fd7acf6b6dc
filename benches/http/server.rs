//! latchkey's server under load: the `latchkey` binary itself, in a process of its own, so
//! that the bench measures what ships (its allocator, its runtime set-up), not the library
//! linked into the bench, whose allocator would also be the peers'.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How long the server may take to answer `/healthz` after it is started (it migrates a fresh
/// SQLite database first).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `latchkey serve` with the bench's configuration; stopped (SIGKILL, then reaped) on drop.
pub(crate) struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
}

impl ServerProcess {
    /// Starts the binary Cargo built beside this bench (or `LATCHKEY_BIN`, to compare another
    /// build in the same run conditions) with `vars` as its only `LATCHKEY…` variables (the
    /// shell's are removed: the bench chose these), in the test environment, and waits until
    /// it answers.
    pub(crate) async fn start(vars: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let port = testkit::free_port()?;
        let binary = std::env::var_os("LATCHKEY_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_latchkey").into());
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name
                .to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("LATCHKEY")
            {
                command.env_remove(name);
            }
        }
        let child = command
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("LATCHKEY_ENV", "test")
            .envs(vars)
            .env("LATCHKEY__SERVER__PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("the latchkey binary does not start")?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_until_it_answers().await?;
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_until_it_answers(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", self.base);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("latchkey serve exited with {status} before it answered");
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("latchkey serve did not answer {url} within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
