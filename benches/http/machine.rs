//! The machine the bench runs on: the tools it needs, and the `BENCH_PIN=1` layout that keeps
//! the server alone on one CPU and its load (wrk, Redis) on the other.

use std::process::{Command, ExitCode};

use anyhow::{ensure, Context};

/// CPUs of the `BENCH_PIN=1` layout: the server alone on one, its load and Redis on the other.
pub(crate) const SERVER_CPU: &str = "0";
pub(crate) const LOAD_CPU: &str = "1";
/// Set on the re-executed, pinned bench, so that it does not pin itself again.
const PINNED: &str = "LK_BENCH_PINNED";

/// Whether `BENCH_PIN=1` asked for the pinned layout.
pub(crate) fn pinned() -> bool {
    std::env::var("BENCH_PIN").is_ok_and(|v| v == "1")
}

/// With `BENCH_PIN=1`, runs this bench again under `taskset -c 0` and returns its exit code:
/// the server's actix workers and Tokio threads are threads of this process, so the process
/// itself is what gets pinned (and Rust then sees one CPU, so actix starts one worker). The
/// children it starts, wrk and Redis, are moved to CPU 1 by [`command`] and the bench's Redis options.
pub(crate) fn pin() -> anyhow::Result<Option<ExitCode>> {
    if !pinned() || std::env::var_os(PINNED).is_some() {
        return Ok(None);
    }
    require("taskset", "util-linux")?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    ensure!(
        cpus >= 2,
        "BENCH_PIN=1 needs two CPUs, this process may use {cpus}"
    );
    let status = Command::new("taskset")
        .args(["-c", SERVER_CPU])
        .arg(std::env::current_exe().context("the bench's own path")?)
        .args(std::env::args_os().skip(1))
        .env(PINNED, "1")
        .status()
        .context("cannot run taskset")?;
    Ok(Some(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }))
}

/// A command for one of the bench's helpers (wrk): on CPU 1 when pinned.
pub(crate) fn command(program: &str) -> Command {
    if pinned() {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", LOAD_CPU, program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// Fails with the package to install when `tool` is not on PATH.
pub(crate) fn require(tool: &str, package: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    ensure!(
        found,
        "`{tool}` is not on PATH; install it (Debian: `apt-get install -y {package}`) and run \
         `make bench` again"
    );
    Ok(())
}
