//! Refuses cross-origin writes from origins not on the allowlist, before any work is done.
//!
//! CORS only stops a foreign page from *reading* an answer; a form POST or a `fetch` with
//! `mode: "no-cors"` still reaches the server with the user's cookies. So an unsafe method
//! (or a CORS preflight) whose `Origin` header is present and not allowed is answered 403
//! `origin_not_allowed` here. Requests without `Origin` (curl, the CLI, Stripe) pass: they
//! carry no victim's cookies by a browser's doing. So do requests with `Authorization: Bearer`
//! (a session token of token mode), a credential no browser adds by itself.
//!
//! It also removes every `Access-Control-*` header from answers to an origin that is not
//! allowed: actix-cors adds `Access-Control-Allow-Credentials` to every answer, and the
//! API promises that other origins get no CORS header at all (docs/api.md, "CORS and the
//! Origin guard").

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use crate::api::extract::has_bearer;
use crate::api::state::AppState;
use crate::http::ApiError;

/// Paths whose requests prove themselves by their body, not by a cookie: the signed webhook,
/// and the token exchange (its code and PKCE verifier), which any extension origin may call.
const EXEMPT_PATHS: &[&str] = &["/webhooks/stripe", "/auth/token"];

/// How long a refused origin, once logged, is not logged again.
const LOG_INTERVAL: Duration = Duration::from_secs(600);

/// How many distinct refused origins are logged per [`LOG_INTERVAL`]: the `Origin` header is
/// anyone's to choose, and the guard runs before any rate limit, so neither the log nor this
/// memory may grow with what a client sends. Every refusal is counted in `/metrics`.
const LOGGED_ORIGINS_PER_INTERVAL: usize = 32;

/// The exact origins of `cors.allowed_origins`, as app data for [`origin_policy`], and which
/// refused origins were logged lately.
pub struct AllowedOrigins {
    allowed: HashSet<String>,
    logged: Mutex<Logged>,
}

/// The refused origins logged since `since`.
struct Logged {
    since: Instant,
    origins: HashSet<String>,
}

impl Logged {
    /// Whether `origin` is to be logged now: once per interval, and only while the set of
    /// this interval has room.
    fn first_time(&mut self, origin: &str) -> bool {
        if self.since.elapsed() >= LOG_INTERVAL {
            self.since = Instant::now();
            self.origins.clear();
        }
        if self.origins.len() >= LOGGED_ORIGINS_PER_INTERVAL || self.origins.contains(origin) {
            return false;
        }
        self.origins.insert(origin.to_owned())
    }
}

impl AllowedOrigins {
    pub fn new(origins: &[String]) -> Self {
        Self {
            allowed: origins.iter().cloned().collect(),
            logged: Mutex::new(Logged {
                since: Instant::now(),
                origins: HashSet::new(),
            }),
        }
    }

    /// Whether a refusal of `origin` is to be logged ([`Logged::first_time`]).
    fn log_now(&self, origin: &str) -> bool {
        self.logged
            .lock()
            .map(|mut logged| logged.first_time(origin))
            .unwrap_or(false)
    }

    fn allows(&self, req: &ServiceRequest) -> bool {
        req.headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| self.allowed.contains(o))
    }

    fn refuses(&self, req: &ServiceRequest) -> bool {
        let unsafe_method = !matches!(
            *req.method(),
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if !(unsafe_method || preflight) || EXEMPT_PATHS.contains(&req.path()) {
            return false;
        }
        // A bearer token is sent by the extension's own code, never added by a browser: a
        // foreign page cannot forge it, and Firefox and Safari give every install a random
        // origin that no allowlist can name. (A preflight carries no `Authorization`, so a
        // foreign page's preflight is still refused.)
        if has_bearer(req.headers()) {
            return false;
        }
        match req.headers().get(header::ORIGIN) {
            None => false,
            Some(origin) => origin.to_str().map_or(true, |o| !self.allowed.contains(o)),
        }
    }
}

/// The `Origin` of a refused request as the log shows it: a header anyone can send, so
/// shortened, and only as the visible ASCII it must be.
fn shown_origin(req: &ServiceRequest) -> String {
    match req.headers().get(header::ORIGIN).map(|o| o.to_str()) {
        Some(Ok(origin)) => origin
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(200)
            .collect(),
        // Bytes that are no text (obs-text): never written, not even in part.
        Some(Err(_)) | None => "(not readable)".to_owned(),
    }
}

/// Says what was refused and what would let it through: for a Chromium extension, to allow
/// it if it is the operator's own (the origin is whatever the client sent, so the operator
/// checks it against the extension's id before allowing anything); for the browsers whose
/// extension origins no allowlist can name, token mode.
fn log_refusal(req: &ServiceRequest, origin: &str) {
    let method = req.method().as_str();
    let path = req.path();
    if origin.starts_with("moz-extension:") || origin.starts_with("safari-web-extension:") {
        tracing::warn!(%origin, method, path, "refused a request from an origin not in cors.allowed_origins (origin_not_allowed): Firefox and Safari give every install of an extension its own random origin, which no allowlist can name; use token mode (Authorization: Bearer, docs/extension.md). Logged once per origin every 10 minutes");
    } else {
        tracing::warn!(%origin, method, path, "refused a request from an origin not in cors.allowed_origins (origin_not_allowed): any page can send any Origin, so allow nothing on this line's word alone. If this is your extension's id (compare with chrome://extensions) or your site, add it to cors.allowed_origins (LATCHKEY__CORS__ALLOWED_ORIGINS). Logged once per origin every 10 minutes");
    }
}

/// Middleware (`middleware::from_fn`) applying the rules above. Without [`AllowedOrigins`]
/// registered, no origin is allowed.
pub async fn origin_policy(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let none = AllowedOrigins::new(&[]);
    let data = req.app_data::<web::Data<AllowedOrigins>>().cloned();
    let allowed: &AllowedOrigins = data.as_ref().map_or(&none, |d| d.get_ref());
    if allowed.refuses(&req) {
        if let Some(state) = req.app_data::<web::Data<AppState>>() {
            state.metrics.origin_refusals.inc();
        }
        let origin = shown_origin(&req);
        if allowed.log_now(&origin) {
            log_refusal(&req, &origin);
        }
        let res = ApiError::OriginNotAllowed.error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let cors_allowed = allowed.allows(&req);
    let mut res = next.call(req).await?;
    if !cors_allowed {
        let headers = res.headers_mut();
        let cors: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            headers.remove(name);
        }
    }
    Ok(res.map_into_left_body())
}
