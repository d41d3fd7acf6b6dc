//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! One registry per application (not a process global), so that tests running several apps in
//! one process each see their own counters.

use crate::audit::JournalMetrics;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Requests by route template (never the raw path, which would explode cardinality),
    /// method and status.
    pub http_requests: HistogramVec,
    pub sessions_created: IntCounter,
    pub sessions_revoked: IntCounter,
    /// Sessions ended because their user signed in beyond `session.max_per_user`.
    pub sessions_evicted: IntCounter,
    /// Logins by provider and outcome (`success`, or the refusal's code).
    pub logins: IntCounterVec,
    /// Failures of our own dependencies, by `redis` or `database`.
    pub dependency_errors: IntCounterVec,
    /// Vision calls by outcome (`success`, `upstream_error`, `upstream_timeout`).
    pub vision_calls: IntCounterVec,
    pub vision_latency: HistogramVec,
    pub quota_refusals: IntCounter,
    /// Requests refused by the `Origin` guard (no label: the origin is the client's choice).
    pub origin_refusals: IntCounter,
    /// Refusals while the rest of the quota is held by calls in progress (`quota_busy`): not a
    /// used-up quota, so not in `quota_refusals_total`.
    pub quota_busy_refusals: IntCounter,
    /// The journal of security events and usage records (`crate::audit`), by `record`.
    pub journal: JournalMetrics,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("latchkey".into()), None)?;
        let metrics = Self {
            http_requests: HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "HTTP requests by route, method and status",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ]),
                &["route", "method", "status"],
            )?,
            sessions_created: IntCounter::new(
                "sessions_created_total",
                "Sessions started by a login",
            )?,
            sessions_revoked: IntCounter::new(
                "sessions_revoked_total",
                "Sessions revoked through the HTTP API",
            )?,
            sessions_evicted: IntCounter::new(
                "sessions_evicted_total",
                "Oldest sessions ended by a login beyond session.max_per_user",
            )?,
            logins: IntCounterVec::new(
                Opts::new("logins_total", "Login callbacks by provider and outcome"),
                &["provider", "outcome"],
            )?,
            dependency_errors: IntCounterVec::new(
                Opts::new(
                    "dependency_errors_total",
                    "Requests that failed because Redis or the database did not answer",
                ),
                &["dependency"],
            )?,
            vision_calls: IntCounterVec::new(
                Opts::new("vision_calls_total", "Calls to the vision API by outcome"),
                &["outcome"],
            )?,
            vision_latency: HistogramVec::new(
                HistogramOpts::new("vision_upstream_seconds", "Latency of the vision API")
                    .buckets(vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0]),
                &["outcome"],
            )?,
            quota_refusals: IntCounter::new(
                "quota_refusals_total",
                "Vision requests refused by the daily quota",
            )?,
            origin_refusals: IntCounter::new(
                "origin_refusals_total",
                "Requests refused because their Origin is not in cors.allowed_origins",
            )?,
            quota_busy_refusals: IntCounter::new(
                "quota_busy_refusals_total",
                "Vision requests refused because the rest of the daily quota was held by calls in progress",
            )?,
            journal: JournalMetrics {
                written: IntCounterVec::new(
                    Opts::new(
                        "journal_written_total",
                        "Security events and usage records written to the database",
                    ),
                    &["record"],
                )?,
                dropped: IntCounterVec::new(
                    Opts::new(
                        "journal_dropped_total",
                        "Security events and usage records lost: the queue was full, or the \
                         database refused them",
                    ),
                    &["record"],
                )?,
                retried: IntCounterVec::new(
                    Opts::new(
                        "journal_retries_total",
                        "Writes of the journal that failed and were tried again",
                    ),
                    &["record"],
                )?,
            },
            registry,
        };
        metrics.register()?;
        Ok(metrics)
    }

    fn register(&self) -> prometheus::Result<()> {
        let r = &self.registry;
        r.register(Box::new(self.http_requests.clone()))?;
        r.register(Box::new(self.sessions_created.clone()))?;
        r.register(Box::new(self.sessions_revoked.clone()))?;
        r.register(Box::new(self.sessions_evicted.clone()))?;
        r.register(Box::new(self.logins.clone()))?;
        r.register(Box::new(self.dependency_errors.clone()))?;
        r.register(Box::new(self.vision_calls.clone()))?;
        r.register(Box::new(self.vision_latency.clone()))?;
        r.register(Box::new(self.quota_refusals.clone()))?;
        r.register(Box::new(self.origin_refusals.clone()))?;
        r.register(Box::new(self.quota_busy_refusals.clone()))?;
        r.register(Box::new(self.journal.written.clone()))?;
        r.register(Box::new(self.journal.dropped.clone()))?;
        r.register(Box::new(self.journal.retried.clone()))?;
        Ok(())
    }

    /// The registry in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
