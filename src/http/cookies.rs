//! The session and CSRF cookies, built in one place so that setting and clearing a cookie use
//! the same name, path and attributes (a cookie cleared with other attributes survives).
//!
//! Built with the `cookie` crate 0.18 rather than the one actix-web re-exports, which predates
//! the `Partitioned` attribute (CHIPS); handlers append the rendered `Set-Cookie` header.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CACHE_CONTROL, SET_COOKIE};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use cookie::{time, Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, SessionSettings};

#[derive(Debug, Clone)]
pub struct CookiePolicy {
    pub session_name: String,
    pub csrf_name: String,
    same_site: CookieSameSite,
    /// The login binding's: never `Strict`, which the browser would withhold on the provider's
    /// cross-site redirect to the callback, failing every sign-in.
    binding_same_site: CookieSameSite,
    partitioned: bool,
}

impl CookiePolicy {
    pub fn new(settings: &SessionSettings) -> Self {
        let (same_site, binding_same_site) = match settings.same_site {
            SameSite::None => (CookieSameSite::None, CookieSameSite::None),
            SameSite::Lax => (CookieSameSite::Lax, CookieSameSite::Lax),
            SameSite::Strict => (CookieSameSite::Strict, CookieSameSite::Lax),
        };
        Self {
            session_name: settings.cookie_name.clone(),
            csrf_name: settings.csrf_cookie_name.clone(),
            same_site,
            binding_same_site,
            partitioned: settings.partitioned,
        }
    }

    /// `HttpOnly; Secure; SameSite; Path=/`, no `Domain` (which also satisfies the `__Host-`
    /// prefix). Browsers treat `http://localhost` as secure, so this works in development too.
    fn base(&self, name: &str, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((name.to_owned(), value))
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(self.same_site)
            .build();
        if self.partitioned {
            cookie.set_partitioned(true);
        }
        cookie
    }

    /// The session cookie, living until the session's current expiry (`expires_ms`, Unix
    /// milliseconds): its `Max-Age` follows the idle timeout, at login and at each slide.
    pub fn session(&self, token: &str, expires_ms: i64) -> SetCookie {
        let max_age_secs = (expires_ms - crate::session::now_ms()) / 1000;
        let mut cookie = self.base(&self.session_name, token.to_owned());
        cookie.set_max_age(time::Duration::seconds(max_age_secs.max(0)));
        header(cookie)
    }

    pub fn clear_session(&self) -> SetCookie {
        let mut cookie = self.base(&self.session_name, String::new());
        cookie.make_removal();
        header(cookie)
    }

    /// The cookie that binds a login flow to the browser that started it; it lives as long as
    /// a flow may.
    pub fn binding(&self, value: &str, max_age_secs: i64) -> SetCookie {
        let mut cookie = self.binding_base(value.to_owned());
        cookie.set_max_age(time::Duration::seconds(max_age_secs.max(0)));
        header(cookie)
    }

    pub fn clear_binding(&self) -> SetCookie {
        let mut cookie = self.binding_base(String::new());
        cookie.make_removal();
        header(cookie)
    }

    fn binding_base(&self, value: String) -> Cookie<'static> {
        let mut cookie = self.base(crate::auth::flow::BINDING_COOKIE, value);
        cookie.set_same_site(self.binding_same_site);
        cookie
    }

    /// The CSRF cookie lives as long as the browser session; the token is also in the body of
    /// `/auth/csrf-token`, which is how the extension reads it.
    pub fn csrf(&self, token: &str) -> SetCookie {
        header(self.base(&self.csrf_name, token.to_owned()))
    }
}

/// A `Set-Cookie` header, for `HttpResponseBuilder::append_header`.
pub type SetCookie = (HeaderName, String);

/// Left in the request's extensions by the `Authenticated` extractor when the request slid the
/// session's idle expiry: the session cookie to send again, with its new `Max-Age`.
pub struct RenewSessionCookie {
    pub name: String,
    pub header: SetCookie,
}

/// Sends the session cookie again when the request slid the session, so that the browser's
/// copy lives as long as the server's record (contract §4: `Max-Age` follows the idle
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

fn header(cookie: Cookie<'_>) -> SetCookie {
    (SET_COOKIE, cookie.to_string())
}
