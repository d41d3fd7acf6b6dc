//! What every request leaves behind: a request id (`X-Request-Id`, on every log line of the
//! request through its span, and in its error answers through [`request_id::current`]), one
//! log line, and its place in the request histogram.
//!
//! The log line has the path but never the query string (it can carry an OAuth code), and no
//! header values (cookies, tokens).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::api::state::AppState;
use crate::http::{client_addr, request_id, ApiError};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id set by a trusted proxy in front of us (`limits.trusted_proxies`) is kept when
/// it is short and plain, so one id follows the request through both logs. From anyone else
/// it is replaced: a client must not choose the id its requests are logged under.
fn request_id(req: &ServiceRequest) -> String {
    let from_trusted_proxy = req
        .app_data::<web::Data<AppState>>()
        .zip(req.peer_addr())
        .is_some_and(|(state, peer)| {
            client_addr::is_trusted(peer.ip(), &state.settings.limits.trusted_proxies)
        });
    req.headers()
        .get(&REQUEST_ID)
        .filter(|_| from_trusted_proxy)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

/// 32 hex digits from the thread's CSPRNG (seeded once from the OS), so no system call per
/// request, and ids that reveal nothing about the replica or its request rate.
fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The method as a metric label: one of HTTP's registered methods, or `other`. A client may
/// send any token as a method (actix answers it 405); labelling it raw let anyone add series
/// to `/metrics` without bound.
fn method_label(method: &Method) -> &'static str {
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        path = %req.path(),
        user_id = tracing::field::Empty,
    );
    let mut res = request_id::scope(id.clone(), next.call(req))
        .instrument(span.clone())
        .await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        // Every label is chosen by us, never by the client: the route's pattern (a path that
        // matched no route is one label), a known method or `other`, and the status.
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state
            .metrics
            .http_requests
            .with_label_values(&[route.as_str(), method_label(&method), res.status().as_str()])
            .observe(elapsed.as_secs_f64());
        // Every answer that failed for one of our dependencies counts here, once, whichever
        // handler met it.
        let dependency = match res
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>())
        {
            Some(ApiError::SessionStoreUnavailable(_)) => Some("redis"),
            Some(ApiError::DatabaseUnavailable(_)) => Some("database"),
            _ => None,
        };
        if let Some(dependency) = dependency {
            state
                .metrics
                .dependency_errors
                .with_label_values(&[dependency])
                .inc();
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    span.in_scope(|| {
        tracing::info!(status, ms = elapsed.as_millis() as u64, "request");
    });
    Ok(res)
}
