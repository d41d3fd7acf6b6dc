//! What the bench prints: every round, the medians with the ratios to the peers and the CPU
//! per request, the Redis commands per request, the memory per session and the keys of one
//! user, and each figure against its target.

use crate::machine::{pinned, LOAD_CPU, SERVER_CPU};
use crate::memory::{KeySample, Memory, SESSIONS_PER_USER};
use crate::rounds::Rounds;
use crate::wrk::{WARM_UP, WRK_CONNECTIONS, WRK_THREADS};
use crate::{ACTIX_SESSION, BARE_GET, USER_INFO};

/// `/api/user/info` against the bare one-GET peer's throughput, and against actix-session's.
const TARGET_TO_BARE: f64 = 0.75;
const TARGET_TO_SESSION: f64 = 1.0;
/// Redis bytes per session at 5 sessions per user, and at one.
const TARGET_BYTES: f64 = 600.0;
const TARGET_BYTES_SINGLE: f64 = 800.0;

pub(crate) struct Report {
    pub(crate) duration: String,
    pub(crate) redis_version: String,
    /// The throughput rounds; `None` with `BENCH_ONLY=memory`.
    pub(crate) rounds: Option<Rounds>,
    pub(crate) keys: Vec<KeySample>,
    pub(crate) redis_args: Vec<String>,
    /// The layout (several sessions per user) first, then one session per user.
    pub(crate) memory: Vec<Memory>,
    /// `/proc/loadavg` when the bench started.
    pub(crate) loadavg: String,
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// `make bench` builds with the release profile; `--profile dev` (enough for the memory
/// alone, which counts bytes, not time) does not.
fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

impl Report {
    pub(crate) fn print(&self, overrides: &[String]) {
        self.print_setup(overrides);
        if let Some(rounds) = &self.rounds {
            print_rounds(rounds);
            print_medians(rounds);
        }
        self.print_memory();
        println!();
        if let Some(rounds) = &self.rounds {
            print_throughput_targets(rounds);
        }
        self.print_memory_targets();
    }

    fn print_setup(&self, overrides: &[String]) {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!();
        if pinned() {
            println!(
                "latchkey bench: {} build on 127.0.0.1, pinned: the servers alone on CPU \
                 {SERVER_CPU} ({cpus} actix worker each), Redis {} and wrk on CPU {LOAD_CPU}",
                build(),
                self.redis_version
            );
        } else {
            println!(
                "latchkey bench: {} build on 127.0.0.1, {cpus} CPUs shared by the servers \
                 ({cpus} actix workers each), Redis {} and wrk",
                build(),
                self.redis_version
            );
        }
        match &self.rounds {
            Some(rounds) => println!(
                "wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{} --latency after a {WARM_UP} warm-up, \
                 {} rounds in rotated order; load average at the start: {}",
                self.duration,
                rounds.samples.len(),
                self.loadavg
            ),
            None => println!(
                "BENCH_ONLY=memory: no load; load average at the start: {}",
                self.loadavg
            ),
        }
        if !overrides.is_empty() {
            println!("overrides: {}", overrides.join(" "));
        }
    }

    fn print_memory(&self) {
        println!();
        println!("Redis memory (INFO memory used_memory, after - before, from an empty database)");
        println!(
            "{:<24} {:<8} {:>9} {:>8} {:>12} {:>14} {:>9}",
            "sessions", "layout", "sessions", "keys", "bytes", "bytes/session", "start/s"
        );
        for m in &self.memory {
            let plural = if m.per_user == 1 { "" } else { "s" };
            println!(
                "{:<24} {:<8} {:>9} {:>8} {:>12} {:>14.1} {:>9.0}",
                format!("{} users x {} session{plural}", m.users, m.per_user),
                m.layout.as_str(),
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
    }

    fn print_memory_targets(&self) {
        for m in &self.memory {
            let target = if m.per_user == 1 {
                TARGET_BYTES_SINGLE
            } else {
                TARGET_BYTES
            };
            let bytes = m.per_session();
            println!(
                "target: <= {target:.0} bytes of Redis per session ({} per user, redis.layout = {}): {bytes:.0}, {}",
                m.per_user,
                m.layout.as_str(),
                verdict(bytes <= target)
            );
        }
    }
}

fn print_rounds(rounds: &Rounds) {
    println!();
    println!(
        "{:<26} {:>6} {:>11} {:>9} {:>9}",
        "route", "round", "requests/s", "p50", "p99"
    );
    for (i, name) in rounds.routes.iter().enumerate() {
        for (round, samples) in rounds.samples.iter().enumerate() {
            let w = &samples[i].wrk;
            println!(
                "{:<26} {:>6} {:>11.0} {:>9} {:>9}",
                name,
                round + 1,
                w.rps,
                ms(w.p50_us),
                ms(w.p99_us)
            );
        }
    }
}

fn print_medians(r: &Rounds) {
    let session = r.index(ACTIX_SESSION);
    let bare = r.index(BARE_GET);
    println!();
    println!("medians over rounds (ratios: the median of each round's ratio)");
    println!(
        "{:<26} {:>11} {:>9} {:>9} {:>10} {:>10} {:>11} {:>9}",
        "route", "requests/s", "p50", "p99", "x session", "x bare GET", "server us", "Redis us"
    );
    for (i, name) in r.routes.iter().enumerate() {
        let ratio = |to: Option<usize>| to.map_or(f64::NAN, |to| r.ratio(i, to));
        println!(
            "{:<26} {:>11.0} {:>9} {:>9} {:>10.2} {:>10.2} {:>11.1} {:>9.1}",
            name,
            r.median(i, |s| s.wrk.rps),
            ms(r.median(i, |s| s.wrk.p50_us)),
            ms(r.median(i, |s| s.wrk.p99_us)),
            ratio(session),
            ratio(bare),
            r.median(i, |s| s.server_us),
            r.median(i, |s| s.redis_us),
        );
    }
    println!("server us / Redis us: CPU per request of this process (the server under load) and of redis-server");
    println!("every answer was 2xx (wrk reported no non-2xx answer and no socket error)");
    println!("Redis commands per request (first round):");
    for (i, name) in r.routes.iter().enumerate() {
        let commands = &r.samples[0][i].commands;
        let list: Vec<String> = commands
            .iter()
            .filter(|(_, per)| **per >= 0.005)
            .map(|(c, per)| format!("{c} {per:.2}"))
            .collect();
        println!(
            "  {:<26} {}",
            name,
            if list.is_empty() {
                "none".into()
            } else {
                list.join(", ")
            }
        );
    }
}

fn print_throughput_targets(r: &Rounds) {
    if let (Some(info), Some(bare), Some(session)) = (
        r.index(USER_INFO),
        r.index(BARE_GET),
        r.index(ACTIX_SESSION),
    ) {
        let to_bare = r.ratio(info, bare);
        let to_session = r.ratio(info, session);
        let p99 = r.median(info, |s| s.wrk.p99_us);
        let p99_session = r.median(session, |s| s.wrk.p99_us);
        println!(
            "target: /api/user/info >= {TARGET_TO_BARE:.2} x the bare one-GET peer's req/s: {to_bare:.3}, {}",
            verdict(to_bare >= TARGET_TO_BARE)
        );
        println!(
            "target: /api/user/info >= {TARGET_TO_SESSION:.2} x actix-session's req/s: {to_session:.3}, {}",
            verdict(to_session >= TARGET_TO_SESSION)
        );
        println!(
            "target: /api/user/info p99 <= actix-session's: {} against {}, {}",
            ms(p99),
            ms(p99_session),
            verdict(p99 <= p99_session)
        );
    }
}
