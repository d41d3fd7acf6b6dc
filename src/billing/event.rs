//! The few parts of Stripe's events that latchkey reads, as small serde structs of our own
//! (a full Stripe SDK would cost far more build time than these few fields are worth).
//!
//! Every event is `{id, type, created, data: {object}}`; the object is read according to the
//! type. Unknown fields are ignored, so newer API versions keep working as long as these
//! fields stay; where Stripe moved a field between API versions, both places are read.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Longest event or object id accepted (Stripe's are ~30 characters).
const MAX_ID_LEN: usize = 255;

/// Why a correctly signed body is still not an event we can read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("the event does not have the expected shape: {0}")]
    Shape(#[source] serde_json::Error),
    #[error("the event's {0} is invalid")]
    Field(&'static str),
}

/// A Stripe event, checked and typed.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    /// Stripe's `type`, e.g. `customer.subscription.updated`.
    pub kind: String,
    /// When Stripe created the event: what orders deliveries that arrive out of order.
    pub created: DateTime<Utc>,
    pub body: EventBody,
    /// The whole event as received, kept with events that could not be applied.
    pub raw: Value,
}

/// What latchkey does with an event, by type.
#[derive(Debug, Clone)]
pub enum EventBody {
    /// `checkout.session.completed`
    CheckoutCompleted(CheckoutSession),
    /// `customer.subscription.created`, `.updated` or `.deleted`
    Subscription(Subscription),
    /// `invoice.payment_succeeded`
    InvoicePaid(Invoice),
    /// Any other type: recorded, not acted upon.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// `client_reference_id` as a latchkey user id; `None` when absent or not a UUID.
    pub user_id: Option<Uuid>,
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub status: String,
    pub price_id: Option<String>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The subscription the invoice pays for; `None` for a one-off invoice.
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    /// The end of the period it pays for: the latest `period.end` among its lines.
    pub period_end: Option<DateTime<Utc>>,
}

impl Event {
    /// Parses a body whose signature has been verified.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let raw: Value = serde_json::from_slice(body).map_err(EventError::Json)?;
        let envelope = RawEvent::deserialize(&raw).map_err(EventError::Shape)?;
        if !valid_id(&envelope.id) {
            return Err(EventError::Field("id"));
        }
        let created =
            DateTime::from_timestamp(envelope.created, 0).ok_or(EventError::Field("created"))?;
        let object = &envelope.data.object;
        let body = match envelope.kind.as_str() {
            "checkout.session.completed" => {
                EventBody::CheckoutCompleted(RawCheckout::deserialize(object)?.into())
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                EventBody::Subscription(RawSubscription::deserialize(object)?.try_into()?)
            }
            "invoice.payment_succeeded" => {
                EventBody::InvoicePaid(RawInvoice::deserialize(object)?.try_into()?)
            }
            _ => EventBody::Other,
        };
        Ok(Self {
            id: envelope.id,
            kind: envelope.kind,
            created,
            body,
            raw,
        })
    }

    /// The Stripe customer the event is about, when it names one.
    pub fn customer_id(&self) -> Option<&str> {
        match &self.body {
            EventBody::CheckoutCompleted(c) => c.customer_id.as_deref(),
            EventBody::Subscription(s) => Some(&s.customer_id),
            EventBody::InvoicePaid(i) => i.customer_id.as_deref(),
            EventBody::Other => None,
        }
    }
}

impl EventError {
    /// What went wrong and where, without any of the body's values (for the log, which must
    /// never hold a body: serde's messages may quote a value).
    pub fn summary(&self) -> String {
        match self {
            Self::Json(e) | Self::Shape(e) => format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
            Self::Field(field) => format!("invalid {field}"),
        }
    }
}

impl From<serde_json::Error> for EventError {
    fn from(e: serde_json::Error) -> Self {
        Self::Shape(e)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN
}

fn timestamp(secs: Option<i64>, field: &'static str) -> Result<Option<DateTime<Utc>>, EventError> {
    secs.map(|s| DateTime::from_timestamp(s, 0).ok_or(EventError::Field(field)))
        .transpose()
}

// ------------------------------------------------------------------------------------------
// Stripe's shapes

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: Value,
}

