//! `GET /auth/{provider}/login` and `GET /auth/{provider}/callback` (contract §3).
//!
//! The popup asks for `authUrl` with its CSRF header, opens it in a new tab, and the provider
//! sends that tab back to the callback, which ends on a page (or a redirect to
//! `login.success_redirect`). No redirect target is ever read from the request.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Done, Succeeded};
use crate::accounts::{self, AccountError};
use crate::auth::flow::{self, Flow, BINDING_COOKIE};
use crate::auth::{AuthRequest, Provider, ProviderError};
use crate::http::error::{error_chain, ErrorBody, Failed};
use crate::http::extract::{client_info, session_token};
use crate::http::{ApiError, CsrfVerified};
use crate::openapi::{RateLimited, StoreUnavailable};
use crate::session::{is_well_formed_secret, random_secret, Revoke};
use crate::state::AppState;

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
    CsrfVerified::check(&req)?;

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
            success: Succeeded,
            auth_url: auth_url.into(),
        }))
}

/// What the provider sends the browser back with.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The `state` of `authUrl`.
    state: Option<String>,
    /// Set by the provider when the user denied consent (`access_denied`).
    error: Option<String>,
}

/// Why a callback did not sign anyone in; each ends on a page (or JSON) with no session.
#[derive(Debug)]
enum Refusal {
    ConsentDenied,
    InvalidState,
    BindingMismatch,
    MissingCode,
    CodeRejected,
    NoVerifiedEmail,
    AccountDisabled,
    ProviderError,
    StoreUnavailable,
    DatabaseUnavailable,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::ConsentDenied
            | Self::InvalidState
            | Self::BindingMismatch
            | Self::MissingCode
            | Self::CodeRejected => StatusCode::BAD_REQUEST,
            Self::NoVerifiedEmail | Self::AccountDisabled => StatusCode::FORBIDDEN,
            Self::ProviderError => StatusCode::BAD_GATEWAY,
            Self::StoreUnavailable | Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::ConsentDenied => "consent_denied",
            Self::InvalidState => "invalid_state",
            Self::BindingMismatch => "binding_mismatch",
            Self::MissingCode => "missing_code",
            Self::CodeRejected => "code_rejected",
            Self::NoVerifiedEmail => "email_not_verified",
            Self::AccountDisabled => "account_disabled",
            Self::ProviderError => "provider_error",
            Self::StoreUnavailable => "session_store_unavailable",
            Self::DatabaseUnavailable => "database_unavailable",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::ConsentDenied => "Sign-in was cancelled at the provider. You can close this tab and try again.",
            Self::InvalidState => "This sign-in link has expired or was already used. Start again from the extension.",
            Self::BindingMismatch => "This sign-in was started in another browser. Start again from the extension in this one.",
            Self::MissingCode => "The provider did not return an authorization code. Start again from the extension.",
            Self::CodeRejected => "The provider refused this sign-in. Start again from the extension.",
            Self::NoVerifiedEmail => "Your account has no verified email address. Verify one with the provider and try again.",
            Self::AccountDisabled => "This account is disabled.",
            Self::ProviderError => "The sign-in provider did not answer as expected. Try again in a moment.",
            Self::StoreUnavailable | Self::DatabaseUnavailable => "Signing in is unavailable right now. Try again in a moment.",
        }
    }
}

impl From<ProviderError> for Refusal {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::CodeRejected(_) => Self::CodeRejected,
            ProviderError::NoVerifiedEmail => Self::NoVerifiedEmail,
            ProviderError::InvalidIdToken(_) | ProviderError::Unavailable(_) => Self::ProviderError,
        }
    }
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
    let query = query.map(web::Query::into_inner);
    let logins = &state.metrics.logins;
    match sign_in(&req, &provider_name, provider, query, &state).await {
        Ok(res) => {
            logins
                .with_label_values(&[provider_name.as_str(), "success"])
                .inc();
            state.metrics.sessions_created.inc();
            res
        }
        Err(refusal) => {
            logins
                .with_label_values(&[provider_name.as_str(), refusal.code()])
                .inc();
            if matches!(
                refusal,
                Refusal::DatabaseUnavailable | Refusal::StoreUnavailable
            ) {
                let dependency = match refusal {
                    Refusal::DatabaseUnavailable => "database",
                    _ => "redis",
                };
                state
                    .metrics
                    .dependency_errors
                    .with_label_values(&[dependency])
                    .inc();
            }
            tracing::info!(provider = %provider_name, outcome = refusal.code(), "login refused");
            refusal_response(&req, &state, &refusal)
        }
    }
}

