//! `POST /webhooks/stripe` (docs/api.md, "Stripe's webhook"; docs/billing.md): Stripe's events, signed with the endpoint's
//! secret. The body is read raw, with its own limit, and its signature checked before it is
//! parsed at all. Neither the body nor the secret is ever logged.

use actix_web::{web, HttpRequest, HttpResponse, Resource};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::responses::Succeeded;
use crate::api::state::AppState;
use crate::billing::{self, BillingError, Event, Handled};
use crate::http::error::ErrorBody;
use crate::http::error::Flag;
use crate::http::ApiError;

pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// Largest event body accepted. Stripe's events are a few KiB; a checkout session with many
/// line items stays far below this.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The resource's own body limit (the application's default is smaller).
pub fn resource(resource: Resource) -> Resource {
    resource.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
}

/// A Stripe event, as far as the document describes it (the body is verified before it is
/// parsed; docs/billing.md lists the types handled).
#[derive(ToSchema)]
#[allow(dead_code)] // read from the raw body by `Event::parse`: this is only its schema
pub struct StripeEvent {
    #[schema(example = "evt_1NG8Du2eZvKYlo2CUI79vXWy")]
    id: String,
    #[schema(rename = "type", example = "customer.subscription.updated")]
    kind: String,
    /// Unix seconds.
    created: i64,
    /// `{"object": {...}}`: the subscription, checkout session or invoice.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// What latchkey did with an event.
#[derive(Serialize, ToSchema)]
pub struct WebhookReceipt {
    success: Succeeded,
    event_id: String,
    /// What latchkey did (`applied`, `ignored`, `unknown_customer`…; docs/billing.md), or
    /// `duplicate` for an event id already handled.
    #[schema(example = "applied")]
    outcome: &'static str,
    /// The event id was handled before; nothing changed.
    duplicate: bool,
}

#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "billing",
    summary = "Stripe's webhook",
    description = "Receives Stripe's events, signed with the endpoint's secret \
        (`billing.stripe_webhook_secret`); a repeated event id changes nothing. Exempt from the \
        `Origin` check.",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex \
        HMAC-SHA256 of \"{t}.{body}\">`; 5 minutes' tolerance.")),
    request_body(content = StripeEvent, content_type = "application/json",
        description = "The event, at most 256 KiB."),
    responses(
        (status = 200, description = "Handled (an event for an unknown customer is recorded and \
            answered 200 too).", body = WebhookReceipt),
        (status = 400, description = "`bad_signature`: the signature is missing, invalid or too \
            old; or `invalid_event`: a signed body that is not a readable event.",
            body = ErrorBody),
        (status = 404, description = "`webhook_disabled`: no webhook secret is configured.",
            body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body exceeds 256 KiB.",
            body = ErrorBody),
        (status = 503, description = "`database_unavailable`.", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait before trying again."))),
    )
)]
pub async fn stripe(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = state.settings.billing.stripe_webhook_secret.as_ref() else {
        return Err(ApiError::WebhookDisabled);
    };
    let header = req.headers().get(SIGNATURE_HEADER).map(|v| v.as_bytes());
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = billing::verify(header, &body, secret.expose_secret().as_bytes(), now) {
        tracing::warn!(reason = %e, "Stripe webhook refused");
        return Err(ApiError::BadRequest {
            code: "bad_signature",
            message: format!("The signature was not accepted: {e}."),
        });
    }
    let event = Event::parse(&body).map_err(|e| {
        tracing::warn!(
            error = e.summary(),
            "signed Stripe webhook body is not a readable event"
        );
        ApiError::BadRequest {
            code: "invalid_event",
            message: format!("The body is not a Stripe event latchkey can read: {e}."),
        }
    })?;
    let handled = billing::handle(&state.db, &state.sessions, &state.journal, &event)
        .await
        .map_err(|e| match e {
            // Both counted with every other dependency failure, by `observe`.
            BillingError::Database(e) => ApiError::DatabaseUnavailable(e.into()),
            BillingError::SessionStore(e) => ApiError::from(e),
        })?;
    let (outcome, duplicate) = match handled {
        Handled::Processed(outcome) => (outcome.as_str(), false),
        Handled::Duplicate => ("duplicate", true),
    };
    Ok(HttpResponse::Ok().json(WebhookReceipt {
        success: Flag,
        event_id: event.id,
        outcome,
        duplicate,
    }))
}