/// A reference Stripe sends either as an id or, when expanded, as the object.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn into_id(self) -> String {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

/// Stripe's list object; only `data` matters here.
#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self { data: Vec::new() }
    }
}

#[derive(Deserialize)]
struct RawCheckout {
    client_reference_id: Option<String>,
    customer: Option<IdOrObject>,
}

impl From<RawCheckout> for CheckoutSession {
    fn from(raw: RawCheckout) -> Self {
        Self {
            user_id: raw
                .client_reference_id
                .as_deref()
                .and_then(|r| Uuid::try_parse(r.trim()).ok()),
            customer_id: raw.customer.map(IdOrObject::into_id),
        }
    }
}

#[derive(Deserialize)]
struct RawSubscription {
    id: String,
    customer: IdOrObject,
    status: String,
    #[serde(default)]
    cancel_at_period_end: bool,
    /// Where API versions before 2025-03-31 put it.
    current_period_end: Option<i64>,
    #[serde(default)]
    items: List<RawSubscriptionItem>,
}

#[derive(Deserialize)]
struct RawSubscriptionItem {
    price: Option<IdOrObject>,
    /// Where API versions from 2025-03-31 ("basil") put it.
    current_period_end: Option<i64>,
}

impl TryFrom<RawSubscription> for Subscription {
    type Error = EventError;

    fn try_from(raw: RawSubscription) -> Result<Self, EventError> {
        let first = raw.items.data.into_iter().next();
        let period_end = raw
            .current_period_end
            .or_else(|| first.as_ref().and_then(|i| i.current_period_end));
        let customer_id = raw.customer.into_id();
        if !valid_id(&raw.id) {
            return Err(EventError::Field("subscription id"));
        }
        if !valid_id(&customer_id) {
            return Err(EventError::Field("customer"));
        }
        if !valid_id(&raw.status) {
            return Err(EventError::Field("status"));
        }
        Ok(Self {
            id: raw.id,
            customer_id,
            status: raw.status,
            price_id: first.and_then(|i| i.price).map(IdOrObject::into_id),
            current_period_end: timestamp(period_end, "current_period_end")?,
            cancel_at_period_end: raw.cancel_at_period_end,
        })
    }
}

#[derive(Deserialize)]
struct RawInvoice {
    customer: Option<IdOrObject>,
    /// Where API versions before 2025-03-31 put it.
    subscription: Option<IdOrObject>,
    /// Where API versions from 2025-03-31 put it: `parent.subscription_details.subscription`.
    parent: Option<RawInvoiceParent>,
    #[serde(default)]
    lines: List<RawInvoiceLine>,
}

#[derive(Deserialize)]
struct RawInvoiceParent {
    subscription_details: Option<RawSubscriptionDetails>,
}

#[derive(Deserialize)]
struct RawSubscriptionDetails {
    subscription: Option<IdOrObject>,
}

#[derive(Deserialize)]
struct RawInvoiceLine {
    period: Option<RawPeriod>,
}

#[derive(Deserialize)]
struct RawPeriod {
    end: Option<i64>,
}

impl TryFrom<RawInvoice> for Invoice {
    type Error = EventError;

    fn try_from(raw: RawInvoice) -> Result<Self, EventError> {
        let subscription = raw.subscription.or_else(|| {
            raw.parent
                .and_then(|p| p.subscription_details)
                .and_then(|d| d.subscription)
        });
        // A renewal's first line is the new period; proration lines (which end with the
        // current period) may come first, so the latest end is the one paid up to.
        let period_end = raw
            .lines
            .data
            .iter()
            .filter_map(|l| l.period.as_ref().and_then(|p| p.end))
            .max();
        Ok(Self {
            subscription_id: subscription.map(IdOrObject::into_id),
            customer_id: raw.customer.map(IdOrObject::into_id),
            period_end: timestamp(period_end, "period end")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<Event, EventError> {
        Event::parse(v.to_string().as_bytes())
    }

    fn event(kind: &str, object: Value) -> Value {
        json!({"id": "evt_1", "object": "event", "type": kind, "created": 1_800_000_000,
               "livemode": false, "data": {"object": object}})
    }

    #[test]
    fn subscription_with_the_period_on_the_subscription() {
        let e = parse(event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "object": "subscription", "customer": "cus_1",
                   "status": "active", "cancel_at_period_end": true,
                   "current_period_end": 1_800_003_600,
                   "items": {"object": "list", "data": [{"price": {"id": "price_1"}}]}}),
        ))
        .unwrap();
        let EventBody::Subscription(s) = e.body else {
            panic!("a subscription")
        };
        assert_eq!(s.customer_id, "cus_1");
        assert_eq!(s.price_id.as_deref(), Some("price_1"));
        assert_eq!(s.current_period_end.unwrap().timestamp(), 1_800_003_600);
        assert!(s.cancel_at_period_end);
        assert_eq!(e.created.timestamp(), 1_800_000_000);
    }

