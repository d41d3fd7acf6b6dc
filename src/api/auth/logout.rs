use actix_web::{web, HttpRequest, HttpResponse};

use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::api::extract::{client_info, credential, Credential, CsrfVerified};
use crate::api::responses::Done;
use crate::api::responses::{CsrfRefused, StoreUnavailable, Unauthenticated};
use crate::api::state::AppState;
use crate::http::error::Flag;
use crate::http::error::UNKNOWN;
use crate::http::ApiError;
use crate::session::{Ending, Revoke};

/// Revokes this request's session and clears the cookie. Answers 200 without a session too,
/// so a client can always call it to reach the signed-out state.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    summary = "Sign out",
    description = "Revokes this request's session, if any, and clears the session cookie. \
        Answers 200 without a session too. Needs `X-CSRF-Token` equal to the CSRF cookie, \
        unless the session is named by `Authorization: Bearer` (then the cookie is left \
        alone; an `Authorization` header that is not a well-formed bearer token is 401).",
    security(
        ("csrf_cookie" = [], "csrf_header" = [], "session" = []),
        ("csrf_cookie" = [], "csrf_header" = []),
        ("bearer" = []),
    ),
    responses(
        (status = 200, description = "Signed out; the session cookie is cleared.", body = Done,
            headers(("Set-Cookie" = String, description = "Clears the session cookie."))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn logout(
    _csrf: CsrfVerified,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let credential = credential(&req, &state.cookies.session_name);
    // An `Authorization` header that names no session cannot be signed out of, and the
    // cookie beside it is not this request's to end.
    if matches!(credential, Credential::Unreadable) {
        return Err(ApiError::Unauthenticated(UNKNOWN));
    }
    if let Some(token) = credential.token() {
        let revoked = state
            .sessions
            .end(
                token.user_id(),
                &Revoke::One(token.hash()),
                Ending::SignedOut,
            )
            .await?;
        state.metrics.sessions_revoked.inc_by(revoked);
        if revoked > 0 {
            let client = client_info(&req);
            state.journal.event(
                SecurityEvent::new(Kind::Logout, Actor::User)
                    .user(token.user_id())
                    .session(token.hash().public_id())
                    .client(&client.ip, &client.user_agent),
            );
        }
    }
    let mut res = HttpResponse::Ok();
    // A bearer session has no cookie; the browser's cookie session, if any, lives on.
    if !matches!(credential, Credential::Bearer(_)) {
        res.append_header(state.cookies.clear_session());
    }
    Ok(res.json(Done { success: Flag }))
}
