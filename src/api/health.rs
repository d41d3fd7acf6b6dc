use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::responses::Succeeded;
use crate::api::state::AppState;
use crate::http::error::Failed;
use crate::http::error::Flag;

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub success: Succeeded,
    /// `ok` (liveness) or `ready` (readiness).
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `/readyz` when not ready: the error envelope, plus which dependency does not answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReady {
    pub success: Failed,
    pub error: String,
    /// `not_ready`, or `draining` after SIGTERM.
    #[schema(pattern = "^[a-z][a-z0-9_]*$", example = "not_ready")]
    pub code: &'static str,
    /// With `not_ready`: `redis` and/or `database`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub unavailable: Option<Vec<&'static str>>,
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The Prometheus text exposition format (docs/api.md lists \
            the metrics).", body = String, content_type = "text/plain"),
    )
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process runs.", body = Status)),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        success: Flag,
        status: "ok",
    })
}

/// Readiness: Redis and the database both answer; otherwise 503 naming which does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "Redis and the database answer.", body = Status,
            example = json!({"success": true, "status": "ready"})),
        (status = 503, description = "`not_ready`: Redis or the database does not answer \
            (`unavailable` names which); or `draining`: the server is shutting down.",
            body = NotReady,
            example = json!({"success": false, "error": "not ready: redis not answering",
                "code": "not_ready", "unavailable": ["redis"]})),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().json(NotReady {
            success: Flag,
            error: "not ready: shutting down".into(),
            code: "draining",
            unavailable: None,
        });
    }
    // Bounded like Redis' check (redis.timeout), so that the probe answers within its own
    // timeout even when the database's host does not answer at all.
    let database = tokio::time::timeout(state.settings.redis.timeout, state.db.ping());
    let (redis, database) = tokio::join!(state.sessions.ping(), database);
    let database_ok = matches!(database, Ok(Ok(())));
    let down: Vec<&str> = [("redis", redis.is_ok()), ("database", database_ok)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
    if down.is_empty() {
        return HttpResponse::Ok().json(Status {
            success: Flag,
            status: "ready",
        });
    }
    let message = format!("not ready: {} not answering", down.join(" and "));
    HttpResponse::ServiceUnavailable().json(NotReady {
        success: Flag,
        error: message,
        code: "not_ready",
        unavailable: Some(down),
    })
}