async fn sign_in(
    req: &HttpRequest,
    provider_name: &str,
    provider: &Provider,
    query: Option<CallbackQuery>,
    state: &AppState,
) -> Result<HttpResponse, Refusal> {
    let query = query.ok_or(Refusal::InvalidState)?;
    let flow_state = query.state.as_deref().ok_or(Refusal::InvalidState)?;
    // Taken first, whatever else is wrong, so that a state is never usable twice.
    let login = flow::take(&state.scratch, flow_state)
        .await
        .map_err(|_| Refusal::StoreUnavailable)?
        .ok_or(Refusal::InvalidState)?;
    if login.provider != provider_name {
        return Err(Refusal::InvalidState);
    }
    let bound = req
        .cookie(BINDING_COOKIE)
        .is_some_and(|c| login.is_bound_to(c.value()));
    if !bound {
        return Err(Refusal::BindingMismatch);
    }
    if query.error.is_some() {
        return Err(Refusal::ConsentDenied);
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::MissingCode)?;

    let identity = provider
        .identify(code, &login.pkce_verifier, &login.nonce)
        .await
        .inspect_err(|e| {
            tracing::warn!(provider = %provider_name, error = %error_chain(e), "provider exchange failed");
        })?;
    let user = accounts::sign_in(&state.db, &identity)
        .await
        .map_err(|e| match e {
            AccountError::Disabled => Refusal::AccountDisabled,
            AccountError::Db(e) => {
                tracing::error!(error = %e, "database error during login");
                Refusal::DatabaseUnavailable
            }
        })?;
    let profile = accounts::profile(&state.db, &user)
        .await
        .map_err(|_| Refusal::DatabaseUnavailable)?;

    // No fixation: whatever session this browser had is revoked before a new one starts.
    if let Some(old) = session_token(req, &state.cookies.session_name) {
        let _ = state
            .sessions
            .revoke(old.user_id(), &Revoke::One(old.hash()))
            .await;
    }
    let started = state
        .sessions
        .start(user.id, profile.clone(), &client_info(req))
        .await
        .map_err(|_| Refusal::StoreUnavailable)?;
    settle(state, user.id, &profile).await?;
    tracing::info!(
        provider = %provider_name,
        user_id = %user.id,
        evicted = started.evicted.len(),
        "login succeeded"
    );
    state
        .metrics
        .sessions_evicted
        .inc_by(started.evicted.len() as u64);

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
        return Ok(res.finish());
    }
    if wants_json(req) {
        return Ok(res.json(Done { success: Succeeded }));
    }
    Ok(page(
        res,
        "Signed in",
        "You are signed in. You can close this tab and return to the extension.",
    ))
}

/// An operator's `users disable` or `plan set` may commit while this login runs, between our
/// SQL read and the session's creation, and then revoke or refresh before our session exists.
/// Reading the user again once the session exists closes that window: both commands write SQL
/// before they touch Redis, so whatever they did is visible now.
async fn settle(
    state: &AppState,
    user_id: uuid::Uuid,
    profile: &crate::session::Profile,
) -> Result<(), Refusal> {
    let fresh = entity::users::Entity::find_by_id(user_id)
        .one(&state.db)
        .await
        .map_err(|_| Refusal::DatabaseUnavailable)?;
    // Disabled or erased while this login ran: the session just started ends, and so does the
    // profile cache its start wrote (an erased user's name and email must not stay in Redis).
    // Because this read comes after the session was stored, and disable and delete change SQL
    // before they sweep Redis, either this read sees the change or their sweep sees the session.
    let Some(fresh) = fresh.filter(|u| u.disabled_at.is_none()) else {
        let _ = state.sessions.end_all(user_id).await;
        return Err(Refusal::AccountDisabled);
    };
    let current = accounts::profile(&state.db, &fresh)
        .await
        .map_err(|_| Refusal::DatabaseUnavailable)?;
    if current != *profile {
        let _ = state.sessions.refresh_profile(user_id, &current).await;
    }
    Ok(())
}

fn refusal_response(req: &HttpRequest, state: &AppState, refusal: &Refusal) -> HttpResponse {
    let mut res = HttpResponse::build(refusal.status());
    no_store(&mut res);
    res.append_header(state.cookies.clear_binding());
    if wants_json(req) {
        return res.json(ErrorBody {
            success: Failed,
            error: refusal.message(),
            code: refusal.code(),
        });
    }
    page(res, "Not signed in", refusal.message())
}

/// Login and callback answers carry secrets in URLs and cookies: never cached, never leaked
/// through `Referer`.
fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A small self-contained page: inline style only, no script, no third-party resource, and a
/// CSP that allows nothing else.
fn page(mut res: actix_web::HttpResponseBuilder, title: &str, message: &str) -> HttpResponse {
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    ))
    .content_type("text/html; charset=utf-8")
    .body(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · latchkey</title>
<style>
body{{margin:0;min-height:100vh;display:grid;place-items:center;background:#f5f6f8;color:#1d2330;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}}
main{{max-width:28rem;margin:1.5rem;padding:2rem 2.25rem;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}}
h1{{margin:0 0 .5rem;font-size:1.35rem}}
p{{margin:0;color:#4a5365}}
</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"#
    ))
}
