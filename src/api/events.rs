//! `GET /api/user/events`: the caller's own security events, newest first — what a "recent
//! activity" panel shows ("new sign-in from Firefox on Linux").

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::events::{self, EventQuery};
use crate::api::extract::Authenticated;
use crate::api::responses::{RateLimited, Succeeded, Unauthenticated};
use crate::api::state::AppState;
use crate::http::error::{ErrorBody, Flag};
use crate::http::ApiError;

/// How many events an answer holds unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 100;

/// One security event of the caller. Times are RFC 3339 in UTC.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    #[schema(format = DateTime)]
    at: String,
    /// `login`, `login_failed`, `logout`, `session_revoked`, `sessions_revoked`,
    /// `plan_changed`, `account_disabled`, `account_enabled` or `account_deleted`.
    #[schema(example = "login")]
    kind: String,
    /// The client's device ("Firefox 153 on Linux"); null where there was no client (an
    /// operator's command, Stripe, an eviction).
    #[schema(required = true, example = "Firefox 153 on Linux")]
    device: Option<String>,
    /// The client's address; null where there was no client.
    #[schema(required = true)]
    ip: Option<String>,
    /// Why: `revoked`, `revoked_by_operator` or `evicted` for a revocation, the refusal's code
    /// for `login_failed`, the source (`stripe`, `operator`, `lapsed`) for `plan_changed`;
    /// null where the kind has none.
    #[schema(required = true)]
    reason: Option<String>,
}

/// `GET /api/user/events`'s answer.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    success: Succeeded,
    events: Vec<EventView>,
}

/// The caller's own security events, newest first.
#[utoipa::path(
    get,
    path = "/api/user/events",
    tag = "user",
    summary = "My recent security events",
    description = "The caller's own security events (sign-ins, sign-outs, revocations, plan \
        changes, an operator's actions on the account), newest first. Read from the database: \
        events of the last moments may still be on their way to it.",
    params(("limit" = Option<u64>, Query, minimum = 1,
        description = "At most this many events (default 20; above 100 reads as 100).")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's events, newest first.", body = EventList),
        (status = 400, description = "`invalid_request`: `limit` is not a whole number of at \
            least 1.", body = ErrorBody),
        (status = 401, response = Unauthenticated),
        (status = 429, response = RateLimited),
        (status = 503, description = "`session_store_unavailable`: Redis did not answer in time; \
            or `database_unavailable`: the database did not.", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again."))),
    )
)]
pub async fn my_events(
    req: HttpRequest,
    Authenticated(current): Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(req.query_string())?;
    let query = EventQuery {
        user_id: Some(current.user_id),
        limit,
        ..EventQuery::default()
    };
    // Counted in `latchkey_dependency_errors_total` by `observe`, as every such answer.
    let rows = events::find(&state.db, &query)
        .await
        .map_err(|e| ApiError::DatabaseUnavailable(e.into()))?;
    let events = rows
        .into_iter()
        .map(|e| EventView {
            at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            kind: e.kind,
            device: e.device,
            ip: e.ip,
            reason: e.reason,
        })
        .collect();
    Ok(HttpResponse::Ok().json(EventList {
        success: Flag,
        events,
    }))
}

/// `limit` from the query string: absent is the default, above the maximum the maximum;
/// anything but one whole number of at least 1 is the client's mistake.
fn limit(query: &str) -> Result<u64, ApiError> {
    let bad = || ApiError::BadRequest {
        code: "invalid_request",
        message: "limit must be a whole number of at least 1.".into(),
    };
    let mut found = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key == "limit" {
            if found.is_some() {
                return Err(bad());
            }
            found = Some(value.into_owned());
        }
    }
    match found {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<u64>() {
            Ok(0) => Err(bad()),
            Ok(n) => Ok(n.min(MAX_LIMIT)),
            // All digits but too long for u64: a very large number, read as the maximum.
            Err(_)
                if !raw.is_empty()
                    && raw.len() <= 1000
                    && raw.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(MAX_LIMIT)
            }
            Err(_) => Err(bad()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_strictly() {
        assert_eq!(limit("").ok(), Some(20));
        assert_eq!(limit("limit=5").ok(), Some(5));
        assert_eq!(limit("limit=100").ok(), Some(100));
        assert_eq!(limit("limit=101").ok(), Some(100));
        assert_eq!(limit(&format!("limit={}", "9".repeat(60))).ok(), Some(100));
        for bad in [
            "limit=0",
            "limit=-1",
            "limit=",
            "limit=abc",
            "limit=1e3",
            "limit=%00",
            "limit=1&limit=2",
            "limit=+5",
            "limit=5.0",
        ] {
            assert!(limit(bad).is_err(), "{bad}");
        }
    }
}