    #[test]
    fn subscription_with_the_period_on_its_item_and_an_expanded_customer() {
        let e = parse(event(
            "customer.subscription.created",
            json!({"id": "sub_1", "customer": {"id": "cus_9", "object": "customer"},
                   "status": "trialing",
                   "items": {"data": [{"price": {"id": "price_2"},
                                       "current_period_end": 1_800_007_200}]}}),
        ))
        .unwrap();
        let EventBody::Subscription(s) = e.body else {
            panic!("a subscription")
        };
        assert_eq!(s.customer_id, "cus_9");
        assert_eq!(s.current_period_end.unwrap().timestamp(), 1_800_007_200);
        assert!(!s.cancel_at_period_end);
    }

    #[test]
    fn invoice_in_old_and_new_api_versions() {
        let old = parse(event(
            "invoice.payment_succeeded",
            json!({"customer": "cus_1", "subscription": "sub_1",
                   "lines": {"data": [{"period": {"start": 1, "end": 1_800_000_100}},
                                      {"period": {"start": 1, "end": 1_800_090_000}}]}}),
        ))
        .unwrap();
        let new = parse(event(
            "invoice.payment_succeeded",
            json!({"customer": "cus_1", "subscription": null,
                   "parent": {"type": "subscription_details",
                              "subscription_details": {"subscription": "sub_1"}},
                   "lines": {"data": [{"period": {"start": 1, "end": 1_800_090_000}}]}}),
        ))
        .unwrap();
        for e in [old, new] {
            let EventBody::InvoicePaid(i) = e.body else {
                panic!("an invoice")
            };
            assert_eq!(i.subscription_id.as_deref(), Some("sub_1"));
            assert_eq!(i.period_end.unwrap().timestamp(), 1_800_090_000);
        }
    }

    #[test]
    fn checkout_reads_the_user_and_customer() {
        let user = Uuid::new_v4();
        let e = parse(event(
            "checkout.session.completed",
            json!({"client_reference_id": user.to_string(), "customer": "cus_1",
                   "mode": "subscription"}),
        ))
        .unwrap();
        assert_eq!(e.customer_id(), Some("cus_1"));
        let EventBody::CheckoutCompleted(c) = e.body else {
            panic!("a checkout")
        };
        assert_eq!(c.user_id, Some(user));
        let e = parse(event(
            "checkout.session.completed",
            json!({"client_reference_id": "not-a-uuid", "customer": null}),
        ))
        .unwrap();
        let EventBody::CheckoutCompleted(c) = e.body else {
            panic!("a checkout")
        };
        assert_eq!(c.user_id, None);
        assert_eq!(c.customer_id, None);
    }

    #[test]
    fn other_types_and_invalid_bodies() {
        let e = parse(event("charge.refunded", json!({"anything": [1, 2]}))).unwrap();
        assert!(matches!(e.body, EventBody::Other));
        assert!(matches!(
            Event::parse(b"{not json"),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            parse(json!({"id": "evt_1", "type": "x"})),
            Err(EventError::Shape(_))
        ));
        assert!(matches!(
            parse(event(
                "customer.subscription.updated",
                json!({"id": "sub_1"})
            )),
            Err(EventError::Shape(_))
        ));
        let mut empty_id = event("x", json!({}));
        empty_id["id"] = json!("");
        assert!(matches!(parse(empty_id), Err(EventError::Field("id"))));
        let mut far = event("x", json!({}));
        far["created"] = json!(i64::MAX);
        assert!(matches!(parse(far), Err(EventError::Field("created"))));
    }
}
