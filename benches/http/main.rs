//! `make bench` (`cargo bench --bench http`): the release build of the `latchkey` binary on
//! loopback, measured beside its peers in one run (method and figures in
//! `docs/performance.md`). This file runs the steps; `machine` pins processes to CPUs,
//! `server` starts the binary, `memory`, `rounds` and `wrk` measure, `peers` checks the
//! peers, `report` prints. The
//! bench's Redis is `testkit`'s launcher, the peers are the `bench-peers` crate.
//!
//! 1. Redis memory per session: a `redis-server` of its own (no persistence), `INFO memory`
//!    `used_memory` before and after 50,000 sessions started through the session store, for
//!    10,000 users with 5 sessions each, and again for 50,000 users with one session each,
//!    once with each `redis.layout` (the configured one, then the other: the layouts differ
//!    only for users with one session).
//! 2. Throughput, on that Redis (holding the 50,000 sessions): `wrk -t1 -c64 --latency`
//!    against latchkey's `GET /healthz` and authenticated `GET /api/user/info`, the
//!    actix-session peer's read-only route and the bare one-`GET` peer, in `BENCH_ROUNDS`
//!    rounds (default 3) whose order rotates; medians over the rounds, the ratios of
//!    `/api/user/info` to the peers, and the CPU Redis and the server spent per request.
//!    Everything shares the machine's cores, so the ratios are the figures that travel.
//!
//! Needs `wrk` and `redis-server` on PATH (Debian: `apt-get install -y wrk redis-server`).
//! `BENCH_ONLY=memory` runs step 1 alone (no wrk, no peers: what a busy machine can still
//! measure, since it counts bytes, not time). `BENCH_DURATION` (default `5s`) sets the length of each measured wrk run;
//! `LATCHKEY_BIN` serves latchkey's routes with another build of the binary (an A/B of two
//! builds); `BENCH_REDIS_ARGS` adds arguments to the bench's `redis-server` (e.g.
//! `--hash-max-listpack-value 256`); `BENCH_PIN=1` runs the servers (this process) on CPU 0
//! and wrk and Redis on CPU 1 (with `taskset`); `LATCHKEY__*` variables in the environment
//! override the configuration (e.g. `LATCHKEY__SESSION__IDLE_TIMEOUT`), except the database,
//! the Redis URL and the port, which the bench chooses.

#![forbid(unsafe_code)]

mod machine;
mod memory;
mod peers;
mod report;
mod rounds;
mod server;
mod wrk;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{ensure, Context};
use bench_peers::{Peers, BARE_KEY};
use latchkey::config::{Settings, Sources};
use latchkey::session::RedisLayout;
use latchkey::startup::build_sessions;
use testkit::redis::{stats, RedisOptions, RedisServer};

use machine::{pin, pinned, require, LOAD_CPU};
use memory::{
    create_sessions, measure_memory, sample_keys, CREATE_CONCURRENCY, SESSIONS, SESSIONS_PER_USER,
};
use redis::aio::MultiplexedConnection;
use report::Report;
use rounds::{Rounds, Route};

const DEFAULT_DURATION: &str = "5s";
const DEFAULT_ROUNDS: usize = 3;

/// The routes' names in the tables.
pub(crate) const HEALTHZ: &str = "latchkey /healthz";
pub(crate) const USER_INFO: &str = "latchkey /api/user/info";
pub(crate) const ACTIX_SESSION: &str = "actix-session read";
pub(crate) const BARE_GET: &str = "bare one-GET";

/// What the environment asked of this run, and the machine's load when it started.
struct RunOptions {
    duration: String,
    rounds: usize,
    loadavg: String,
    /// `BENCH_ONLY=memory`: the memory per session alone, no load.
    memory_only: bool,
}

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
    let memory_only = match std::env::var("BENCH_ONLY") {
        Ok(only) if only == "memory" => true,
        Ok(only) if !only.is_empty() => {
            anyhow::bail!("BENCH_ONLY is {only:?}: the one part that runs alone is `memory`")
        }
        _ => false,
    };
    if !memory_only {
        require("wrk", "wrk")?;
    }
    require("redis-server", "redis-server")?;
    let options = RunOptions {
        memory_only,
        duration: std::env::var("BENCH_DURATION").unwrap_or_else(|_| DEFAULT_DURATION.into()),
        rounds: match std::env::var("BENCH_ROUNDS") {
            Ok(raw) => raw
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("BENCH_ROUNDS is {raw:?}, not a positive number"))?,
            Err(_) => DEFAULT_ROUNDS,
        },
        // The figures are only worth comparing on a quiet machine: the report says how quiet.
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    // Declared before the runtime so that it is dropped (and Redis stopped) last, also when
    // the measurement panics; the peers, on their own thread, stop before it.
    let redis = start_redis()?;
    let peers = if memory_only {
        None
    } else {
        Some(Peers::start(&redis.url())?)
    };
    let data = tempfile::tempdir().context("temporary directory")?;
    let configured = settings(&redis.url(), data.path())?;
    latchkey::telemetry::init(&configured.settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let report = runtime.block_on(bench(&configured, &redis, peers.as_ref(), &options));
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(peers);
    let report = report?;
    report.print(&configured.overrides);
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
fn settings(redis_url: &str, dir: &Path) -> anyhow::Result<Configured> {
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
        env_vars: vars.clone(),
    })?;
    Ok(Configured {
        settings,
        vars,
        overrides,
    })
}

