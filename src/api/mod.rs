//! The HTTP surface: [`ROUTES`], the one list of what the application serves (each route with
//! its limit), the state and extractors handlers use, the middleware, the OpenAPI document,
//! and one module per area of routes. Handlers extract, call one service, and map the result
//! to HTTP; the use cases live outside this module (`crate::login`, `crate::vision`,
//! `crate::billing`, `crate::session`).

pub mod auth;
pub(crate) mod events;
pub mod extract;
pub(crate) mod health;
pub mod middleware;
pub mod openapi;
pub mod responses;
pub(crate) mod sessions;
pub mod state;
pub(crate) mod user;
pub(crate) mod vision;
pub(crate) mod webhooks;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, Resource, Route};

use self::middleware::rate_limit::{enforce, LimitScope};

/// One method on one path, and the handler that answers it.
pub struct Endpoint {
    pub method: Method,
    /// The actix-web pattern, which is also the OpenAPI path (`/api/sessions/{id}`).
    pub path: &'static str,
    /// The handler, as `web::route().to(handler)`; [`configure`] adds the method guard from
    /// `method`, so the two cannot disagree.
    handler: fn() -> Route,
    /// Settings of the path's resource (the webhook's own body limit); most have none.
    resource: fn(Resource) -> Resource,
    /// The request limit that guards this endpoint, if any. It wraps the handler itself, so
    /// no spelling of the path reaches the handler around it.
    pub limit: Option<LimitScope>,
}

impl Endpoint {
    const fn new(method: Method, path: &'static str, handler: fn() -> Route) -> Self {
        Self {
            method,
            path,
            handler,
            resource: |r| r,
            limit: None,
        }
    }

    const fn limited(mut self, scope: LimitScope) -> Self {
        self.limit = Some(scope);
        self
    }

    const fn with_resource(mut self, resource: fn(Resource) -> Resource) -> Self {
        self.resource = resource;
        self
    }
}

/// Every route the application serves. [`configure`] registers exactly these entries and
/// nothing else, so this list *is* the router, not a description of it kept by hand; the
/// OpenAPI coverage test (`tests/api/openapi.rs`) compares it with `/openapi.json` both ways
/// (every entry documented, every documented operation an entry) and asks the running app for
/// each, so neither the document nor this list can drift from what is served. A route
/// registered any other way would bypass that test: add routes here only.
pub static ROUTES: &[Endpoint] = &[
    // First: actix-web's router tries the routes in this order, and each route with a
    // `{segment}` before the match runs a regex and allocates its captures. The authenticated
    // hot path matches at once (docs/performance.md).
    Endpoint::new(Method::GET, "/api/user/info", || {
        web::route().to(user::info)
    }),
    Endpoint::new(Method::GET, "/healthz", || web::route().to(health::healthz)),
    Endpoint::new(Method::GET, "/readyz", || web::route().to(health::readyz)),
    Endpoint::new(Method::GET, "/metrics", || web::route().to(health::metrics)),
    Endpoint::new(Method::GET, "/openapi.json", || {
        web::route().to(openapi::document)
    }),
    Endpoint::new(Method::GET, "/auth/csrf-token", || {
        web::route().to(auth::csrf::csrf_token)
    })
    .limited(LimitScope::SignIn),
    Endpoint::new(Method::POST, "/auth/logout", || {
        web::route().to(auth::logout::logout)
    }),
    Endpoint::new(Method::GET, "/auth/{provider}/login", || {
        web::route().to(auth::login::login)
    })
    .limited(LimitScope::SignIn),
    Endpoint::new(Method::GET, "/auth/{provider}/callback", || {
        web::route().to(auth::callback::callback)
    })
    .limited(LimitScope::SignIn),
    Endpoint::new(Method::POST, "/auth/token", || {
        web::route().to(auth::token::token)
    })
    .limited(LimitScope::SignIn),
    Endpoint::new(Method::GET, "/auth/complete", || {
        web::route().to(auth::token::complete)
    }),
    Endpoint::new(Method::GET, "/api/user/events", || {
        web::route().to(events::my_events)
    })
    .limited(LimitScope::Sessions),
    Endpoint::new(Method::POST, "/api/openai/extract-subtitles", || {
        web::route().to(vision::extract_subtitles)
    })
    .limited(LimitScope::Vision),
    Endpoint::new(Method::GET, "/api/sessions", || {
        web::route().to(sessions::list)
    })
    .limited(LimitScope::Sessions),
    Endpoint::new(Method::DELETE, "/api/sessions", || {
        web::route().to(sessions::revoke_others)
    })
    .limited(LimitScope::Sessions),
    Endpoint::new(Method::DELETE, "/api/sessions/{id}", || {
        web::route().to(sessions::revoke_one)
    })
    .limited(LimitScope::Sessions),
    Endpoint::new(Method::POST, "/webhooks/stripe", || {
        web::route().to(webhooks::stripe)
    })
    .with_resource(webhooks::resource),
];

/// Registers [`ROUTES`]: one resource per path, holding a route per method, so that a wrong
/// method answers 405 with `Allow` rather than 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for endpoint in ROUTES {
        if !paths.contains(&endpoint.path) {
            paths.push(endpoint.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for endpoint in ROUTES.iter().filter(|e| e.path == path) {
            let mut route = (endpoint.handler)().method(endpoint.method.clone());
            if let Some(scope) = endpoint.limit {
                route = route.wrap(from_fn(move |req, next| enforce(scope, req, next)));
            }
            resource = (endpoint.resource)(resource).route(route);
        }
        cfg.service(resource);
    }
}
