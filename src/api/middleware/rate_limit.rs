//! Per-address and per-session request limits on the routes worth abusing: the sign-in routes
//! (CSRF token, login, callback), the vision proxy and the session routes. Fixed windows
//! counted in the session store, so every replica shares them.
//!
//! Each route declares its limit in the route table (`crate::api::ROUTES`) and the limit
//! wraps that route's handler, so it runs after the router has matched the request: whatever
//! spelling of a path reaches a handler (`/auth/csrf-toke%6E` is `/auth/csrf-token` to the
//! router) has passed its limit. Choosing the limit from the raw path in front of the router
//! let such spellings through unlimited.
//!
//! A limiter that cannot reach Redis lets the request through (and logs it): the routes
//! behind it need Redis anyway and will say so themselves; a limiter must not turn a blip
//! into an outage of its own.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError};

use crate::api::extract::{client_ip, credential};
use crate::api::state::AppState;
use crate::http::{client_addr, ApiError};
use crate::session::now_ms;

/// The limits a route is subject to, declared with the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// Starting and finishing a sign-in: per client address (`limits.auth_per_ip`).
    SignIn,
    /// The vision proxy: per client address and per session.
    Vision,
    /// Listing and revoking sessions: per session (`limits.sessions_per_session`), so that a
    /// session cannot keep Redis busy walking its user's index.
    Sessions,
}

/// The middleware for one route's limit; `crate::api::configure` wraps each limited route
/// in it.
pub async fn enforce(
    scope: LimitScope,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    for (key, limit) in checks(scope, req.request(), &state) {
        if let Some(retry_after_secs) = over_limit(&state, &key, limit).await {
            let res = ApiError::RateLimited { retry_after_secs }.error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The counters a request of `scope` hits, each with its limit.
fn checks(scope: LimitScope, req: &HttpRequest, state: &AppState) -> Vec<(String, u64)> {
    let limits = &state.settings.limits;
    // Without a peer address (not over TCP) all such requests share one budget. Read only by
    // the scopes that count per address.
    let ip = || client_ip(req).map_or_else(|| "unknown".to_owned(), client_addr::limit_key);
    // Whichever credential names the session, the same one the handler will authenticate.
    let session = || {
        credential(req, &state.cookies.session_name)
            .token()
            .map(|t| t.hash().public_id().to_string())
    };
    let mut checks = Vec::with_capacity(2);
    match scope {
        LimitScope::SignIn => checks.push((format!("auth:ip:{}", ip()), limits.auth_per_ip)),
        LimitScope::Vision => {
            checks.push((format!("vision:ip:{}", ip()), limits.vision_per_ip));
            if let Some(id) = session() {
                checks.push((format!("vision:session:{id}"), limits.vision_per_session));
            }
        }
        LimitScope::Sessions => {
            if let Some(id) = session() {
                checks.push((
                    format!("sessions:session:{id}"),
                    limits.sessions_per_session,
                ));
            }
        }
    }
    checks
}

/// Counts one hit in the current window of `key`; the seconds until the window ends when
/// this hit is over `limit`.
async fn over_limit(state: &AppState, key: &str, limit: u64) -> Option<i64> {
    let window_ms = i64::try_from(state.settings.limits.window.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    let window = now.div_euclid(window_ms);
    let key = format!("rl:{key}:{window}");
    match state.scratch.hit(&key, window_ms).await {
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
