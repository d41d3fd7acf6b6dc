//! What wraps the handlers: request ids and metrics (`observe`), security headers, the origin
//! guard, the per-route limits, and the session cookie's renewal. The order is set in
//! `startup.rs`; `docs/architecture.md` explains it.

pub mod observe;
pub mod origin;
pub mod rate_limit;
pub mod renew_cookie;
pub mod security_headers;
