//! `GET /openapi.json`: the OpenAPI 3 document of every route (contract §3), generated from
//! the handlers' annotations (`src/openapi.rs`).

use actix_web::{web, HttpResponse};
use utoipa::ToSchema;

use crate::openapi::{render, ServerFacts};
use crate::state::AppState;

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
