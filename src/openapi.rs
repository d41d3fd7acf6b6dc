//! The OpenAPI 3 document of contract §3, served at `GET /openapi.json`.
//!
//! It is generated from the code: each handler carries its `#[utoipa::path]`, each JSON body is
//! the `#[derive(Serialize, ToSchema)]` struct the handler actually serialises, and [`ApiDoc`]
//! lists the handlers. `tests/api/openapi.rs` checks that the operations listed here are exactly
//! the routes in [`crate::routes::ROUTES`], which is what the server registers.

use utoipa::openapi::header::Header;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

use crate::routes;

/// Names of the security schemes, as the handlers' `security(...)` attributes use them.
pub mod scheme {
    /// The session cookie (`session.cookie_name`).
    pub const SESSION: &str = "session";
    /// The CSRF cookie (`session.csrf_cookie_name`), half of the double-submit check.
    pub const CSRF_COOKIE: &str = "csrf_cookie";
    /// The `X-CSRF-Token` header, the other half: it must equal the CSRF cookie.
    pub const CSRF_HEADER: &str = "csrf_header";
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "latchkey",
        description = "Login and session server for browser extensions. Every JSON answer is \
            `{\"success\": true, ...}` or the error envelope `{\"success\": false, \"error\", \
            \"code\"}` (schema `ErrorBody`; docs/api.md lists the codes). Routes that need a \
            session take the session cookie; state-changing ones also need `X-CSRF-Token` \
            equal to the CSRF cookie (from `GET /auth/csrf-token`). An unsafe method whose \
            `Origin` is not in `cors.allowed_origins` is refused with 403 `origin_not_allowed`; \
            an unknown path answers 404 `not_found`, a method a path does not take 405 \
            `method_not_allowed`."
    ),
    paths(
        routes::csrf::csrf_token,
        routes::login::login,
        routes::login::callback,
        routes::logout::logout,
        routes::user::info,
        routes::sessions::list,
        routes::sessions::revoke_others,
        routes::sessions::revoke_one,
        routes::vision::extract_subtitles,
        routes::webhooks::stripe,
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::openapi::document,
    ),
    components(
        schemas(crate::http::error::ErrorBody),
        responses(Unauthenticated, CsrfRefused, RateLimited, StoreUnavailable)
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-in with a provider, CSRF token, sign-out"),
        (name = "user", description = "The signed-in user"),
        (name = "sessions", description = "The signed-in user's sessions"),
        (name = "vision", description = "The vision proxy"),
        (name = "billing", description = "Stripe's webhook"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// What the served document says about this server in particular.
pub struct ServerFacts<'a> {
    /// `session.cookie_name`.
    pub session_cookie: &'a str,
    /// `session.csrf_cookie_name`.
    pub csrf_cookie: &'a str,
    /// The configured sign-in providers, the values `{provider}` takes (any other is 404
    /// `provider_not_configured`). Empty: left a free string.
    pub providers: Vec<String>,
}

impl ApiDoc {
    /// The document for a server configured as `facts` says: its cookie names in the security
    /// schemes (which otherwise name the defaults, `__Host-latchkey_session` and
    /// `__Host-latchkey_csrf`) and its providers as the values of `{provider}`.
    pub fn for_server(facts: &ServerFacts<'_>) -> utoipa::openapi::OpenApi {
        let mut doc = Self::openapi();
        if let Some(components) = doc.components.as_mut() {
            components
                .security_schemes
                .insert(scheme::SESSION.into(), session_scheme(facts.session_cookie));
            components.security_schemes.insert(
                scheme::CSRF_COOKIE.into(),
                csrf_cookie_scheme(facts.csrf_cookie),
            );
        }
        if !facts.providers.is_empty() {
            let mut providers = facts.providers.clone();
            providers.sort();
            let operations = doc.paths.paths.values_mut().flat_map(|item| {
                [
                    &mut item.get,
                    &mut item.post,
                    &mut item.put,
                    &mut item.delete,
                ]
                .into_iter()
                .flatten()
            });
            for operation in operations {
                let params = operation.parameters.iter_mut().flatten();
                for param in
                    params.filter(|p| p.name == "provider" && p.parameter_in == ParameterIn::Path)
                {
                    param.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(providers.clone()))
                            .into(),
                    );
                }
            }
        }
        doc
    }
}

/// `session.cookie_name` and `session.csrf_cookie_name` by default (config/default.toml), the
/// names [`ApiDoc::openapi`] documents.
pub const DEFAULT_SESSION_COOKIE: &str = "__Host-latchkey_session";
pub const DEFAULT_CSRF_COOKIE: &str = "__Host-latchkey_csrf";

/// Adds the three security schemes (the handlers refer to them by name).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(scheme::SESSION, session_scheme(DEFAULT_SESSION_COOKIE));
        components
            .add_security_scheme(scheme::CSRF_COOKIE, csrf_cookie_scheme(DEFAULT_CSRF_COOKIE));
        components.add_security_scheme(
            scheme::CSRF_HEADER,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The token of `GET /auth/csrf-token`; it must equal the CSRF cookie.",
            ))),
        );
    }
}

fn session_scheme(name: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
        name,
        "The session cookie, set by a successful sign-in (`GET /auth/{provider}/callback`).",
    )))
}

fn csrf_cookie_scheme(name: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
        name,
        "The CSRF cookie, set by `GET /auth/csrf-token`; `X-CSRF-Token` must equal it.",
    )))
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
    /// 401 `unauthenticated`.
    Unauthenticated => error_response(
        "`unauthenticated`: no session cookie, a malformed one, or a session that is unknown, \
         expired or revoked.",
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

/// The document as served, as JSON. Built per request: it is asked for rarely, and what it
/// says depends on the configuration.
pub fn render(facts: &ServerFacts<'_>) -> String {
    // Serialising these plain data types cannot fail.
    ApiDoc::for_server(facts)
        .to_json()
        .unwrap_or_else(|_| "{}".into())
}
