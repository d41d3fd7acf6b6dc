//! What the bench prints: both measurements, the Redis commands per request, the keys of one
//! user, and each figure against its target.

use std::collections::BTreeMap;

use crate::machine::{pinned, LOAD_CPU, SERVER_CPU};
use crate::memory::{KeySample, Memory, SESSIONS_PER_USER};
use crate::wrk::{Wrk, WARM_UP, WRK_CONNECTIONS, WRK_THREADS};

const TARGET_RATIO: f64 = 0.75;
const TARGET_BYTES: f64 = 600.0;

pub(crate) struct Report {
    pub(crate) duration: String,
    pub(crate) redis_version: String,
    pub(crate) healthz: Wrk,
    pub(crate) info: Wrk,
    pub(crate) commands: BTreeMap<String, u64>,
    pub(crate) keys: Vec<KeySample>,
    pub(crate) redis_args: Vec<String>,
    /// The layout (several sessions per user) first.
    pub(crate) memory: Vec<Memory>,
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
    pub(crate) fn print(&self, overrides: &[String]) {
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
