//! Request extractors: the signed-in caller, the CSRF check, the client's address.
//!
//! These are ours rather than actix-session's (see `docs/adr/0002-session-extractor.md`): the
//! store needs the user's id to find the session in one round trip, and revocation needs a
//! per-user index, neither of which fits actix-session's key-value `SessionStore`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use subtle::ConstantTimeEq;

use crate::api::middleware::renew_cookie::RenewSessionCookie;
use crate::api::middleware::security_headers::Personal;
use crate::api::state::AppState;
use crate::http::error::{NO_SESSION, UNKNOWN};
use crate::http::{client_addr, ApiError};
use crate::session::{ClientInfo, Current, SessionToken, Transport};

pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState is not registered")))
}

/// The session token of the request's session cookie, if it has one of the right shape.
///
/// Read straight from the `Cookie` headers rather than through `HttpRequest::cookie`, which
/// parses, percent-decodes and copies every cookie of the request into its extensions on
/// every authenticated request (about 3% of the server's CPU on `/api/user/info`). A token is
/// URL-safe as issued, so there is nothing to decode; a value sent percent-encoded is not of
/// the right shape (401), as any other mangled token. The first cookie of that name counts,
/// as with `HttpRequest::cookie`.
pub fn session_token(req: &HttpRequest, cookie_name: &str) -> Option<SessionToken> {
    SessionToken::parse(cookie_value(req.headers(), cookie_name)?)
}

/// The value of the first cookie named `name` in the request's `Cookie` headers (RFC 6265,
/// 4.2: `name=value` pairs separated by `;`), without allocating.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            (n.trim_end() == name).then(|| value.trim_start())
        })
}

/// What names the request's session. One function decides it for every reader (the
/// `Authenticated` extractor, logout, the per-session rate limits), so they cannot disagree.
pub enum Credential {
    /// No `Authorization` header and no well-formed session cookie.
    None,
    /// The session cookie (cookie mode).
    Cookie(SessionToken),
    /// `Authorization: Bearer <session token>` (token mode).
    Bearer(SessionToken),
    /// An `Authorization` header that is not a well-formed bearer token. It still decides:
    /// the request is unauthenticated, whatever cookie it also carries.
    Unreadable,
}

impl Credential {
    /// The token, whichever way it came.
    pub fn token(&self) -> Option<&SessionToken> {
        match self {
            Self::Cookie(t) | Self::Bearer(t) => Some(t),
            Self::None | Self::Unreadable => None,
        }
    }
}

/// The request's credential. When an `Authorization` header is present it alone decides and
/// the cookie is ignored: a client that sends a bearer token means that session, and a wrong
/// one must not fall back to whatever cookie the browser adds by itself.
pub fn credential(req: &HttpRequest, cookie_name: &str) -> Credential {
    // Two `Authorization` headers are no credential: a proxy in front may read the other one.
    if req
        .headers()
        .get_all(header::AUTHORIZATION)
        .nth(1)
        .is_some()
    {
        return Credential::Unreadable;
    }
    match req.headers().get(header::AUTHORIZATION) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .and_then(SessionToken::parse)
            .map_or(Credential::Unreadable, Credential::Bearer),
        None => session_token(req, cookie_name).map_or(Credential::None, Credential::Cookie),
    }
}

/// The token of `Bearer <token>`; the scheme's name is case-insensitive (RFC 9110, 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether the request carries `Authorization: Bearer …`: then no cookie speaks for it, and
/// neither the CSRF check nor the Origin guard, which protect the cookie, apply. Only the
/// bearer scheme counts: a browser never adds a bearer token by itself, whereas it does
/// resend HTTP Basic credentials a user once typed for a host.
pub fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .is_some()
}

