//! `make bench` (`cargo bench --bench http`): the release build of the real application on
//! loopback, measured two ways in one run (method and figures in `docs/performance.md`).
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

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use latchkey::config::{Settings, Sources};
use latchkey::session::{ClientInfo, Profile, SessionToken, Sessions};
use latchkey::startup::{build_sessions, Application, Options};
use redis::aio::MultiplexedConnection;
use uuid::Uuid;

/// wrk's load: the 64 connections, two threads (one per core of the reference machine).
const WRK_CONNECTIONS: u32 = 64;
const WRK_THREADS: u32 = 2;
const DEFAULT_DURATION: &str = "10s";
const WARM_UP: &str = "2s";

const SESSIONS: usize = 50_000;
const SESSIONS_PER_USER: usize = 5;
/// Sessions are started by this many tasks at once (each user's sessions one after another).
const CREATE_CONCURRENCY: usize = 64;

/// A current desktop Chrome's user agent (111 characters), as the store records it.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const CLIENT_IP: &str = "203.0.113.7";

const TARGET_RATIO: f64 = 0.75;
const TARGET_BYTES: f64 = 600.0;

/// CPUs of the `BENCH_PIN=1` layout: the server alone on one, its load and Redis on the other.
const SERVER_CPU: &str = "0";
const LOAD_CPU: &str = "1";
/// Set on the re-executed, pinned bench, so that it does not pin itself again.
const PINNED: &str = "LATCHKEY_BENCH_PINNED";

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
    let redis = RedisServer::start()?;
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

/// Whether `BENCH_PIN=1` asked for the pinned layout.
fn pinned() -> bool {
    std::env::var("BENCH_PIN").is_ok_and(|v| v == "1")
}

