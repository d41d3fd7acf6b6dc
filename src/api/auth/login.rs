//! `GET /auth/{provider}/login` and `GET /auth/{provider}/callback` (docs/api.md, "Start signing in" and
//! "Finish signing in").
//!
//! The popup asks for `authUrl` with its CSRF header, opens it in a new tab, and the provider
//! sends that tab back to the callback, which ends on a page (or a redirect to
//! `login.success_redirect`). No redirect target is ever read from the request.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page::{no_store, page, wants_json};
use crate::api::extract::{client_info, session_token, CsrfVerified};
use crate::api::responses::{Done, RateLimited, StoreUnavailable, Succeeded};
use crate::api::state::AppState;
use crate::auth::flow::{self, Flow, BINDING_COOKIE};
use crate::auth::AuthRequest;
use crate::http::error::Flag;
use crate::http::error::{error_chain, ErrorBody};
use crate::http::ApiError;
use crate::login::{self, Refusal, SignedIn};
use crate::session::{is_well_formed_secret, random_secret};

/// `GET /auth/{provider}/login`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthUrl {
    pub success: Succeeded,
    /// The provider's authorization URL, to open in a new tab. It carries a single-use
    /// `state`, a PKCE S256 `code_challenge` and, for OpenID Connect, a `nonce`.
    #[serde(rename = "authUrl")]
    #[schema(format = "uri")]
    pub auth_url: String,
}

/// `GET /auth/{provider}/login`: starts a flow and answers the provider's URL.
#[utoipa::path(
    get,
    path = "/auth/{provider}/login",
    tag = "auth",
    summary = "Start signing in",
    description = "Starts a sign-in flow with the provider and answers its authorization URL; \
        a short-lived cookie (`__Host-latchkey_login`) binds the flow to this browser. Needs \
        `X-CSRF-Token` equal to the CSRF cookie.",
    params(("provider" = String, Path, description = "A configured provider: `google`, \
        `github`, or the name of another OpenID Connect provider.", example = "github")),
    security(("csrf_cookie" = [], "csrf_header" = [])),
    responses(
        (status = 200, description = "The authorization URL; the binding cookie is set.",
            body = AuthUrl,
            headers(("Set-Cookie" = String, description = "The flow's binding cookie."))),
        (status = 403, description = "`csrf_failed`: `X-CSRF-Token` is missing or does not \
            equal the CSRF cookie.", body = ErrorBody),
        (status = 404, description = "`provider_not_configured`: no such provider, or it has \
            no client id.", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 502, description = "`provider_error`: the provider's discovery document \
            could not be read.", body = ErrorBody),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn login(
    req: HttpRequest,
    provider_name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let provider = state
        .providers
        .get(&provider_name)
        .ok_or(ApiError::ProviderNotConfigured)?;
    // CSRF after the provider lookup, so an unknown provider is a 404 whatever the headers.
    CsrfVerified::check_cookie(&req)?;

    let binding = req
        .cookie(BINDING_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| is_well_formed_secret(v))
        .unwrap_or_else(random_secret);
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let login = Flow::new(&provider_name, verifier.secret().to_owned(), &binding);
    let flow_state = flow::new_state();
    let auth_url = provider
        .authorize_url(AuthRequest {
            state: &flow_state,
            nonce: &login.nonce,
            pkce_challenge: challenge,
        })
        .await
        .map_err(|e| {
            tracing::warn!(provider = %provider_name, error = %error_chain(&e), "cannot start a login");
            ApiError::ProviderUnavailable
        })?;
    flow::save(&state.scratch, &flow_state, &login).await?;

    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res
        .append_header(state.cookies.binding(&binding, flow::FLOW_TTL_MS / 1000))
        .json(AuthUrl {
            success: Flag,
            auth_url: auth_url.into(),
        }))
}

/// What the provider sends the browser back with.
#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The `state` of `authUrl`.
    state: Option<String>,
    /// Set by the provider when the user denied consent (`access_denied`).
    error: Option<String>,
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
        `Accept: application/json` the answers are JSON instead of pages.",
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
        (status = 302, description = "Signed in, with `login.success_redirect` configured: the \
            session cookie is set.",
            headers(
                ("Location" = String, description = "`login.success_redirect`."),
                ("Set-Cookie" = String, description = "The session cookie."),
            )),
        (status = 400, description = "`consent_denied`, `invalid_state` (unknown, expired, \
            replayed or missing `state`), `binding_mismatch`, `missing_code` or \
            `code_rejected`.",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 403, description = "`email_not_verified` or `account_disabled`.",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 404, description = "`provider_not_configured`.", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 502, description = "`provider_error`: the provider failed or its ID token \
            did not verify.",
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
    let callback = login::Callback {
        provider_name: &provider_name,
        state: query.state.as_deref(),
        code: query.code.as_deref(),
        error: query.error.as_deref(),
        binding: binding.as_ref().map(|c| c.value()),
        old_session: session_token(&req, &state.cookies.session_name),
        client: client_info(&req),
    };
    let deps = login::Deps {
        sessions: &state.sessions,
        scratch: &state.scratch,
        db: &state.db,
    };
    let outcome = login::finish(&deps, provider, callback).await;
    let logins = &state.metrics.logins;
    match outcome {
        Ok(signed_in) => {
            logins
                .with_label_values(&[provider_name.as_str(), "success"])
                .inc();
            state.metrics.sessions_created.inc();
            let evicted = signed_in.started.evicted.len();
            state.metrics.sessions_evicted.inc_by(evicted as u64);
            tracing::info!(provider = %provider_name, user_id = %signed_in.user_id, evicted, "login succeeded");
            signed_in_response(&req, &state, &signed_in)
        }
        Err(refusal) => {
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
            tracing::info!(provider = %provider_name, outcome = refusal.code(), "login refused");
            refusal_response(&req, &state, refusal)
        }
    }
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

fn refusal_response(req: &HttpRequest, state: &AppState, refusal: Refusal) -> HttpResponse {
    let mut res = HttpResponse::build(status(refusal));
    no_store(&mut res);
    res.append_header(state.cookies.clear_binding());
    if wants_json(req) {
        return res.json(ErrorBody {
            success: Flag,
            error: refusal.message(),
            code: refusal.code(),
        });
    }
    page(res, "Not signed in", refusal.message())
}

fn status(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::ConsentDenied
        | Refusal::InvalidState
        | Refusal::BindingMismatch
        | Refusal::MissingCode
        | Refusal::CodeRejected => StatusCode::BAD_REQUEST,
        Refusal::NoVerifiedEmail | Refusal::AccountDisabled => StatusCode::FORBIDDEN,
        Refusal::ProviderError => StatusCode::BAD_GATEWAY,
        Refusal::StoreUnavailable | Refusal::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}
