//! HTTP/1.1 on the client side, without IO: request bytes, URL handling and response framing.
//! Pure functions and state machines, so they can be unit tested and fuzzed in isolation.

pub mod request;
pub mod response;
pub mod url;

pub use request::RequestTemplate;
pub use response::{BodyDecoder, BodyKind, HttpError, ResponseHead};
pub use url::Endpoint;
