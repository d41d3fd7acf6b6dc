//! `GET /auth/{provider}/login` (docs/api.md, "Start signing in" and "Token mode").
//!
//! Cookie mode: the popup asks for `authUrl` with its CSRF header, opens it in a new tab, and
//! a short-lived cookie binds the flow to this browser. Token mode (`mode=token`): the
//! extension sends its PKCE challenge and a registered redirect URI instead; no cookie is
//! read or set, the challenge binds the flow to the extension.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page::no_store;
use crate::api::extract::CsrfVerified;
use crate::api::responses::{RateLimited, StoreUnavailable, Succeeded};
use crate::api::state::AppState;
use crate::auth::flow::{self, Flow, BINDING_COOKIE};
use crate::auth::token_mode::{TokenRequest, TokenRequestError};
use crate::auth::{complete_uri, AuthRequest, Provider};
use crate::http::error::Flag;
use crate::http::error::{error_chain, ErrorBody};
use crate::http::ApiError;
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

/// Token mode's parameters; absent in cookie mode.
#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// `token` for token mode; absent (or `cookie`) for cookie mode.
    mode: Option<String>,
    /// Token mode: where the one-time code goes; exactly one of `extensions.redirect_uris`,
    /// or `{server.public_url}/auth/complete`.
    redirect_uri: Option<String>,
    /// Token mode: base64url(SHA-256(code_verifier)), 43 characters.
    code_challenge: Option<String>,
    /// Token mode: `S256`, the only method.
    code_challenge_method: Option<String>,
    /// Token mode: the extension's own value, given back with the code (≤ 512 printable
    /// ASCII characters).
    state: Option<String>,
    /// Token mode: `json` (the default) answers `authUrl`; `redirect` answers 302 to it, for
    /// a sign-in window that must be given latchkey's own URL (Firefox's
    /// `identity.launchWebAuthFlow` opens only a URL whose `redirect_uri` parameter is the
    /// extension's, and the provider's URL names latchkey's callback there).
    response: Option<String>,
}

/// How the flow's start is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Json,
    Redirect,
}

/// `GET /auth/{provider}/login`: starts a flow and answers the provider's URL.
#[utoipa::path(
    get,
    path = "/auth/{provider}/login",
    tag = "auth",
    summary = "Start signing in",
    description = "Starts a sign-in flow with the provider and answers its authorization URL. \
        Cookie mode: a short-lived cookie (`__Host-latchkey_login`) binds the flow to this \
        browser; needs `X-CSRF-Token` equal to the CSRF cookie. Token mode (`mode=token`, for \
        extensions without a fixed origin or without cookies): needs a registered \
        `redirect_uri` and a PKCE S256 `code_challenge` instead, no CSRF header and no cookie; \
        the callback then redirects to `redirect_uri` with a one-time code for `POST /auth/token`. \
        In token mode `response=redirect` answers 302 to the provider's URL instead, so that a \
        browser's sign-in window can be opened on this URL.",
    params(("provider" = String, Path, description = "A configured provider: `google`, \
        `github`, or the name of another OpenID Connect provider.", example = "github"),
        LoginQuery),
    security(("csrf_cookie" = [], "csrf_header" = []), ()),
    responses(
        (status = 200, description = "The authorization URL; in cookie mode the binding \
            cookie is set.",
            body = AuthUrl,
            headers(("Set-Cookie" = String, description = "Cookie mode: the flow's binding cookie."))),
        (status = 302, description = "Token mode with `response=redirect`: to the provider's \
            authorization URL.",
            headers(("Location" = String, description = "The provider's authorization URL."))),
        (status = 400, description = "Token mode: `invalid_redirect_uri` (not exactly a \
            registered redirect URI) or `invalid_request` (a missing or malformed challenge, a \
            method other than `S256`, a malformed `state`, an unknown `mode` or `response`, \
            `response=redirect` in cookie mode).", body = ErrorBody),
        (status = 403, description = "`csrf_failed` (cookie mode): `X-CSRF-Token` is missing or \
            does not equal the CSRF cookie.", body = ErrorBody),
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
    // Parsed by hand so that a malformed query is `invalid_request`, like a bad parameter.
    let query = web::Query::<LoginQuery>::from_query(req.query_string())
        .map_err(|_| invalid_request("The query string is malformed."))?
        .into_inner();
    let answer = match query.response.as_deref() {
        None | Some("json") => Answer::Json,
        Some("redirect") => Answer::Redirect,
        Some(_) => {
            return Err(invalid_request(
                "response must be `json`, `redirect` or absent.",
            ))
        }
    };
    match query.mode.as_deref() {
        // A navigation cannot send the CSRF header cookie mode needs: JSON only.
        None | Some("cookie") if answer == Answer::Redirect => {
            Err(invalid_request("response=redirect is for token mode only."))
        }
        None | Some("cookie") => start_cookie_mode(&req, &provider_name, provider, &state).await,
        Some("token") => start_token_mode(&query, answer, &provider_name, provider, &state).await,
        Some(_) => Err(invalid_request("mode must be `token` or absent.")),
    }
}

