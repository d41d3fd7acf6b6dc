//! `make bench` (`cargo bench --bench http`): the release build of the real application on
//! loopback, measured two ways in one run (method and figures in `docs/performance.md`).
//! This file runs the steps; `machine` pins processes to CPUs, `memory` and `wrk` measure,
//! `report` prints. The bench's Redis is `testkit`'s launcher.
//!
//! 1. Redis memory per session: a `redis-server` of its own (no persistence), `INFO memory`
//!    `used_memory` before and after 50,000 sessions started through the session store, for
//!    10,000 users with 5 sessions each, and again for 50,000 users with one session each.
//! 2. Throughput: `wrk -t2 -c64 --latency` against `GET /healthz`, then against an
//!    authenticated `GET /api/user/info` (one of those sessions' cookie), on the same server.
//!    Both share the machine's cores with wrk and Redis, so the figure that travels is the
//!    ratio of the two, not the absolute requests per second.
//!
//! Needs `wrk` and `redis-server` on PATH (Debian: `apt-get install -y wrk redis-server`).
//! `BENCH_DURATION` (default `10s`) sets the length of each measured wrk run;
//! `BENCH_REDIS_ARGS` adds arguments to the bench's `redis-server` (e.g.
//! `--hash-max-listpack-value 256`); `BENCH_PIN=1` runs the server (this process) on CPU 0
//! and wrk and Redis on CPU 1 (with `taskset`), so that the two routes are compared without
//! the load generator and Redis taking the server's core; `LATCHKEY__*` variables in the
//! environment override the configuration (e.g. `LATCHKEY__SESSION__IDLE_TIMEOUT`), except the
//! database, the Redis URL and the port, which the bench chooses.

#![forbid(unsafe_code)]

mod machine;
mod memory;
mod report;
mod wrk;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{ensure, Context};
use latchkey::config::{Settings, Sources};
use latchkey::startup::{build_sessions, Application, Options};
use testkit::redis::{stats, RedisOptions, RedisServer};

use machine::{pin, pinned, require, LOAD_CPU};
use memory::{
    create_sessions, measure_memory, sample_keys, CREATE_CONCURRENCY, SESSIONS, SESSIONS_PER_USER,
};
use report::Report;
use wrk::{wrk, WARM_UP};

const DEFAULT_DURATION: &str = "10s";

