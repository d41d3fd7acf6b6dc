use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::session::random_secret;
use crate::state::AppState;

/// Issues the CSRF token, in the body for the extension to send back as `X-CSRF-Token` and in
/// a cookie for the server to compare it with. A well-formed token already in the cookie is
/// handed out again, so two open popups do not invalidate each other.
pub async fn csrf_token(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let existing = req
        .cookie(&state.cookies.csrf_name)
        .map(|c| c.value().to_owned())
        .filter(|v| is_well_formed(v));
    let token = existing.unwrap_or_else(random_secret);
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .append_header(state.cookies.csrf(&token))
        .json(json!({ "success": true, "csrf_token": token }))
}

fn is_well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
