//! The HTTP toolkit: what any HTTP code needs and that knows nothing of the application's
//! state: the error envelope, cookie building, the client's address, the current request id.

pub mod client_addr;
pub mod cookies;
pub mod error;
pub mod request_id;

pub use error::ApiError;