fn main() -> ExitCode {
    match pin() {
        Ok(Some(code)) => return code,
        Ok(None) => {}
        Err(e) => {
            eprintln!("\nbench failed: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nbench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    require("wrk", "wrk")?;
    require("redis-server", "redis-server")?;
    let duration = std::env::var("BENCH_DURATION").unwrap_or_else(|_| DEFAULT_DURATION.into());
    // Declared before the runtime so that it is dropped (and Redis stopped) last, also when
    // the measurement panics.
    let redis = start_redis()?;
    let data = tempfile::tempdir().context("temporary directory")?;
    let (settings, overrides) = settings(&redis.url(), data.path())?;
    latchkey::telemetry::init(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let report = runtime.block_on(bench(settings, &redis, &duration));
    runtime.shutdown_timeout(Duration::from_secs(1));
    let report = report?;
    report.print(&overrides);
    Ok(())
}

/// The bench's own `redis-server` (no persistence), with `BENCH_REDIS_ARGS` added, on the load's
/// CPU when pinned; declared before the runtime in [`run`] so that it stops last.
fn start_redis() -> anyhow::Result<RedisServer> {
    let args: Vec<String> = std::env::var("BENCH_REDIS_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut options = RedisOptions::default().args(args);
    if pinned() {
        options = options.cpu(LOAD_CPU);
    }
    Ok(RedisServer::start_with(options)?)
}

/// The test environment's configuration, as the integration tests load it, on a fresh SQLite
/// database and the bench's own Redis. The Redis key prefix stays the configured one
/// (`latchkey:`), so that key lengths, and so the bytes per session, are production's.
fn settings(redis_url: &str, dir: &Path) -> anyhow::Result<(Settings, Vec<String>)> {
    let mut vars = BTreeMap::new();
    vars.insert("LATCHKEY__LOG__LEVEL".to_owned(), "error".to_owned());
    let mut overrides = Vec::new();
    for (key, value) in std::env::vars().filter(|(k, _)| k.starts_with("LATCHKEY__")) {
        overrides.push(format!("{key}={value}"));
        vars.insert(key, value);
    }
    let db = format!("sqlite://{}/latchkey.db?mode=rwc", dir.display());
    for (key, value) in [
        ("LATCHKEY__DATABASE__URL", db.as_str()),
        ("LATCHKEY__REDIS__URL", redis_url),
        ("LATCHKEY__SERVER__PORT", "0"),
    ] {
        vars.insert(key.to_owned(), value.to_owned());
    }
    let settings = Settings::load(&Sources {
        environment: Some("test".into()),
        config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        config_file: None,
        env_vars: vars,
    })?;
    Ok((settings, overrides))
}

async fn bench(settings: Settings, redis: &RedisServer, duration: &str) -> anyhow::Result<Report> {
    let app = Application::build(settings.clone(), Options { migrate: true })
        .await
        .context("the application does not build")?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let mut conn = redis::Client::open(redis.url())?
        .get_multiplexed_async_connection()
        .await
        .context("the bench's Redis does not answer")?;
    let redis_version = stats::info_field(&mut conn, "server", "redis_version")
        .await?
        .context("INFO server has no redis_version")?;

    // Sessions are started through a store of their own, built from the same settings, so
    // that the server's pool holds only connections its own workers opened (as in
    // production) and none driven by this runtime.
    let setup = build_sessions(&settings)?;
    // Opens the setup pool's connections and loads the script, outside the measurement.
    create_sessions(&setup, CREATE_CONCURRENCY, 1).await?;
    println!("memory: starting {SESSIONS} sessions, 1 per user ...");
    let (single, _) = measure_memory(&setup, &mut conn, SESSIONS, 1).await?;
    println!("memory: starting {SESSIONS} sessions, {SESSIONS_PER_USER} per user ...");
    let (spread, token) = measure_memory(
        &setup,
        &mut conn,
        SESSIONS / SESSIONS_PER_USER,
        SESSIONS_PER_USER,
    )
    .await?;
    drop(setup);
    let keys = sample_keys(&mut conn, &settings.redis.key_prefix, &token).await?;

    let cookie = format!("{}={token}", settings.session.cookie_name);
    let healthz_url = format!("{base}/healthz");
    let info_url = format!("{base}/api/user/info");
    check_endpoints(&healthz_url, &info_url, &cookie).await?;

    println!("throughput: wrk on GET /healthz ({WARM_UP} warm-up, then {duration}) ...");
    wrk(&healthz_url, None, WARM_UP).await?;
    let healthz = wrk(&healthz_url, None, duration).await?;
    println!("throughput: wrk on GET /api/user/info ({WARM_UP} warm-up, then {duration}) ...");
    wrk(&info_url, Some(&cookie), WARM_UP).await?;
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut conn)
        .await?;
    let info = wrk(&info_url, Some(&cookie), duration).await?;
    let commands = stats::command_calls(&mut conn).await?;
    // Lets the requests still in flight when wrk stopped finish before Redis goes away.
    tokio::time::sleep(Duration::from_millis(500)).await;

    Ok(Report {
        duration: duration.to_owned(),
        redis_version,
        healthz,
        info,
        commands,
        memory: vec![spread, single],
        keys,
        redis_args: redis.extra_args().to_vec(),
    })
}

/// One authenticated request by hand before the load: the cookie must sign in (200 with the
/// user) and nothing else may (401 without it), or the wrk figures would mean nothing.
async fn check_endpoints(healthz: &str, info: &str, cookie: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let status = http.get(healthz).send().await?.status();
    ensure!(status == 200, "GET /healthz answered {status}");
    let status = http.get(info).send().await?.status();
    ensure!(
        status == 401,
        "GET /api/user/info without a cookie answered {status}"
    );
    let res = http.get(info).header("Cookie", cookie).send().await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.context("user info is not JSON")?;
    ensure!(
        status == 200 && body["success"] == true && body["user"]["plan"] == "free",
        "GET /api/user/info with the session cookie answered {status}: {body}"
    );
    Ok(())
}
