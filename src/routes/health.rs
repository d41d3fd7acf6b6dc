use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "success": true, "status": "ok" }))
}

/// Readiness: Redis and the database both answer; otherwise 503 naming which does not.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().json(json!({
            "success": false,
            "error": "not ready: shutting down",
            "code": "draining",
        }));
    }
    let (redis, database) = tokio::join!(state.sessions.store().ping(), state.db.ping());
    let down: Vec<&str> = [("redis", redis.is_ok()), ("database", database.is_ok())]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
    if down.is_empty() {
        return HttpResponse::Ok().json(json!({ "success": true, "status": "ready" }));
    }
    let message = format!("not ready: {} not answering", down.join(" and "));
    HttpResponse::ServiceUnavailable().json(json!({
        "success": false,
        "error": message,
        "code": "not_ready",
        "unavailable": down,
    }))
}
