//! Per-IP and per-session request limits on the routes worth abusing: the sign-in routes
//! (CSRF token, login, callback) and the vision proxy. Fixed windows counted in the session
//! store, so every replica shares them (contract: limits shared across replicas through Redis).
//!
//! A limiter that cannot reach Redis lets the request through (and logs it): the routes
//! behind it need Redis anyway and will say so themselves; a limiter must not turn a blip
//! into an outage of its own.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use super::error::ApiError;
use super::extract::{client_ip, session_token};
use crate::session::now_ms;
use crate::state::AppState;

/// Which limits a request is subject to, from its path.
enum Scope {
    Auth,
    Vision,
}

fn scope(req: &ServiceRequest) -> Option<Scope> {
    if req.method() == Method::OPTIONS {
        return None;
    }
    let path = req.path();
    if path == "/auth/csrf-token"
        || (path.starts_with("/auth/") && (path.ends_with("/login") || path.ends_with("/callback")))
    {
        Some(Scope::Auth)
    } else if path == "/api/openai/extract-subtitles" {
        Some(Scope::Vision)
    } else {
        None
    }
}

pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (Some(scope), Some(state)) = (scope(&req), req.app_data::<web::Data<AppState>>().cloned())
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let limits = &state.settings.limits;
    // Without a peer address (not over TCP) all such requests share one budget.
    let ip = client_ip(req.request(), &limits.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let mut checks = Vec::with_capacity(2);
    match scope {
        Scope::Auth => checks.push((format!("auth:ip:{ip}"), limits.auth_per_ip)),
        Scope::Vision => {
            checks.push((format!("vision:ip:{ip}"), limits.vision_per_ip));
            if let Some(token) = session_token(req.request(), &state.cookies.session_name) {
                let id = token.hash().public_id();
                checks.push((format!("vision:session:{id}"), limits.vision_per_session));
            }
        }
    }
    for (key, limit) in checks {
        if let Some(retry_after_secs) = over_limit(&state, &key, limit).await {
            let res = ApiError::RateLimited { retry_after_secs }.error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Counts one hit in the current window of `key`; the seconds until the window ends when
/// this hit is over `limit`.
async fn over_limit(state: &AppState, key: &str, limit: u64) -> Option<i64> {
    let window_ms = i64::try_from(state.settings.limits.window.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    let window = now.div_euclid(window_ms);
    let key = format!("rl:{key}:{window}");
    match state.sessions.store().hit(&key, window_ms).await {
        Ok(count) if count > limit => {
            let ends = (window + 1) * window_ms;
            Some(((ends - now) / 1000).max(1))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter could not count; letting the request through");
            None
        }
    }
}
