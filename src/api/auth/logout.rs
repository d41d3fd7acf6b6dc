use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::extract::session_token;
use crate::api::extract::CsrfVerified;
use crate::api::responses::Done;
use crate::api::responses::{CsrfRefused, StoreUnavailable};
use crate::api::state::AppState;
use crate::http::error::Flag;
use crate::http::ApiError;
use crate::session::Revoke;

/// Revokes this request's session and clears the cookie. Answers 200 without a session too,
/// so a client can always call it to reach the signed-out state.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    summary = "Sign out",
    description = "Revokes this request's session, if any, and clears the session cookie. \
        Answers 200 without a session too. Needs `X-CSRF-Token` equal to the CSRF cookie.",
    security(
        ("csrf_cookie" = [], "csrf_header" = [], "session" = []),
        ("csrf_cookie" = [], "csrf_header" = []),
    ),
    responses(
        (status = 200, description = "Signed out; the session cookie is cleared.", body = Done,
            headers(("Set-Cookie" = String, description = "Clears the session cookie."))),
        (status = 403, response = CsrfRefused),
        (status = 503, response = StoreUnavailable),
    )
)]
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
        .json(Done { success: Flag }))
}
