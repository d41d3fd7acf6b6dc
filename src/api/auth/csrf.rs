use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::responses::RateLimited;
use crate::api::state::AppState;
use crate::http::error::{Flag, Succeeded};
use crate::session::{is_well_formed_secret, random_secret};

/// `GET /auth/csrf-token`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsrfToken {
    pub success: Succeeded,
    /// Send it back as `X-CSRF-Token`; the same value is in the CSRF cookie.
    #[schema(example = "q4Fv7dXo0c2mK8yJ3nE5rT1uW9zA6bL4hG2sP0iO7xQ")]
    pub csrf_token: String,
}

/// Issues the CSRF token, in the body for the extension to send back as `X-CSRF-Token` and in
/// a cookie for the server to compare it with. A well-formed token already in the cookie is
/// handed out again, so two open popups do not invalidate each other.
#[utoipa::path(
    get,
    path = "/auth/csrf-token",
    tag = "auth",
    summary = "Get the CSRF token",
    description = "Returns the token to send as `X-CSRF-Token` with state-changing requests, and \
        sets it in the CSRF cookie (`HttpOnly; Secure; SameSite=None; Path=/`). A well-formed \
        token already in the cookie is returned again.",
    responses(
        (status = 200, description = "The token; the CSRF cookie is set to the same value.",
            body = CsrfToken,
            headers(("Set-Cookie" = String, description = "The CSRF cookie."))),
        (status = 429, response = RateLimited),
    )
)]
pub async fn csrf_token(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let existing = req
        .cookie(&state.cookies.csrf_name)
        .map(|c| c.value().to_owned())
        .filter(|v| is_well_formed_secret(v));
    let token = existing.unwrap_or_else(random_secret);
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .append_header(state.cookies.csrf(&token))
        .json(CsrfToken {
            success: Flag,
            csrf_token: token,
        })
}