/// The signed-in caller. Rejects with 401 `unauthenticated`, or 503 when the store is down.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Current);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    /// Every handler takes this once, so nothing is kept in the request's extensions for a
    /// second extraction: that copy of the session and profile cost a clone on every
    /// authenticated request and was never read.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let (token, transport) = match credential(&req, &state.cookies.session_name) {
                Credential::Cookie(token) => (token, Transport::Cookie),
                Credential::Bearer(token) => (token, Transport::Bearer),
                Credential::Unreadable => return Err(ApiError::Unauthenticated(UNKNOWN)),
                // A session cookie that is not of a session's shape is a credential that
                // names nothing; no cookie at all is no credential.
                Credential::None if req.cookie(&state.cookies.session_name).is_some() => {
                    return Err(ApiError::Unauthenticated(UNKNOWN))
                }
                Credential::None => return Err(ApiError::Unauthenticated(NO_SESSION)),
            };
            let Some(current) = state.sessions.authenticate(&token).await? else {
                // The 401 path alone pays for telling why.
                let why = state.sessions.why_ended(&token).await;
                return Err(ApiError::Unauthenticated(why.code()));
            };
            tracing::Span::current().record("user_id", tracing::field::display(current.user_id));
            req.extensions_mut().insert(Personal);
            // A bearer token lives in the extension's storage: no cookie to renew.
            if current.slid && transport == Transport::Cookie {
                req.extensions_mut().insert(RenewSessionCookie {
                    name: state.cookies.session_name.clone(),
                    header: state.cookies.session(token.expose(), current.expires_ms),
                });
            }
            Ok(Self(current))
        })
    }
}

/// The double-submit CSRF check: the `X-CSRF-Token` header must equal the CSRF cookie,
/// compared in constant time. A foreign page can make the browser send the cookie but can
/// neither read it nor set the header. Put this extractor first in a handler's arguments so
/// that it runs before any work.
///
/// A request with `Authorization: Bearer` passes: the header alone then names the session
/// (see [`credential`]), the cookie is ignored, and a bearer token is nothing a browser adds
/// by itself, so there is no ambient credential for a forged request to ride on. Such a
/// request is authenticated by its bearer token or not at all (401).
#[derive(Debug, Clone, Copy)]
pub struct CsrfVerified;

impl FromRequest for CsrfVerified {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::check(req).map(|()| CsrfVerified))
    }
}

impl CsrfVerified {
    /// The check itself, for a handler that must do something else first.
    pub fn check(req: &HttpRequest) -> Result<(), ApiError> {
        if has_bearer(req.headers()) {
            return Ok(());
        }
        check_csrf(req)
    }

    /// The double-submit check alone, whatever else the request carries: for starting a
    /// cookie-mode sign-in, which authenticates nobody and so has no bearer to rely on.
    pub fn check_cookie(req: &HttpRequest) -> Result<(), ApiError> {
        check_csrf(req)
    }
}

fn check_csrf(req: &HttpRequest) -> Result<(), ApiError> {
    let state = state(req)?;
    let cookie = req
        .cookie(&state.cookies.csrf_name)
        .ok_or(ApiError::CsrfFailed)?;
    let header = req.headers().get(CSRF_HEADER).ok_or(ApiError::CsrfFailed)?;
    let cookie = cookie.value().as_bytes();
    if cookie.is_empty() || !bool::from(cookie.ct_eq(header.as_bytes())) {
        return Err(ApiError::CsrfFailed);
    }
    Ok(())
}

/// What the store records about the client: its user agent and address.
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        user_agent: header_str(req.headers(), header::USER_AGENT).to_owned(),
        ip: client_ip(req).map(|ip| ip.to_string()).unwrap_or_default(),
    }
}

/// The client's address, as [`client_addr::client_ip`] decides it with the configured
/// trusted proxies.
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.limits.trusted_proxies.as_slice())
        .unwrap_or_default();
    client_addr::client_ip(req.peer_addr(), req.headers(), trusted)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::COOKIE, HeaderValue::from_str(v).expect("header"));
        }
        headers
    }

    #[test]
    fn the_first_cookie_of_the_name_is_read_from_every_cookie_header() {
        let h = cookies(&["a=1; s=tok; s=second", "s=third"]);
        assert_eq!(cookie_value(&h, "s"), Some("tok"));
        assert_eq!(cookie_value(&h, "a"), Some("1"));
        let h = cookies(&["other=1", "s=x.y"]);
        assert_eq!(cookie_value(&h, "s"), Some("x.y"));
        for none in [&["ss=1; xs=2"][..], &["s"], &[""], &[]] {
            assert_eq!(cookie_value(&cookies(none), "s"), None, "{none:?}");
        }
        assert_eq!(cookie_value(&cookies(&["s="]), "s"), Some(""));
    }
}
