//! The built `latchkey` binary as a process of its own: `latchkey serve` as another replica
//! ([`ServerProcess`]) and operator commands ([`latchkey`], [`latchkey_on_terminal`]), each
//! with a test's configuration in its environment.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::COOKIE;
use reqwest::Response;
use testkit::server::{Serve, Served};

use super::app::client;
use super::browser::Browser;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    testkit::free_port().expect("a free port")
}

/// `latchkey serve` as a separate process of the built binary, with a test's configuration:
/// another replica on the same Redis and database (`testkit::server`, which the bench uses
/// too).
pub struct ServerProcess {
    served: Served,
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary; its stderr (the log) goes to `log` when given.
    pub async fn start(vars: &BTreeMap<String, String>, log: Option<&std::path::Path>) -> Self {
        let served = Served::start(Serve {
            binary: env!("CARGO_BIN_EXE_latchkey").as_ref(),
            args: &["--no-migrate"],
            config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").as_ref(),
            vars,
            log,
        })
        .await
        .expect("latchkey serve starts and answers");
        let address = served.base.clone();
        Self { served, address }
    }

    /// `GET /api/user/info` on this process with the browser's cookies.
    pub async fn user_info(&self, browser: &Browser) -> Response {
        let mut req = client().get(format!("{}/api/user/info", self.address));
        if let Some(cookies) = browser.cookie_header() {
            req = req.header(COOKIE, cookies);
        }
        req.send().await.expect("the process answers")
    }

    /// Sends SIGTERM, as Kubernetes does on a rolling update.
    pub fn terminate(&self) {
        self.served.terminate().expect("SIGTERM delivered");
    }

    /// Waits up to `limit` for the process to exit on its own; its exit status.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.served.wait_exit(limit).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        self.served.stop();
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        &self.stdout
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {}", self.stdout))
    }

    /// Fails with `code` and exactly one line on stderr, no backtrace.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "exit status: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:?}");
        assert!(lines[0].starts_with("error: "), "{self:?}");
        assert!(!self.stderr.contains("backtrace"), "{self:?}");
        lines[0]
    }
}

/// `program` with a test's configuration in its environment, as an operator's pod has it.
fn configured(program: &str, vars: &BTreeMap<String, String>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env("LATCHKEY_ENV", "test")
        .env(
            "LATCHKEY_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .envs(vars.iter())
        .kill_on_drop(true);
    command
}

fn finished(out: std::process::Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `latchkey <args>` with a test's configuration, as an operator would in a pod, with
/// stdin off a terminal (as under `kubectl exec` without `-t`).
pub async fn latchkey(vars: &BTreeMap<String, String>, args: &[&str]) -> Run {
    let out = configured(env!("CARGO_BIN_EXE_latchkey"), vars)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the latchkey binary runs");
    finished(out)
}

/// Runs `latchkey <args>` on a terminal, as under `kubectl exec -it`: util-linux `script`
/// gives it a pseudo-terminal and `typed` is what the operator types. What the terminal
/// shows (stdout, stderr, the echo of `typed`) comes back in `stdout`, with CR LF line ends.
pub async fn latchkey_on_terminal(
    vars: &BTreeMap<String, String>,
    args: &[&str],
    typed: &str,
) -> Run {
    use tokio::io::AsyncWriteExt;
    let quote = |word: &str| format!("'{}'", word.replace('\'', r"'\''"));
    let line = std::iter::once(env!("CARGO_BIN_EXE_latchkey"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = configured("script", vars)
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) is installed");
    let mut stdin = child.stdin.take().expect("script's stdin");
    stdin.write_all(typed.as_bytes()).await.expect("type");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command ends")
        .expect("script runs");
    finished(out)
}