async fn start_cookie_mode(
    req: &HttpRequest,
    provider_name: &str,
    provider: &Provider,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    // CSRF after the provider lookup, so an unknown provider is a 404 whatever the headers.
    CsrfVerified::check_cookie(req)?;
    let binding = req
        .cookie(BINDING_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| is_well_formed_secret(v))
        .unwrap_or_else(random_secret);
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let login = Flow::new(provider_name, verifier.secret().to_owned(), &binding);
    let auth_url = start(state, provider_name, provider, &login, challenge).await?;
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res
        .append_header(state.cookies.binding(&binding, flow::FLOW_TTL_MS / 1000))
        .json(auth_url))
}

async fn start_token_mode(
    query: &LoginQuery,
    answer: Answer,
    provider_name: &str,
    provider: &Provider,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let complete = complete_uri(&state.settings.server.public_url);
    let allowed: Vec<&str> = (state.settings.extensions.redirect_uris.iter())
        .map(String::as_str)
        .chain([complete.as_str()])
        .collect();
    let request = TokenRequest {
        redirect_uri: query.redirect_uri.as_deref(),
        code_challenge: query.code_challenge.as_deref(),
        code_challenge_method: query.code_challenge_method.as_deref(),
        state: query.state.as_deref(),
    };
    let token = request.check(&allowed).map_err(|e| match e {
        TokenRequestError::InvalidRedirectUri => ApiError::BadRequest {
            code: "invalid_redirect_uri",
            message: "redirect_uri is not one of the registered redirect URIs.".into(),
        },
        TokenRequestError::InvalidRequest(why) => invalid_request(why),
    })?;
    // Towards the provider latchkey keeps its own PKCE pair, as in cookie mode.
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let login = Flow::for_token(provider_name, verifier.secret().to_owned(), token);
    let auth_url = start(state, provider_name, provider, &login, challenge).await?;
    if answer == Answer::Redirect {
        let mut res = HttpResponse::Found();
        no_store(&mut res);
        return Ok(res
            .append_header((header::LOCATION, auth_url.auth_url))
            .finish());
    }
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res.json(auth_url))
}

/// The provider's URL for a new flow, and the flow stored under its new `state`.
async fn start(
    state: &AppState,
    provider_name: &str,
    provider: &Provider,
    login: &Flow,
    challenge: oauth2::PkceCodeChallenge,
) -> Result<AuthUrl, ApiError> {
    let flow_state = flow::new_state();
    let auth_url = provider
        .authorize_url(AuthRequest {
            state: &flow_state,
            nonce: &login.nonce,
            pkce_challenge: challenge,
            select_account: login.token.is_some(),
        })
        .await
        .map_err(|e| {
            tracing::warn!(provider = %provider_name, error = %error_chain(&e), "cannot start a login");
            ApiError::ProviderUnavailable
        })?;
    flow::save(&state.scratch, &flow_state, login).await?;
    Ok(AuthUrl {
        success: Flag,
        auth_url: auth_url.into(),
    })
}

fn invalid_request(why: &str) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_request",
        message: why.to_owned(),
    }
}
