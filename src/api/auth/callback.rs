//! `GET /auth/{provider}/callback` (docs/api.md, "Finish signing in").
//!
//! The provider sends the sign-in tab back here. Cookie mode ends on a page (or a redirect to
//! `login.success_redirect`) with the session cookie set; token mode ends with a redirect to
//! the extension's registered redirect URI, carrying a one-time code or an error. No redirect
//! target is ever read from this request: it comes from configuration or the stored flow.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::page::{failure_page, no_store, page, wants_json};
use crate::api::extract::{client_info, session_token};
use crate::api::responses::{Done, RateLimited};
use crate::api::state::AppState;
use crate::auth::flow::BINDING_COOKIE;
use crate::auth::token_mode::redirect_to;
use crate::http::error::ErrorBody;
use crate::http::error::Flag;
use crate::http::ApiError;
use crate::login::{self, Failed, Finished, Misconfiguration, Refusal, ReturnTo, SignedIn};

/// What the provider sends the browser back with.
#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The `state` of `authUrl`.
    state: Option<String>,
    /// Set by the provider instead of `code`: `access_denied` when the user denied consent,
    /// another OAuth 2 error code when it refused the request (`redirect_uri_mismatch`, …).
    error: Option<String>,
    /// The provider's explanation of `error`; logged, never shown.
    error_description: Option<String>,
}

/// `GET /auth/{provider}/callback`.
#[utoipa::path(
    get,
    path = "/auth/{provider}/callback",
    tag = "auth",
    summary = "Finish signing in",
    description = "Where the provider sends the browser back. Exchanges the code, creates or \
        updates the user, starts a session (revoking any session cookie already on the \
        request) and sets the session cookie; then redirects to `login.success_redirect`, or \
        answers a small \"signed in\" page. Every refusal is a page too, with no session. With \
        `Accept: application/json` the answers are JSON instead of pages. A token-mode flow \
        starts no session and sets no cookie: it redirects to the flow's `redirect_uri` with \
        `code` (one-time, 60 s) and the extension's `state`, or with `error` (the same codes \
        as the pages) and `state`; only an unknown, expired or replayed `state` is a page.",
    params(
        ("provider" = String, Path, description = "A configured provider.", example = "github"),
        CallbackQuery,
        ("__Host-latchkey_login" = Option<String>, Cookie, nullable = false, description = "The binding cookie \
            set by `GET /auth/{provider}/login`; without it the flow is refused."),
    ),
    responses(
        (status = 200, description = "Signed in: the session cookie is set.",
            headers(("Set-Cookie" = String, description = "The session cookie.")),
            content(
                (String = "text/html"),
                (Done = "application/json"),
            )),
        (status = 302, description = "Cookie mode, signed in, with `login.success_redirect` \
            configured: the session cookie is set. Token mode: to the flow's `redirect_uri` with \
            `code` and `state`, or `error` and `state`.",
            headers(
                ("Location" = String, description = "`login.success_redirect`."),
                ("Set-Cookie" = String, description = "The session cookie."),
            )),
        (status = 400, description = "`consent_denied` (the user cancelled at the provider, \
            or it came back with `access_denied`, an OpenID Connect interaction error such as \
            `login_required`, or an `error` latchkey does not know), `invalid_state` (unknown, \
            expired, replayed or missing `state`), `binding_mismatch`, `missing_code` or \
            `code_rejected`.",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 403, description = "`email_not_verified` or `account_disabled`.",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 404, description = "`provider_not_configured`.", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 502, description = "`provider_error`: the provider failed, its ID token \
            did not verify, or it refused the request as latchkey is registered with it \
            (`redirect_uri_mismatch`, `invalid_client`, …: a configuration error, which the \
            page's words say).",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 503, description = "`session_store_unavailable` or `database_unavailable`.",
            content((String = "text/html"), (ErrorBody = "application/json"))),
    )
)]
pub async fn callback(
    req: HttpRequest,
    provider_name: web::Path<String>,
    query: Option<web::Query<CallbackQuery>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(provider) = state.providers.get(&provider_name) else {
        return ApiError::ProviderNotConfigured.error_response();
    };
    let query = query.map(web::Query::into_inner).unwrap_or_default();
    let binding = req.cookie(BINDING_COOKIE);
    let client = client_info(&req);
    // Who tried, for the log lines below: the address and device, never the email.
    let (ip, device) = (client.ip.clone(), crate::device::name(&client.user_agent));
    let callback = login::Callback {
        provider_name: &provider_name,
        state: query.state.as_deref(),
        code: query.code.as_deref(),
        error: query.error.as_deref(),
        error_description: query.error_description.as_deref(),
        binding: binding.as_ref().map(|c| c.value()),
        old_session: session_token(&req, &state.cookies.session_name),
        client,
    };
    let deps = login::Deps {
        sessions: &state.sessions,
        scratch: &state.scratch,
        db: &state.db,
        journal: &state.journal,
    };
    let outcome = login::finish(&deps, provider, callback).await;
    let logins = &state.metrics.logins;
    match outcome {
        Ok(finished) => {
            logins
                .with_label_values(&[provider_name.as_str(), "success"])
                .inc();
            match finished {
                Finished::Session(signed_in) => {
                    state.metrics.sessions_created.inc();
                    let evicted = signed_in.started.evicted.len();
                    state.metrics.sessions_evicted.inc_by(evicted as u64);
                    tracing::info!(provider = %provider_name, user_id = %signed_in.user_id, %ip, %device, evicted, "login succeeded");
                    signed_in_response(&req, &state, &signed_in)
                }
                Finished::Code {
                    user_id,
                    code,
                    back,
                } => {
                    tracing::info!(provider = %provider_name, user_id = %user_id, %ip, %device, "login succeeded; code issued for token mode");
                    back_to_extension(&back, ("code", &code))
                }
            }
        }
        Err(Failed { refusal, back }) => {
            logins
                .with_label_values(&[provider_name.as_str(), refusal.code()])
                .inc();
            if let Some(dependency) = refusal.dependency() {
                state
                    .metrics
                    .dependency_errors
                    .with_label_values(&[dependency])
                    .inc();
            }
            tracing::info!(provider = %provider_name, outcome = refusal.code(), %ip, %device, "login refused");
            match back {
                Some(back) => back_to_extension(&back, ("error", refusal.code())),
                None => refusal_response(&req, &state, &provider_name, refusal),
            }
        }
    }
}

