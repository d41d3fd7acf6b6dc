//! A browser's cookie jar, as the extension's requests carry it.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, SET_COOKIE};

/// The extension origin that the test configuration allows.
pub const EXTENSION_ORIGIN: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";

pub const SESSION_COOKIE: &str = "__Host-latchkey_session";
pub const CSRF_COOKIE: &str = "__Host-latchkey_csrf";

/// A browser's cookie jar for one origin: enough to keep the session and CSRF cookies.
#[derive(Debug, Default, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    pub origin: Option<String>,
    /// Sent as `Authorization: Bearer <token>` (token mode), if set.
    pub bearer: Option<String>,
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    /// A browser running the allowed extension (its requests carry its `Origin`).
    pub fn extension() -> Self {
        Self {
            origin: Some(EXTENSION_ORIGIN.into()),
            ..Self::default()
        }
    }

    /// A client of token mode from `origin` (a random `moz-extension://` one, say), holding
    /// `token`.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.into());
        self
    }

    pub fn with_cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.insert(name.into(), value.into());
        self
    }

    /// The `Cookie` header this browser sends, if it has any cookie.
    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Applies `Set-Cookie` headers the way a browser would: a removal (Max-Age=0) deletes.
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(cookie) = cookie::Cookie::parse(text.to_owned()) else {
                continue;
            };
            let removed = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative());
            if removed {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
    }
}
