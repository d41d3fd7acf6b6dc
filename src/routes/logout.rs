use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::http::extract::session_token;
use crate::http::{ApiError, CsrfVerified};
use crate::session::Revoke;
use crate::state::AppState;

/// Revokes this request's session and clears the cookie. Answers 200 without a session too,
/// so a client can always call it to reach the signed-out state.
pub async fn logout(
    _csrf: CsrfVerified,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = session_token(&req, &state.cookies.session_name) {
        let revoked = state
            .sessions
            .revoke(token.user_id(), &Revoke::One(token.hash()))
            .await?;
        state.metrics.sessions_revoked.inc_by(revoked);
    }
    Ok(HttpResponse::Ok()
        .append_header(state.cookies.clear_session())
        .json(json!({ "success": true })))
}