/// Token mode's ending: 302 to the registered redirect URI with the code or the error, and
/// the extension's `state`.
fn back_to_extension(back: &ReturnTo, outcome: (&str, &str)) -> HttpResponse {
    let mut params = vec![outcome];
    if let Some(client_state) = &back.client_state {
        params.push(("state", client_state));
    }
    let mut res = HttpResponse::Found();
    no_store(&mut res);
    res.insert_header((header::LOCATION, redirect_to(&back.redirect_uri, &params)))
        .finish()
}

/// The session cookie, and a redirect to `login.success_redirect` or the "signed in" page.
fn signed_in_response(req: &HttpRequest, state: &AppState, signed_in: &SignedIn) -> HttpResponse {
    let started = &signed_in.started;
    let mut res = match &state.settings.login.success_redirect {
        Some(target) => {
            let mut res = HttpResponse::Found();
            res.insert_header((header::LOCATION, target.as_str()));
            res
        }
        None => HttpResponse::Ok(),
    };
    no_store(&mut res);
    res.append_header(
        state
            .cookies
            .session(started.token.expose(), started.expires_ms),
    )
    .append_header(state.cookies.clear_binding());
    if state.settings.login.success_redirect.is_some() {
        return res.finish();
    }
    if wants_json(req) {
        return res.json(Done { success: Flag });
    }
    page(
        res,
        "Signed in",
        "You are signed in. You can close this tab and return to the extension.",
    )
}

fn refusal_response(
    req: &HttpRequest,
    state: &AppState,
    provider_name: &str,
    refusal: Refusal,
) -> HttpResponse {
    let mut res = HttpResponse::build(status(refusal));
    no_store(&mut res);
    res.append_header(state.cookies.clear_binding());
    if wants_json(req) {
        return res.json(ErrorBody::new(refusal.code(), refusal.message()));
    }
    let detail = match refusal {
        Refusal::ProviderMisconfigured(Misconfiguration::RedirectUri) => state
            .providers
            .redirect_uri(provider_name)
            .map(String::from),
        _ => None,
    };
    failure_page(res, refusal.message(), refusal.code(), detail.as_deref())
}

fn status(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::ConsentDenied
        | Refusal::InvalidState
        | Refusal::BindingMismatch
        | Refusal::MissingCode
        | Refusal::CodeRejected => StatusCode::BAD_REQUEST,
        Refusal::NoVerifiedEmail | Refusal::AccountDisabled => StatusCode::FORBIDDEN,
        Refusal::ProviderError | Refusal::ProviderMisconfigured(_) => StatusCode::BAD_GATEWAY,
        Refusal::StoreUnavailable | Refusal::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}
