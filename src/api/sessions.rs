use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::api::extract::{client_info, has_bearer, Authenticated, CsrfVerified};
use crate::api::responses::{rfc3339, Succeeded};
use crate::api::responses::{CsrfRefused, RateLimited, StoreUnavailable, Unauthenticated};
use crate::api::state::AppState;
use crate::http::error::ErrorBody;
use crate::http::error::Flag;
use crate::http::ApiError;
use crate::session::Current;
use crate::session::{Ending, PublicId, Revoke};

/// One live session of the caller. Times are RFC 3339 in UTC.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// The public id (16 hex digits), derived from the stored hash: not a usable token.
    #[schema(value_type = String, pattern = "^[0-9a-f]{16}$", example = "3f9a0c1d2e4b5a67")]
    id: PublicId,
    #[schema(required = true, format = DateTime)]
    created_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    last_seen_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    expires_at: Option<String>,
    /// The `User-Agent` of the request that signed in ("" when none).
    user_agent: String,
    /// A short name read from the user agent ("Chrome 131 on Windows"; "Unknown device" when
    /// it cannot be read).
    #[schema(example = "Chrome 131 on Windows")]
    device: String,
    /// The client's address at sign-in ("" when unknown).
    ip: String,
    /// How the client carries the session: `cookie` (the session cookie) or `bearer` (an
    /// `Authorization: Bearer` header, token mode).
    #[schema(value_type = String, example = "cookie")]
    transport: &'static str,
    /// This is the session of the request.
    current: bool,
}

/// `GET /api/sessions`'s answer.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    success: Succeeded,
    sessions: Vec<SessionView>,
}

/// What a revocation did.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    success: Succeeded,
    /// How many sessions were revoked.
    #[schema(minimum = 0)]
    revoked: u64,
}

/// The caller's live sessions, so they can recognise and end the ones they do not want.
#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    summary = "List my sessions",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live sessions.", body = SessionList),
        (status = 401, response = Unauthenticated),
        (status = 429, response = RateLimited),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn list(
    Authenticated(current): Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sessions: Vec<SessionView> = state
        .sessions
        .list(current.user_id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.hash.public_id(),
            created_at: rfc3339(s.record.created_ms),
            last_seen_at: rfc3339(s.record.last_seen_ms),
            expires_at: rfc3339(s.expires_ms),
            device: crate::device::name(&s.record.user_agent),
            user_agent: s.record.user_agent,
            ip: s.record.ip,
            transport: s.record.transport.as_str(),
            current: s.hash == current.hash,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList {
        success: Flag,
        sessions,
    }))
}

/// Revokes one of the caller's own sessions. An id that is malformed, unknown or another
/// user's answers the same 404, so ids cannot be probed.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    tag = "sessions",
    summary = "Revoke one of my sessions",
    description = "Revokes one of the caller's sessions; revoking the current one with the \
        cookie also clears the cookie. Needs `X-CSRF-Token` equal to the CSRF cookie, or a \
        bearer token.",
    params(("id" = String, Path, description = "A session's public id, from `GET /api/sessions`.",
        example = "3f9a0c1d2e4b5a67")),
    security(("csrf_cookie" = [], "csrf_header" = [], "session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Revoked.", body = Revoked,
            headers(("Set-Cookie" = String, description = "Clears the session cookie when the \
                current session was revoked."))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 404, description = "`session_not_found`: not one of the caller's live \
            sessions (malformed ids too).", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn revoke_one(
    _csrf: CsrfVerified,
    req: HttpRequest,
    Authenticated(current): Authenticated,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = PublicId::parse(&path).ok_or(ApiError::SessionNotFound)?;
    let revoked = state
        .sessions
        .end(
            current.user_id,
            &Revoke::ByPublicId(id.clone()),
            Ending::Revoked,
        )
        .await?;
    state.metrics.sessions_revoked.inc_by(revoked);
    if revoked == 0 {
        return Err(ApiError::SessionNotFound);
    }
    state.journal.event(
        by_the_user(&req, &current, Kind::SessionRevoked)
            .session(id)
            .reason("revoked"),
    );
    let mut res = HttpResponse::Ok();
    // Only a request that came with the cookie has a cookie of this session to clear: one
    // that came with `Authorization: Bearer` (whatever way its session began) leaves the
    // browser's cookie, which may name another session, alone, as logout does.
    if current.hash.public_id().as_str() == path.as_str() && !has_bearer(req.headers()) {
        res.append_header(state.cookies.clear_session());
    }
    Ok(res.json(Revoked {
        success: Flag,
        revoked,
    }))
}

/// Revokes every session of the caller but the current one ("sign out everywhere else").
#[utoipa::path(
    delete,
    path = "/api/sessions",
    tag = "sessions",
    summary = "Revoke my other sessions",
    description = "Signs out everywhere else: revokes every session of the caller but the \
        current one. Needs `X-CSRF-Token` equal to the CSRF cookie.",
    security(("csrf_cookie" = [], "csrf_header" = [], "session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions were revoked.", body = Revoked),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 429, response = RateLimited),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn revoke_others(
    _csrf: CsrfVerified,
    req: HttpRequest,
    Authenticated(current): Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .sessions
        .end(
            current.user_id,
            &Revoke::AllExcept(current.hash),
            Ending::Revoked,
        )
        .await?;
    state.metrics.sessions_revoked.inc_by(revoked);
    if revoked > 0 {
        state.journal.event(
            by_the_user(&req, &current, Kind::SessionsRevoked)
                .reason("revoked")
                .detail("by", "user")
                .detail("count", revoked),
        );
    }
    Ok(HttpResponse::Ok().json(Revoked {
        success: Flag,
        revoked,
    }))
}

/// An event the signed-in caller caused: from this request's address, and the device of the
/// session it came with (the user agent it signed in with, as the session list shows it).
fn by_the_user(req: &HttpRequest, current: &Current, kind: Kind) -> SecurityEvent {
    let client = client_info(req);
    SecurityEvent::new(kind, Actor::User)
        .user(current.user_id)
        .client(&client.ip, &current.record.user_agent)
        .detail("from_session", current.hash.public_id().to_string())
}
