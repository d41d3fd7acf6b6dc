//! The session and CSRF cookies, built in one place so that setting and clearing a cookie use
//! the same name, path and attributes (a cookie cleared with other attributes survives).
//!
//! Built with the `cookie` crate 0.18 rather than the one actix-web re-exports, which predates
//! the `Partitioned` attribute (CHIPS); handlers append the rendered `Set-Cookie` header.

use actix_web::http::header::{HeaderName, SET_COOKIE};
use cookie::{time, Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, SessionSettings};

#[derive(Debug, Clone)]
pub struct CookiePolicy {
    pub session_name: String,
    pub csrf_name: String,
    same_site: CookieSameSite,
    partitioned: bool,
}

impl CookiePolicy {
    pub fn new(settings: &SessionSettings) -> Self {
        Self {
            session_name: settings.cookie_name.clone(),
            csrf_name: settings.csrf_cookie_name.clone(),
            same_site: match settings.same_site {
                SameSite::None => CookieSameSite::None,
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::Strict => CookieSameSite::Strict,
            },
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

    /// The session cookie; its `Max-Age` follows the idle timeout.
    pub fn session(&self, token: &str, max_age_secs: i64) -> SetCookie {
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
        let mut cookie = self.base(crate::auth::flow::BINDING_COOKIE, value.to_owned());
        cookie.set_max_age(time::Duration::seconds(max_age_secs.max(0)));
        header(cookie)
    }

    pub fn clear_binding(&self) -> SetCookie {
        let mut cookie = self.base(crate::auth::flow::BINDING_COOKIE, String::new());
        cookie.make_removal();
        header(cookie)
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
