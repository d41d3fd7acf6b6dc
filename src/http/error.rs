//! The HTTP layer's one error type, mapped once to the JSON envelope (docs/api.md, "Envelope"):
//! `{"success": false, "error": "<for a person>", "code": "<stable_snake_case>"}`.
//!
//! The cause chain of a server-side failure goes to the log; the client gets the envelope only.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::{Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::request_id;
use crate::session::StoreError;

/// The error envelope (docs/api.md, "Envelope"), the body of every JSON error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = ErrorBody,
    example = json!({"success": false, "error": "You are not signed in, or your session has ended.", "code": "unauthenticated", "request_id": "5f0c2a9e8d7b4c3a9e1f0a2b3c4d5e6f"})
)]
pub struct ErrorBody<'a> {
    pub success: Failed,
    /// A message for a person; it may change between versions.
    pub error: &'a str,
    /// A stable `snake_case` code for programs (docs/api.md lists them).
    #[schema(pattern = "^[a-z][a-z0-9_]*$")]
    pub code: &'a str,
    /// The request's id, also in the `X-Request-Id` header and on every log line of the
    /// request: quote it when reporting a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request_id: Option<String>,
}

impl<'a> ErrorBody<'a> {
    /// The envelope of `code` and `message`, with the current request's id.
    pub fn new(code: &'a str, message: &'a str) -> Self {
        Self {
            success: Flag,
            error: message,
            code,
            request_id: request_id::current(),
        }
    }
}

/// The envelope of a 401 `unauthenticated`, with why (docs/api.md, "Why a session ended").
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = UnauthenticatedBody,
    example = json!({"success": false, "error": "You are not signed in, or your session has ended.", "code": "unauthenticated", "reason": "signed_out", "request_id": "5f0c2a9e8d7b4c3a9e1f0a2b3c4d5e6f"})
)]
pub struct UnauthenticatedBody<'a> {
    pub success: Failed,
    pub error: &'a str,
    /// Always `unauthenticated`.
    #[schema(example = "unauthenticated")]
    pub code: &'a str,
    /// `no_session`, `signed_out`, `revoked`, `revoked_by_operator`, `account_disabled`,
    /// `evicted`, `idle_timeout`, `expired` or `unknown`.
    #[schema(example = "signed_out")]
    pub reason: &'a str,
    /// The request's id, as in [`ErrorBody`].
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request_id: Option<String>,
}

/// The `reason` of a request that carried no credential.
pub const NO_SESSION: &str = "no_session";
/// The `reason` of a credential that names no session latchkey remembers (or that is not of
/// a session's shape).
pub const UNKNOWN: &str = "unknown";

/// The envelope's `success` flag, fixed by the answer's type: [`Succeeded`] in every answer that
/// succeeded, [`Failed`] in the error envelope. Serialised as the boolean and documented as
/// `{"type": "boolean", "enum": [OK]}`, so neither a handler nor the document can get it wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flag<const OK: bool>;

/// `"success": true`.
pub type Succeeded = Flag<true>;
/// `"success": false`.
pub type Failed = Flag<false>;

impl<const OK: bool> Serialize for Flag<OK> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(OK)
    }
}

impl<const OK: bool> PartialSchema for Flag<OK> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([OK]))
            .into()
    }
}

