//! Token mode's two routes of its own (docs/api.md, "Token mode"): `POST /auth/token`, where
//! the extension exchanges its one-time code and PKCE verifier for a session token, and
//! `GET /auth/complete`, the page a sign-in in a plain tab ends on.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page::{failure_page, no_store, page};
use crate::api::extract::client_info;
use crate::api::responses::{RateLimited, StoreUnavailable, Succeeded};
use crate::api::state::AppState;
use crate::http::error::{ErrorBody, Flag};
use crate::http::ApiError;
use crate::login::token::{exchange, ExchangeRefusal};
use crate::login::{self, Refusal};

/// `POST /auth/token`'s body.
#[derive(Deserialize, ToSchema)]
pub struct TokenExchange {
    /// The one-time code the callback sent to the redirect URI.
    code: String,
    /// The PKCE verifier whose S256 challenge started the flow (RFC 7636: 43–128 characters
    /// of `[A-Za-z0-9-._~]`).
    code_verifier: String,
}

/// `POST /auth/token`'s answer.
#[derive(Serialize, ToSchema)]
pub struct SessionTokenAnswer {
    success: Succeeded,
    /// The session token, to send as `Authorization: Bearer <session_token>`. Keep it in the
    /// extension's own storage, never where a page can read it.
    session_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// When the session ends if it is not used (Unix seconds); use slides it, up to the
    /// absolute timeout.
    expires_at: i64,
}

/// Exchanges a one-time code and its PKCE verifier for a bearer session.
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    summary = "Exchange a token-mode code for a session token",
    description = "Token mode's last step. The code is spent by this call whatever its \
        outcome; the verifier must be the one whose S256 challenge started the flow. Starts a \
        session with transport `bearer`. Any `Origin` is accepted: the code and verifier are \
        the credential.",
    request_body(content = TokenExchange, content_type = "application/json"),
    responses(
        (status = 200, description = "The session token.", body = SessionTokenAnswer,
            headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, description = "`invalid_grant` (an unknown, expired, used or \
            mismatched code) or `invalid_request` (a malformed body or verifier).",
            body = ErrorBody),
        (status = 403, description = "`account_disabled`: the user was disabled since signing \
            in.", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: TokenExchange =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadRequest {
            code: "invalid_request",
            message: "The body must be JSON with `code` and `code_verifier`.".into(),
        })?;
    let deps = login::Deps {
        sessions: &state.sessions,
        scratch: &state.scratch,
        db: &state.db,
        journal: &state.journal,
    };
    let client = client_info(&req);
    let exchanged = exchange(&deps, &request.code, &request.code_verifier, &client)
        .await
        .map_err(|e| match e {
            ExchangeRefusal::InvalidGrant => ApiError::BadRequest {
                code: "invalid_grant",
                message: "The code is unknown, expired or used, or the verifier does not match."
                    .into(),
            },
            ExchangeRefusal::MalformedVerifier => ApiError::BadRequest {
                code: "invalid_request",
                message: "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].".into(),
            },
            ExchangeRefusal::AccountDisabled => ApiError::AccountDisabled,
            ExchangeRefusal::StoreUnavailable => {
                ApiError::SessionStoreUnavailable(anyhow::anyhow!("cannot exchange a code"))
            }
            ExchangeRefusal::DatabaseUnavailable => {
                ApiError::DatabaseUnavailable(anyhow::anyhow!("cannot exchange a code"))
            }
        })?;
    let started = &exchanged.started;
    state.metrics.sessions_created.inc();
    let evicted = started.evicted.len();
    state.metrics.sessions_evicted.inc_by(evicted as u64);
    tracing::info!(
        user_id = %exchanged.user_id,
        ip = %client.ip,
        device = %crate::device::name(&client.user_agent),
        evicted,
        "bearer session started"
    );
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res.json(SessionTokenAnswer {
        success: Flag,
        session_token: started.token.expose().to_owned(),
        token_type: "Bearer",
        expires_at: started.expires_ms / 1000,
    }))
}

/// What a token-mode sign-in brings to `/auth/complete`.
#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompleteQuery {
    /// The one-time code; the extension reads it from the tab's address.
    code: Option<String>,
    /// Why the sign-in failed (a code of the callback's pages).
    error: Option<String>,
    /// The extension's own `state`.
    #[allow(dead_code)]
    // documented for the extension, which reads it; the page never shows it
    state: Option<String>,
}

/// The page a token-mode sign-in ends on when its redirect URI is this page.
#[utoipa::path(
    get,
    path = "/auth/complete",
    tag = "auth",
    summary = "Token mode's end page",
    description = "\"Signed in, you can close this tab\", or the failure named by `error`. The \
        extension reads `code` (or `error`) and `state` from the tab's address. Never cached, \
        sends no `Referer`, loads nothing from elsewhere.",
    params(CompleteQuery),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
    )
)]
pub async fn complete(req: HttpRequest) -> HttpResponse {
    let query = web::Query::<CompleteQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    res.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    // Only a known code chooses the message; whatever else `error` holds is never shown.
    match (&query.error, &query.code) {
        (Some(error), _) => {
            let refusal = Refusal::from_code(error);
            let message = refusal.map_or(
                "Signing in did not complete. Start again from the extension.",
                Refusal::message,
            );
            failure_page(res, message, refusal.map_or("unknown", Refusal::code), None)
        }
        (None, Some(_)) => page(
            res,
            "Signed in",
            "You are signed in. You can close this tab and return to the extension.",
        ),
        (None, None) => page(
            res,
            "Nothing to finish",
            "There is no sign-in to finish here. Start again from the extension.",
        ),
    }
}
