//! Throughput side by side: every route under the same wrk load, in rounds whose order
//! rotates, so that no route always runs first (on a warmer or quieter machine) or last.
//! Each measured run also reads the CPU Redis and this process (the servers) spent, and the
//! commands Redis ran, and divides them by the requests wrk counted.

use std::collections::BTreeMap;

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use testkit::redis::stats;

use crate::wrk::{wrk, Wrk, WARM_UP};

/// One route under load.
pub(crate) struct Route {
    pub(crate) name: &'static str,
    pub(crate) url: String,
    pub(crate) cookie: Option<String>,
    /// The process that serves it, when not this one (latchkey's own server, the binary).
    pub(crate) server: Option<u32>,
}

/// One measured run of one route.
#[derive(Clone)]
pub(crate) struct Sample {
    pub(crate) wrk: Wrk,
    /// Redis' CPU (`INFO cpu`, user + system) per request, µs.
    pub(crate) redis_us: f64,
    /// The serving process' CPU per request, µs: latchkey's server process, or this one for
    /// the peers (its other threads idle under their load).
    pub(crate) server_us: f64,
    /// The commands Redis ran per request (`INFO commandstats`), by name.
    pub(crate) commands: BTreeMap<String, f64>,
}

/// `samples[round][route]`, routes in the order of `routes`.
pub(crate) struct Rounds {
    pub(crate) routes: Vec<&'static str>,
    pub(crate) samples: Vec<Vec<Sample>>,
}

pub(crate) async fn run(
    routes: &[Route],
    rounds: usize,
    duration: &str,
    conn: &mut MultiplexedConnection,
) -> anyhow::Result<Rounds> {
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut this: Vec<Option<Sample>> = vec![None; routes.len()];
        for i in 0..routes.len() {
            let at = (i + round) % routes.len();
            let route = &routes[at];
            println!(
                "round {}/{rounds}: wrk on {} ({WARM_UP} warm-up, then {duration}) ...",
                round + 1,
                route.name
            );
            let cookie = route.cookie.as_deref();
            wrk(&route.url, cookie, WARM_UP).await?;
            redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .query_async::<()>(&mut *conn)
                .await?;
            let (redis_before, server_before) =
                (redis_cpu(conn).await?, process_cpu(route.server)?);
            let measured = wrk(&route.url, cookie, duration).await?;
            let (redis_after, server_after) = (redis_cpu(conn).await?, process_cpu(route.server)?);
            let calls = stats::command_calls(&mut *conn).await?;
            let n = measured.requests.max(1) as f64;
            let commands = calls
                .into_iter()
                .filter(|(c, _)| c != "info" && !c.starts_with("config"))
                .map(|(c, calls)| (c, calls as f64 / n))
                .collect();
            this[at] = Some(Sample {
                redis_us: (redis_after - redis_before) * 1e6 / n,
                server_us: (server_after - server_before) * 1e6 / n,
                wrk: measured,
                commands,
            });
        }
        samples.push(
            this.into_iter()
                .collect::<Option<Vec<_>>>()
                .context("a route was not measured")?,
        );
    }
    Ok(Rounds {
        routes: routes.iter().map(|r| r.name).collect(),
        samples,
    })
}

impl Rounds {
    /// The median over rounds of `f` of one route.
    pub(crate) fn median(&self, route: usize, f: impl Fn(&Sample) -> f64) -> f64 {
        median(self.samples.iter().map(|round| f(&round[route])).collect())
    }

    /// The median over rounds of route `a`'s req/s divided by route `b`'s in the same round.
    pub(crate) fn ratio(&self, a: usize, b: usize) -> f64 {
        median(
            self.samples
                .iter()
                .map(|round| round[a].wrk.rps / round[b].wrk.rps)
                .collect(),
        )
    }

    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.routes.iter().position(|r| *r == name)
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Redis' CPU seconds so far, user and system (`INFO cpu`).
async fn redis_cpu(conn: &mut MultiplexedConnection) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for field in ["used_cpu_user", "used_cpu_sys"] {
        let raw = stats::info_field(&mut *conn, "cpu", field)
            .await?
            .with_context(|| format!("INFO cpu has no {field}"))?;
        total += raw
            .parse::<f64>()
            .with_context(|| format!("{field} is {raw:?}"))?;
    }
    Ok(total)
}

/// A process' CPU seconds so far (`None`: this one), user and system, from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s, Linux' `USER_HZ`).
fn process_cpu(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields; the name is the 2nd, state the 3rd.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        let raw = fields.get(i).with_context(|| format!("{path} is short"))?;
        Ok(raw.parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
