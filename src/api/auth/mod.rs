//! Signing in and out: the CSRF token, a provider's login and callback, logout.

pub(crate) mod callback;
pub(crate) mod csrf;
pub(crate) mod login;
pub(crate) mod logout;
mod page;
pub(crate) mod token;
