//! What handlers answer with, shared by the handlers and the OpenAPI document: the `success`
//! flag, the plain "done" answer, and the reusable error answers of the document. A leaf: it
//! imports no handler and no document, so both can import it without a cycle.

use serde::Serialize;
use utoipa::openapi::header::Header;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{ToResponse, ToSchema};

pub use crate::http::error::Succeeded;

/// `{"success": true}`, the answer of routes with nothing else to say.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub success: Succeeded,
}

/// A time in Unix milliseconds as RFC 3339, for JSON answers.
pub fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A JSON error answer: the envelope, with what the status means on this route.
pub fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    )
}

/// The `Retry-After` header of 429 and 503 answers.
pub fn retry_after() -> Header {
    let mut header = Header::new(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1)),
    );
    header.description = Some("Seconds to wait before trying again.".into());
    header
}

macro_rules! reusable_response {
    ($(#[$doc:meta])* $name:ident => $build:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), RefOr::T($build))
            }
        }
    };
}

reusable_response!(
    /// 401 `unauthenticated`, with its `reason`.
    Unauthenticated => ResponseBuilder::new()
        .description(
            "`unauthenticated`: no session cookie or bearer token, a malformed one, or a session \
             that is unknown, expired or revoked. `reason` says which: `no_session`, \
             `signed_out`, `revoked`, `revoked_by_operator`, `account_disabled`, `evicted`, \
             `idle_timeout`, `expired` or `unknown`.",
        )
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("UnauthenticatedBody"))),
        )
        .build()
);

reusable_response!(
    /// 403 on a state-changing route of a session.
    CsrfRefused => error_response(
        "`csrf_failed`: `X-CSRF-Token` is missing or does not equal the CSRF cookie; or \
         `origin_not_allowed`: the request's `Origin` is not an allowed one.",
    )
    .build()
);

reusable_response!(
    /// 429 `rate_limited`.
    RateLimited => error_response(
        "`rate_limited`: a `limits.*` budget is spent for this client.",
    )
    .header("Retry-After", retry_after())
    .build()
);

reusable_response!(
    /// 503 `session_store_unavailable`.
    StoreUnavailable => error_response(
        "`session_store_unavailable`: Redis did not answer in time.",
    )
    .header("Retry-After", retry_after())
    .build()
);
