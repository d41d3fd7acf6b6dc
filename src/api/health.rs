use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::responses::Succeeded;
use crate::api::state::AppState;
use crate::http::error::ApiError;
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
///
/// `?exclude=database` leaves the database out: ready when Redis answers. It is the probe the
/// Kubernetes manifests use, because every signed-in request needs Redis only; with the
/// database in the probe, a database outage would make every replica unready at once and the
/// Service would refuse signed-in users that Redis could serve (docs/operations.md,
/// "Readiness and the database"). Redis cannot be excluded: no request works without it.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    params(("exclude" = Option<String>, Query, pattern = "^database$",
        description = "`database`: ready when Redis answers, whatever the database does (the \
            readiness probe of a deployment where signed-in users must be served through a \
            database outage).")),
    responses(
        (status = 200, description = "Redis and the database answer (with \
            `exclude=database`: Redis answers).", body = Status,
            example = json!({"success": true, "status": "ready"})),
        (status = 400, description = "`invalid_request`: `exclude` is given more than once or \
            names something other than `database`.", body = crate::http::error::ErrorBody),
        (status = 503, description = "`not_ready`: Redis or the database does not answer \
            (`unavailable` names which); or `draining`: the server is shutting down.",
            body = NotReady,
            example = json!({"success": false, "error": "not ready: redis not answering",
                "code": "not_ready", "unavailable": ["redis"]})),
    )
)]
pub async fn readyz(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let with_database = !excludes_database(req.query_string())?;
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(HttpResponse::ServiceUnavailable().json(NotReady {
            success: Flag,
            error: "not ready: shutting down".into(),
            code: "draining",
            unavailable: None,
        }));
    }
    let down = unavailable(&state, with_database).await;
    if down.is_empty() {
        return Ok(HttpResponse::Ok().json(Status {
            success: Flag,
            status: "ready",
        }));
    }
    let message = format!("not ready: {} not answering", down.join(" and "));
    Ok(HttpResponse::ServiceUnavailable().json(NotReady {
        success: Flag,
        error: message,
        code: "not_ready",
        unavailable: Some(down),
    }))
}

/// The dependencies that do not answer, Redis and (unless left out) the database asked at once.
async fn unavailable(state: &AppState, with_database: bool) -> Vec<&'static str> {
    let database = async {
        if !with_database {
            return true;
        }
        // Bounded like Redis' check (redis.timeout), so that the probe answers within its own
        // timeout even when the database's host does not answer at all.
        let ping = tokio::time::timeout(state.settings.redis.timeout, state.db.ping());
        matches!(ping.await, Ok(Ok(())))
    };
    let (redis, database_ok) = tokio::join!(state.sessions.ping(), database);
    [("redis", redis.is_ok()), ("database", database_ok)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect()
}

/// Whether the query asks to leave the database out (`exclude=database`, once). Other
/// parameters are ignored, as on every route; an `exclude` naming anything else is refused
/// rather than ignored, so that a typo in a probe cannot silently check less than intended.
fn excludes_database(query: &str) -> Result<bool, ApiError> {
    let mut excluded = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key != "exclude" {
            continue;
        }
        if excluded.is_some() || value != "database" {
            return Err(ApiError::BadRequest {
                code: "invalid_request",
                message: "exclude may be given once, as exclude=database.".into(),
            });
        }
        excluded = Some(true);
    }
    Ok(excluded.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::excludes_database;

    #[test]
    fn only_one_exclude_of_the_database_is_read() {
        assert_eq!(excludes_database("").ok(), Some(false));
        assert_eq!(excludes_database("other=1").ok(), Some(false));
        assert_eq!(excludes_database("exclude=database").ok(), Some(true));
        assert_eq!(excludes_database("x=1&exclude=%64atabase").ok(), Some(true));
        for refused in [
            "exclude=",
            "exclude",
            "exclude=redis",
            "exclude=Database",
            "exclude=database,redis",
            "exclude=database&exclude=database",
            "exclude=database%00",
        ] {
            assert!(excludes_database(refused).is_err(), "{refused}");
        }
    }
}