/// The bench's configuration: loaded here (for the store that starts the sessions), and as
/// the variables that give the server process the very same.
struct Configured {
    settings: Settings,
    vars: BTreeMap<String, String>,
    /// The `LATCHKEY__*` variables the shell set, for the report.
    overrides: Vec<String>,
}

async fn bench(
    configured: &Configured,
    redis: &RedisServer,
    peers: Option<&Peers>,
    options: &RunOptions,
) -> anyhow::Result<Report> {
    let mut conn = redis::Client::open(redis.url())?
        .get_multiplexed_async_connection()
        .await
        .context("the bench's Redis does not answer")?;
    let redis_version = stats::info_field(&mut conn, "server", "redis_version")
        .await?
        .context("INFO server has no redis_version")?;

    // Sessions are started through a store of their own, built from the same settings, so
    // that the server's connection is only the one its own workers opened (as in production)
    // and none driven by this runtime.
    let settings = &configured.settings;
    let setup = build_sessions(settings)?;
    // Opens the setup store's connection and loads the script, outside the measurement.
    create_sessions(&setup, CREATE_CONCURRENCY, 1).await?;
    let layout = settings.redis.layout;
    println!("memory: starting {SESSIONS} sessions, 1 per user ({layout:?}) ...");
    let (single, _) = measure_memory(&setup, layout, &mut conn, SESSIONS, 1).await?;
    let mut memory = vec![single];
    // Both layouts at one session per user, whichever is configured: the one place they differ.
    let other = match layout {
        RedisLayout::Indexed => RedisLayout::Compact,
        RedisLayout::Compact => RedisLayout::Indexed,
    };
    let mut other_settings = settings.clone();
    other_settings.redis.layout = other;
    let other_setup = build_sessions(&other_settings)?;
    create_sessions(&other_setup, CREATE_CONCURRENCY, 1).await?;
    println!("memory: starting {SESSIONS} sessions, 1 per user ({other:?}) ...");
    let (single, _) = measure_memory(&other_setup, other, &mut conn, SESSIONS, 1).await?;
    memory.push(single);
    drop(other_setup);
    println!("memory: starting {SESSIONS} sessions, {SESSIONS_PER_USER} per user ...");
    let (spread, token) = measure_memory(
        &setup,
        layout,
        &mut conn,
        SESSIONS / SESSIONS_PER_USER,
        SESSIONS_PER_USER,
    )
    .await?;
    memory.insert(0, spread);
    drop(setup);
    let keys = sample_keys(&mut conn, &settings.redis.key_prefix, &token).await?;

    let rounds = match peers {
        Some(peers) if !options.memory_only => {
            Some(load(configured, peers, options, &token, &mut conn).await?)
        }
        _ => None,
    };
    Ok(Report {
        duration: options.duration.clone(),
        redis_version,
        rounds,
        memory,
        keys,
        redis_args: redis.extra_args().to_vec(),
        loadavg: options.loadavg.clone(),
    })
}

/// The throughput part: the `latchkey` binary on loopback beside the peers (which run in this
/// process), on the Redis that holds the sessions the memory part started (`token` is one of
/// them).
async fn load(
    configured: &Configured,
    peers: &Peers,
    options: &RunOptions,
    token: &str,
    conn: &mut MultiplexedConnection,
) -> anyhow::Result<Rounds> {
    let cookie_name = configured.settings.session.cookie_name.clone();
    let server = server::start(&configured.vars)
        .await
        .context("latchkey's server does not start")?;
    let base = server.base.clone();

    let cookie = format!("{cookie_name}={token}");
    let healthz_url = format!("{base}/healthz");
    let info_url = format!("{base}/api/user/info");
    let user_info = check_endpoints(&healthz_url, &info_url, &cookie).await?;
    // The bare peer returns the very document latchkey answers, stored as one string.
    redis::cmd("SET")
        .arg(BARE_KEY)
        .arg(&user_info)
        .query_async::<()>(&mut *conn)
        .await?;
    let session_cookie = peers::check(&peers.base, &user_info).await?;

    let routes = [
        Route {
            name: HEALTHZ,
            url: healthz_url,
            cookie: None,
            server: Some(server.pid()),
        },
        Route {
            name: USER_INFO,
            url: info_url,
            cookie: Some(cookie),
            server: Some(server.pid()),
        },
        Route {
            name: ACTIX_SESSION,
            url: format!("{}/session/me", peers.base),
            cookie: Some(session_cookie),
            server: None,
        },
        Route {
            name: BARE_GET,
            url: format!("{}/bare", peers.base),
            cookie: None,
            server: None,
        },
    ];
    let rounds = rounds::run(&routes, options.rounds, &options.duration, conn).await?;
    // Lets the requests still in flight when wrk stopped finish before Redis goes away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(rounds)
}

/// One authenticated request by hand before the load: the cookie must sign in (200 with the
/// user) and nothing else may (401 without it), or the wrk figures would mean nothing.
/// Returns the user info document, which the bare peer then serves.
async fn check_endpoints(healthz: &str, info: &str, cookie: &str) -> anyhow::Result<String> {
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
    let text = res.text().await?;
    let body: serde_json::Value = serde_json::from_str(&text).context("user info is not JSON")?;
    ensure!(
        status == 200 && body["success"] == true && body["user"]["plan"] == "free",
        "GET /api/user/info with the session cookie answered {status}: {body}"
    );
    Ok(text)
}
