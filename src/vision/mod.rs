//! The vision proxy: the client of the OpenAI-compatible API (the key stays on the server),
//! what an upload's bytes are, and the daily quota.

mod client;
mod image;
pub mod quota;

pub use self::client::{UpstreamError, VisionClient};
pub use self::image::ImageKind;
