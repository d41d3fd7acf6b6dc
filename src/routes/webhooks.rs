//! `POST /webhooks/stripe` (contract §3, §5): Stripe's events, signed with the endpoint's
//! secret. The body is read raw, with its own limit, and its signature checked before it is
//! parsed at all. Neither the body nor the secret is ever logged.

use actix_web::{web, HttpRequest, HttpResponse, Resource};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::billing::{self, Event, Handled};
use crate::http::ApiError;
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// Largest event body accepted. Stripe's events are a few KiB; a checkout session with many
/// line items stays far below this.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The resource, with its own body limit (the application's default is smaller).
pub fn resource() -> Resource {
    web::resource("/webhooks/stripe")
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .post(stripe)
}

async fn stripe(
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
    let handled = billing::handle(&state.db, &state.sessions, &event)
        .await
        .map_err(|e| {
            state
                .metrics
                .dependency_errors
                .with_label_values(&["database"])
                .inc();
            ApiError::DatabaseUnavailable(e.into())
        })?;
    let (outcome, duplicate) = match handled {
        Handled::Processed(outcome) => (outcome.as_str(), false),
        Handled::Duplicate => ("duplicate", true),
    };
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "event_id": event.id,
        "outcome": outcome,
        "duplicate": duplicate,
    })))
}
