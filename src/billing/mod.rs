//! Stripe billing (docs/billing.md): the webhook's signature check, the events it reads, and the
//! service that applies them to SQL and refreshes the users' profile cache.
//!
//! The route (`routes::webhooks`) only reads the body, calls [`verify`], [`Event::parse`] and
//! [`handle`], and maps their errors to the envelope. See `docs/billing.md`.

mod event;
mod plan_changes;
mod service;
mod signature;

pub use self::event::{CheckoutSession, Event, EventBody, EventError, Invoice, Subscription};
pub use self::service::{handle, BillingError, Handled, Outcome};
pub use self::signature::{sign, verify, SignatureError, TOLERANCE_SECS};
