//! Headers that protect every answer, set in one place rather than by each handler.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

/// Left in the request's extensions by the `Authenticated` extractor: the answer is about the
/// signed-in user (their profile, sessions, events, or work done with their quota), so no
/// cache between the extension and us may keep it. Marking it where the session is read
/// covers every route that reads one, including routes added later.
pub struct Personal;

/// `X-Content-Type-Options: nosniff` on every answer, so that no browser reads a JSON or
/// text answer as HTML or script; `Cache-Control: no-store` on every answer marked
/// [`Personal`], replacing whatever the handler set.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let personal = res.request().extensions().contains::<Personal>();
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if personal {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
