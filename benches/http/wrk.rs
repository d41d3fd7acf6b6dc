//! Throughput: `wrk` against one URL, its report read back.

use anyhow::{bail, ensure, Context};

use crate::machine::command;

/// wrk's load: 64 connections on one thread, as the peers were first measured; one thread
/// leaves more of the two cores to the servers and Redis.
pub(crate) const WRK_CONNECTIONS: u32 = 64;
pub(crate) const WRK_THREADS: u32 = 1;
pub(crate) const WARM_UP: &str = "1s";

/// What one wrk run measured.
#[derive(Debug, Clone)]
pub(crate) struct Wrk {
    pub(crate) requests: u64,
    pub(crate) rps: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

pub(crate) async fn wrk(url: &str, cookie: Option<&str>, duration: &str) -> anyhow::Result<Wrk> {
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