/// With `BENCH_PIN=1`, runs this bench again under `taskset -c 0` and returns its exit code:
/// the server's actix workers and Tokio threads are threads of this process, so the process
/// itself is what gets pinned (and Rust then sees one CPU, so actix starts one worker). The
/// children it starts, wrk and Redis, are moved to CPU 1 by [`command`].
fn pin() -> anyhow::Result<Option<ExitCode>> {
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

/// A command for one of the bench's helpers (wrk, redis-server): on CPU 1 when pinned.
fn command(program: &str) -> Command {
    if pinned() {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", LOAD_CPU, program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// Fails with the package to install when `tool` is not on PATH.
fn require(tool: &str, package: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    ensure!(
        found,
        "`{tool}` is not on PATH; install it (Debian: `apt-get install -y {package}`) and run \
         `make bench` again"
    );
    Ok(())
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
    let redis_version = info_field(&mut conn, "server", "redis_version").await?;

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
    let commands = command_calls(&mut conn).await?;
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
        redis_args: redis.args.clone(),
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

/// Redis memory taken by `users` x `per_user` sessions, from an empty database.
async fn measure_memory(
    sessions: &Sessions,
    conn: &mut MultiplexedConnection,
    users: usize,
    per_user: usize,
) -> anyhow::Result<(Memory, String)> {
    redis::cmd("FLUSHALL")
        .arg("SYNC")
        .query_async::<()>(&mut *conn)
        .await?;
    let before = used_memory(conn).await?;
    let started = Instant::now();
    let token = create_sessions(sessions, users, per_user).await?;
    let elapsed = started.elapsed();
    let after = used_memory(conn).await?;
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut *conn).await?;
    let memory = Memory {
        users,
        per_user,
        before,
        after,
        keys,
        elapsed,
    };
    Ok((memory, token))
}

/// Starts `per_user` sessions for each of `users` new users, `CREATE_CONCURRENCY` at a time.
/// Returns the cookie value of one of them.
async fn create_sessions(
    sessions: &Sessions,
    users: usize,
    per_user: usize,
) -> anyhow::Result<String> {
    let client = ClientInfo {
        user_agent: USER_AGENT.to_owned(),
        ip: CLIENT_IP.to_owned(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CREATE_CONCURRENCY.min(users) {
        let sessions = sessions.clone();
        let client = client.clone();
        tasks.spawn(async move {
            let mut token = None;
            for n in (worker..users).step_by(CREATE_CONCURRENCY) {
                let user = Uuid::new_v4();
                for _ in 0..per_user {
                    let started = sessions.start(user, profile(user, n), &client).await?;
                    token.get_or_insert_with(|| started.token.expose().to_owned());
                }
            }
            anyhow::Ok(token)
        });
    }
    let mut token = None;
    while let Some(done) = tasks.join_next().await {
        if let Some(t) = done.context("a session task panicked")?? {
            token = Some(t);
        }
    }
    token.context("no session was started")
}

/// A profile of realistic size: a Google account's name, address and picture URL (99
/// characters), on the free plan.
fn profile(user: Uuid, n: usize) -> Profile {
    Profile {
        name: format!("Bench User {n:05}"),
        email: format!("bench.user.{n:05}@example.com"),
        image: format!(
            "https://lh3.googleusercontent.com/a/ACg8oc{}{n:019}=s96-c",
            user.simple()
        ),
        plan: Profile::FREE.to_owned(),
        plan_until_ms: None,
        has_subscription: false,
    }
}

async fn used_memory(conn: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    let raw = info_field(conn, "memory", "used_memory").await?;
    raw.parse()
        .with_context(|| format!("used_memory is {raw:?}"))
}

/// One `field:value` line of `INFO <section>`.
async fn info_field(
    conn: &mut MultiplexedConnection,
    section: &str,
    field: &str,
) -> anyhow::Result<String> {
    let text: String = redis::cmd("INFO").arg(section).query_async(conn).await?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .with_context(|| format!("INFO {section} has no {field}"))
}

/// Calls per command since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
async fn command_calls(conn: &mut MultiplexedConnection) -> anyhow::Result<BTreeMap<String, u64>> {
    let text: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    // cmdstat_evalsha:calls=123,usec=...
    Ok(text
        .lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect())
}

/// One Redis key of the sampled user, as Redis stores it.
struct KeySample {
    name: String,
    kind: String,
    encoding: String,
    bytes: u64,
}

/// Every key of the user whose session the load uses (its sessions, index and profile), with
/// its type, encoding and `MEMORY USAGE`: where the bytes per session go.
async fn sample_keys(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    token: &str,
) -> anyhow::Result<Vec<KeySample>> {
    let user = SessionToken::parse(token)
        .context("the bench's token does not parse")?
        .user_id();
    let pattern = format!("{prefix}*{}*", user.simple());
    let mut names: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut *conn)
            .await?;
        names.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    names.sort();
    let mut keys = Vec::with_capacity(names.len());
    for name in names {
        let kind: String = redis::cmd("TYPE")
            .arg(&name)
            .query_async(&mut *conn)
            .await?;
        let encoding: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(&name)
            .query_async(&mut *conn)
            .await?;
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&name)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut *conn)
            .await?;
        keys.push(KeySample {
            name: name.replace(&user.simple().to_string(), "<user>"),
            kind,
            encoding,
            bytes,
        });
    }
    Ok(keys)
}

/// What one wrk run measured.
#[derive(Debug)]
struct Wrk {
    requests: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn wrk(url: &str, cookie: Option<&str>, duration: &str) -> anyhow::Result<Wrk> {
    let mut cmd = tokio::process::Command::from(command("wrk"));
    cmd.arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{WRK_CONNECTIONS}"))
        .arg(format!("-d{duration}"))
        .arg("--latency");
    if let Some(cookie) = cookie {
        cmd.arg("-H").arg(format!("Cookie: {cookie}"));
    }
    let out = cmd.arg(url).output().await.context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "wrk failed ({}):\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_wrk(&text).with_context(|| format!("wrk against {url}:\n{text}"))
}

/// Reads wrk's report; any answer that is not 2xx/3xx, and any socket error, fails the run.
fn parse_wrk(text: &str) -> anyhow::Result<Wrk> {
    let (mut requests, mut rps, mut p50, mut p99) = (None, None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = micros(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = micros(v.trim());
        } else if line.contains(" requests in ") {
            requests = line.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            bail!("{} answers were not 2xx or 3xx", v.trim());
        } else if line.starts_with("Socket errors:") {
            bail!("wrk reports {line}");
        }
    }
    let missing = |what: &str| format!("wrk printed no {what}");
    Ok(Wrk {
        requests: requests.with_context(|| missing("request count"))?,
        rps: rps.with_context(|| missing("Requests/sec"))?,
        p50_us: p50.with_context(|| missing("50% latency"))?,
        p99_us: p99.with_context(|| missing("99% latency"))?,
    })
}

/// wrk's durations (`812.00us`, `1.25ms`, `2.00s`, `1.00m`) in microseconds.
fn micros(s: &str) -> Option<f64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = s.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

struct Memory {
    users: usize,
    per_user: usize,
    before: u64,
    after: u64,
    keys: u64,
    elapsed: Duration,
}

impl Memory {
    fn sessions(&self) -> usize {
        self.users * self.per_user
    }

    fn per_session(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.sessions() as f64
    }
}

struct Report {
    duration: String,
    redis_version: String,
    healthz: Wrk,
    info: Wrk,
    commands: BTreeMap<String, u64>,
    keys: Vec<KeySample>,
    redis_args: Vec<String>,
    /// The layout (several sessions per user) first.
    memory: Vec<Memory>,
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

impl Report {
    fn print(&self, overrides: &[String]) {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!();
        if pinned() {
            println!(
                "latchkey bench: release build on 127.0.0.1, pinned: the server alone on CPU \
                 {SERVER_CPU} ({cpus} actix worker), Redis {} and wrk on CPU {LOAD_CPU}",
                self.redis_version
            );
        } else {
            println!(
                "latchkey bench: release build on 127.0.0.1, {cpus} CPUs shared by the server \
                 ({cpus} actix workers), Redis {} and wrk",
                self.redis_version
            );
        }
        println!(
            "wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{} --latency, after a {WARM_UP} warm-up",
            self.duration
        );
        if !overrides.is_empty() {
            println!("overrides: {}", overrides.join(" "));
        }
        println!();
        println!(
            "{:<22} {:>12} {:>10} {:>10} {:>10}",
            "endpoint", "requests/s", "p50", "p99", "requests"
        );
        for (name, w) in [
            ("GET /healthz", &self.healthz),
            ("GET /api/user/info", &self.info),
        ] {
            println!(
                "{:<22} {:>12.0} {:>10} {:>10} {:>10}",
                name,
                w.rps,
                ms(w.p50_us),
                ms(w.p99_us),
                w.requests
            );
        }
        let ratio = self.info.rps / self.healthz.rps;
        println!(
            "{:<22} {:>12.2} {:>10.2} {:>10.2}",
            "ratio info/healthz",
            ratio,
            self.info.p50_us / self.healthz.p50_us,
            self.info.p99_us / self.healthz.p99_us
        );
        println!("every answer was 2xx (wrk reported no non-2xx answer and no socket error)");
        let per_request = |name: &str| {
            self.commands.get(name).copied().unwrap_or(0) as f64 / self.info.requests as f64
        };
        let mut commands: Vec<_> = self.commands.keys().cloned().collect();
        commands.retain(|c| c != "info" && !c.starts_with("config"));
        println!(
            "Redis commands per /api/user/info request: {}",
            commands
                .iter()
                .map(|c| format!("{c} {:.2}", per_request(c)))
                .collect::<Vec<_>>()
                .join(", ")
        );

        println!();
        println!("Redis memory (INFO memory used_memory, after - before, from an empty database)");
        println!(
            "{:<24} {:>9} {:>8} {:>12} {:>14} {:>9}",
            "layout", "sessions", "keys", "bytes", "bytes/session", "start/s"
        );
        for m in &self.memory {
            let plural = if m.per_user == 1 { "" } else { "s" };
            println!(
                "{:<24} {:>9} {:>8} {:>12} {:>14.1} {:>9.0}",
                format!("{} users x {} session{plural}", m.users, m.per_user),
                m.sessions(),
                m.keys,
                m.after.saturating_sub(m.before),
                m.per_session(),
                m.sessions() as f64 / m.elapsed.as_secs_f64()
            );
        }

        println!();
        println!("keys of one user with {SESSIONS_PER_USER} sessions (TYPE, OBJECT ENCODING, MEMORY USAGE):");
        for k in &self.keys {
            println!(
                "  {:<70} {:<5} {:<10} {:>5} B",
                k.name, k.kind, k.encoding, k.bytes
            );
        }
        if !self.redis_args.is_empty() {
            println!("redis-server arguments: {}", self.redis_args.join(" "));
        }

        let bytes = self.memory[0].per_session();
        println!();
        println!(
            "target: /api/user/info >= {TARGET_RATIO:.2} x /healthz throughput: {ratio:.2}, {}",
            verdict(ratio >= TARGET_RATIO)
        );
        println!(
            "target: <= {TARGET_BYTES:.0} bytes of Redis per session ({} per user): {bytes:.0}, {}",
            self.memory[0].per_user,
            verdict(bytes <= TARGET_BYTES)
        );
    }
}

/// A `redis-server` of the bench's own on a free loopback port, without persistence; stopped
/// when dropped, also on a panic.
struct RedisServer {
    child: Child,
    port: u16,
    /// Extra arguments from `BENCH_REDIS_ARGS`.
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let args: Vec<String> = std::env::var("BENCH_REDIS_ARGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let child = command("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(dir.path())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start redis-server")?;
        let mut server = Self {
            child,
            port,
            args,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.answers() {
            if let Some(status) = server.child.try_wait()? {
                bail!("redis-server exited at start ({status})");
            }
            ensure!(
                Instant::now() < deadline,
                "redis-server does not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        let ping = || -> std::io::Result<bool> {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            stream.write_all(b"PING\r\n")?;
            let mut reply = [0u8; 5];
            stream.read_exact(&mut reply)?;
            Ok(&reply == b"+PONG")
        };
        ping().unwrap_or(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
