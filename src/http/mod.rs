//! What every route shares: the error envelope, cookies, extractors and the origin guard.

pub mod client_addr;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod headers;
pub mod observe;
pub mod origin;
pub mod ratelimit;

pub use error::ApiError;
pub use extract::{Authenticated, CsrfVerified};