impl<const OK: bool> ToSchema for Flag<OK> {
    fn name() -> std::borrow::Cow<'static, str> {
        if OK { "Succeeded" } else { "Failed" }.into()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// With the `reason` the answer carries.
    #[error("You are not signed in, or your session has ended.")]
    Unauthenticated(&'static str),
    #[error("The CSRF token is missing or does not match; fetch /auth/csrf-token and retry.")]
    CsrfFailed,
    #[error("Requests from this origin are not allowed.")]
    OriginNotAllowed,
    #[error("No such session among yours.")]
    SessionNotFound,
    #[error("This sign-in provider is not configured.")]
    ProviderNotConfigured,
    #[error("This account is disabled.")]
    AccountDisabled,
    #[error("The sign-in provider did not answer as expected; try again in a moment.")]
    ProviderUnavailable,
    #[error("The session store is unavailable; try again shortly.")]
    SessionStoreUnavailable(#[source] anyhow::Error),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("The image is larger than the limit of {limit} bytes.")]
    ImageTooLarge { limit: usize },
    #[error("The upload is not a PNG, JPEG or WebP image.")]
    NotAnImage,
    #[error("Today's quota of {limit} extractions is used up; it renews at midnight UTC.")]
    QuotaExceeded { limit: u64, retry_after_secs: i64 },
    #[error(
        "Today's quota of {limit} extractions is taken by calls still in progress ({used} used, \
         {pending} in progress); try again in a moment."
    )]
    QuotaBusy {
        limit: u64,
        used: u64,
        pending: u64,
        retry_after_secs: i64,
    },
    #[error("Too many requests; try again in a moment.")]
    RateLimited { retry_after_secs: i64 },
    #[error("Subtitle extraction is not configured on this server.")]
    VisionUnavailable,
    #[error("The vision service failed; try again.")]
    UpstreamError(#[source] anyhow::Error),
    #[error("The vision service did not answer in time; try again.")]
    UpstreamTimeout,
    #[error("The Stripe webhook is not enabled on this server.")]
    WebhookDisabled,
    #[error("The database is unavailable; try again shortly.")]
    DatabaseUnavailable(#[source] anyhow::Error),
    #[error("Something went wrong on our side.")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::CsrfFailed => "csrf_failed",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::SessionNotFound => "session_not_found",
            Self::ProviderNotConfigured => "provider_not_configured",
            Self::AccountDisabled => "account_disabled",
            Self::ProviderUnavailable => "provider_error",
            Self::SessionStoreUnavailable(_) => "session_store_unavailable",
            Self::BadRequest { code, .. } => code,
            Self::ImageTooLarge { .. } => "image_too_large",
            Self::NotAnImage => "not_an_image",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::QuotaBusy { .. } => "quota_busy",
            Self::RateLimited { .. } => "rate_limited",
            Self::VisionUnavailable => "vision_unavailable",
            Self::UpstreamError(_) => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::WebhookDisabled => "webhook_disabled",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::SessionStoreUnavailable(e.into()),
            StoreError::Malformed(_) => Self::Internal(e.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::CsrfFailed | Self::OriginNotAllowed | Self::AccountDisabled => {
                StatusCode::FORBIDDEN
            }
            Self::SessionNotFound | Self::ProviderNotConfigured => StatusCode::NOT_FOUND,
            Self::ProviderUnavailable => StatusCode::BAD_GATEWAY,
            Self::SessionStoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::ImageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotAnImage => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::QuotaExceeded { .. } | Self::QuotaBusy { .. } | Self::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::VisionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamError(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::WebhookDisabled => StatusCode::NOT_FOUND,
            Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %error_chain(self), "request failed");
        }
        let mut res = match self {
            Self::Unauthenticated(reason) => HttpResponse::build(status)
                .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
                .json(UnauthenticatedBody {
                    success: Flag,
                    error: &self.to_string(),
                    code: self.code(),
                    reason,
                    request_id: request_id::current(),
                }),
            _ => envelope(status, self.code(), &self.to_string()),
        };
        let retry_after = match self {
            Self::QuotaExceeded {
                retry_after_secs, ..
            }
            | Self::QuotaBusy {
                retry_after_secs, ..
            }
            | Self::RateLimited { retry_after_secs } => Some(retry_after_secs.max(&1).to_string()),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some("5".to_owned()),
            _ => None,
        };
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            res.headers_mut().insert(header::RETRY_AFTER, value);
        }
        res
    }
}

/// The error envelope with a status.
pub fn envelope(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(ErrorBody::new(code, message))
}

/// `error: cause: cause …` on one line, for the log.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Rewrites errors that actix-web or a middleware produced on its own (unknown route, wrong
/// method, unreadable body, CORS refusal…) into the envelope, keeping status and headers, so
/// that no client ever sees a plain-text or empty error body.
pub fn envelope_framework_errors<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Our own answers are JSON, or pages (the login callback's); actix-web's own errors are
    // plain text or empty.
    let ours = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/json") || v.starts_with(b"text/html")
    });
    if ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, message) = describe(status);
    let (req, original) = res.into_parts();
    let mut replacement = envelope(status, code, message);
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let res = ServiceResponse::new(req, replacement).map_into_boxed_body();
    Ok(ErrorHandlerResponse::Response(
        res.map_body(|_, b| EitherBody::right(b)),
    ))
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "The request is malformed."),
        401 => ("unauthenticated", "You are not signed in."),
        403 => ("forbidden", "This request is not allowed."),
        404 => ("not_found", "No such route."),
        405 => (
            "method_not_allowed",
            "This route does not take that method.",
        ),
        408 => ("request_timeout", "The request took too long to arrive."),
        411 => ("length_required", "The request needs a Content-Length."),
        413 => ("payload_too_large", "The request body is too large."),
        415 => (
            "unsupported_media_type",
            "The request body has an unsupported type.",
        ),
        431 => ("headers_too_large", "The request headers are too large."),
        402..=499 => ("bad_request", "The request cannot be served."),
        503 => (
            "unavailable",
            "The service is unavailable; try again shortly.",
        ),
        _ => ("internal_error", "Something went wrong on our side."),
    }
}
