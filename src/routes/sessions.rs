use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;

use super::rfc3339;
use crate::http::{ApiError, Authenticated, CsrfVerified};
use crate::session::{PublicId, Revoke};
use crate::state::AppState;

#[derive(Serialize)]
struct SessionView {
    id: PublicId,
    created_at: Option<String>,
    last_seen_at: Option<String>,
    expires_at: Option<String>,
    user_agent: String,
    ip: String,
    current: bool,
}

/// The caller's live sessions, so they can recognise and end the ones they do not want.
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
            user_agent: s.record.user_agent,
            ip: s.record.ip,
            current: s.hash == current.hash,
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "success": true, "sessions": sessions })))
}

/// Revokes one of the caller's own sessions. An id that is malformed, unknown or another
/// user's answers the same 404, so ids cannot be probed.
pub async fn revoke_one(
    _csrf: CsrfVerified,
    Authenticated(current): Authenticated,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = PublicId::parse(&path).ok_or(ApiError::SessionNotFound)?;
    let revoked = state
        .sessions
        .revoke(current.user_id, &Revoke::ByPublicId(id))
        .await?;
    state.metrics.sessions_revoked.inc_by(revoked);
    if revoked == 0 {
        return Err(ApiError::SessionNotFound);
    }
    let mut res = HttpResponse::Ok();
    if current.hash.public_id().as_str() == path.as_str() {
        res.append_header(state.cookies.clear_session());
    }
    Ok(res.json(json!({ "success": true, "revoked": revoked })))
}

/// Revokes every session of the caller but the current one ("sign out everywhere else").
pub async fn revoke_others(
    _csrf: CsrfVerified,
    Authenticated(current): Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .sessions
        .revoke(current.user_id, &Revoke::AllExcept(current.hash))
        .await?;
    state.metrics.sessions_revoked.inc_by(revoked);
    Ok(HttpResponse::Ok().json(json!({ "success": true, "revoked": revoked })))
}
