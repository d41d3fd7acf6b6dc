//! The OpenAPI 3 document of every route, served at `GET /openapi.json`.
//!
//! It is generated from the code: each handler carries its `#[utoipa::path]`, each JSON body is
//! the `#[derive(Serialize, ToSchema)]` struct the handler actually serialises, and [`ApiDoc`]
//! lists the handlers. `tests/api/openapi.rs` checks that the operations listed here are exactly
//! the routes in [`super::ROUTES`], which is what the server registers. The handlers import
//! nothing from here: what they share with the document is in [`super::responses`].

use actix_web::{web, HttpResponse};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, ToSchema};

use super::responses::{CsrfRefused, RateLimited, StoreUnavailable, Unauthenticated};
use super::state::AppState;
use super::{auth, events, health, sessions, user, vision, webhooks};

/// Names of the security schemes, as the handlers' `security(...)` attributes use them.
pub mod scheme {
    /// The session cookie (`session.cookie_name`).
    pub const SESSION: &str = "session";
    /// The CSRF cookie (`session.csrf_cookie_name`), half of the double-submit check.
    pub const CSRF_COOKIE: &str = "csrf_cookie";
    /// The `X-CSRF-Token` header, the other half: it must equal the CSRF cookie.
    pub const CSRF_HEADER: &str = "csrf_header";
    /// `Authorization: Bearer <session token>`, token mode's credential.
    pub const BEARER: &str = "bearer";
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
        auth::csrf::csrf_token,
        auth::login::login,
        auth::callback::callback,
        auth::token::token,
        auth::token::complete,
        auth::logout::logout,
        user::info,
        events::my_events,
        sessions::list,
        sessions::revoke_others,
        sessions::revoke_one,
        vision::extract_subtitles,
        webhooks::stripe,
        health::healthz,
        health::readyz,
        health::metrics,
        document,
    ),
    components(
        schemas(crate::http::error::ErrorBody, crate::http::error::UnauthenticatedBody),
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
            components.security_schemes.insert(
                scheme::SESSION.into(),
                session_scheme(facts.session_cookie).into(),
            );
            components.security_schemes.insert(
                scheme::CSRF_COOKIE.into(),
                csrf_cookie_scheme(facts.csrf_cookie).into(),
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
                // Our own parameters are inline (`RefOr::T`); a `$ref` would name a shared one.
                let params = operation.parameters.iter_mut().flatten();
                let inline = params.filter_map(|p| match p {
                    RefOr::T(param) => Some(param),
                    RefOr::Ref(_) => None,
                });
                for param in
                    inline.filter(|p| p.name == "provider" && p.parameter_in == ParameterIn::Path)
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

/// Adds the four security schemes (the handlers refer to them by name).
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
        components.add_security_scheme(
            scheme::BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The session token of `POST /auth/token` (token mode). When an \
                         `Authorization` header is present it alone decides: the cookie is \
                         ignored, and no `X-CSRF-Token` is needed.",
                    ))
                    .build(),
            ),
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

/// The document as served, as JSON. Built per request: it is asked for rarely, and what it
/// says depends on the configuration.
pub fn render(facts: &ServerFacts<'_>) -> String {
    // Serialising these plain data types cannot fail.
    ApiDoc::for_server(facts)
        .to_json()
        .unwrap_or_else(|_| "{}".into())
}

/// The outline of an OpenAPI 3 document (the specification describes the rest).
#[derive(ToSchema)]
#[allow(dead_code)] // rendered by utoipa, never built: this is only its schema
pub struct OpenApiDocument {
    /// The OpenAPI version, `3.x.y`.
    #[schema(pattern = "^3\\.", example = "3.1.0")]
    openapi: String,
    #[schema(value_type = Object)]
    info: (),
    #[schema(value_type = Object)]
    paths: (),
    #[schema(value_type = Object)]
    components: (),
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    description = "The OpenAPI 3 document of every route, with this server's cookie names and \
        sign-in providers.",
    responses(
        (status = 200, description = "The OpenAPI document.", body = OpenApiDocument),
    )
)]
pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    let providers = state
        .settings
        .providers
        .keys()
        .filter(|name| state.providers.get(name).is_some())
        .cloned()
        .collect();
    let facts = ServerFacts {
        session_cookie: &state.cookies.session_name,
        csrf_cookie: &state.cookies.csrf_name,
        providers,
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(render(&facts))
}
