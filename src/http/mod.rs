//! The HTTP toolkit: what any HTTP code needs and that knows nothing of the application's
//! state: the error envelope, cookie building, the client's address.

pub mod client_addr;
pub mod cookies;
pub mod error;

pub use error::ApiError;
