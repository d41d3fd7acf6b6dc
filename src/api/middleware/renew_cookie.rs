//! The session cookie follows the session: sent again when a request slid its idle expiry.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, SET_COOKIE};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use crate::http::cookies::SetCookie;

/// Left in the request's extensions by the `Authenticated` extractor when the request slid the
/// session's idle expiry: the session cookie to send again, with its new `Max-Age`.
pub struct RenewSessionCookie {
    pub name: String,
    pub header: SetCookie,
}

/// Sends the session cookie again when the request slid the session, so that the browser's
/// copy lives as long as the server's record (docs/api.md, "Cookies": `Max-Age` follows the idle
/// timeout) instead of dying `idle_timeout` after the login. This happens at most once per
/// refresh step, like the store's write. A handler that set the session cookie itself
/// (logout, revoking the current session) wins.
pub async fn renew_session_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let renewal = res
        .request()
        .extensions_mut()
        .remove::<RenewSessionCookie>();
    let Some(RenewSessionCookie { name, header }) = renewal else {
        return Ok(res);
    };
    let prefix = format!("{name}=");
    let handler_set_it = res
        .headers()
        .get_all(SET_COOKIE)
        .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
    if handler_set_it {
        return Ok(res);
    }
    if let Ok(value) = HeaderValue::from_str(&header.1) {
        let headers = res.headers_mut();
        headers.append(SET_COOKIE, value);
        // A response that carries a session token is nobody's to cache.
        if !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    Ok(res)
}
