//! The session and CSRF cookies, built in one place so that setting and clearing a cookie use
//! the same name, path and attributes (a cookie cleared with other attributes survives).
//!
//! Built with the `cookie` crate 0.18 rather than the one actix-web re-exports, which predates
//! the `Partitioned` attribute (CHIPS); handlers append the rendered `Set-Cookie` header.

use actix_web::http::header::{HeaderName, SET_COOKIE};
use cookie::{time, Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, SessionSettings};

/// The cookie binding a login flow to the browser that started it.
pub const BINDING_COOKIE: &str = "__Host-latchkey_login";

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
        let mut cookie = self.base(BINDING_COOKIE, value);
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

fn header(cookie: Cookie<'_>) -> SetCookie {
    (SET_COOKIE, cookie.to_string())
}
