//! The Stripe webhook: events signed here with the configured secret, sent to the real app
//! with its real Redis and database; plans seen through `/api/user/info` of live sessions.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{subscriptions, users, webhook_events};
use hmac::{Hmac, Mac};
use reqwest::Response;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde_json::{json, Value};
use sha2::Sha256;
use testkit::redis::{RedisOptions, RedisServer};
use uuid::Uuid;

use crate::support::app::{client, spawn_app_with, TestApp};
use crate::support::browser::Browser;
use crate::support::response::{assert_error, json};
use crate::support::users::{insert_free_user, sign_in_user};

const SECRET: &str = "whsec_latchkey_billing_tests";
const ROUTE: &str = "/webhooks/stripe";
const DAY: i64 = 24 * 3600;

async fn billing_app() -> TestApp {
    spawn_app_with(|c| c.set("LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET", SECRET)).await
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// `Stripe-Signature` as Stripe computes it, written here independently of the server's code.
fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", v1(secret, t, body))
}

fn v1(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn post(app: &TestApp, body: &[u8], headers: &[(&str, &str)]) -> Response {
    let mut req = client()
        .post(app.url(ROUTE))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("the app answers")
}

/// Sends `event` signed as Stripe would, now.
async fn deliver(app: &TestApp, event: &Value) -> Response {
    let body = event.to_string();
    let sig = signature(SECRET, now(), body.as_bytes());
    post(app, body.as_bytes(), &[("Stripe-Signature", &sig)]).await
}

/// Delivers and expects 200 with this outcome.
async fn deliver_ok(app: &TestApp, event: &Value, outcome: &str) -> Value {
    let res = deliver(app, event).await;
    assert_eq!(res.status(), 200, "{event}");
    let body = json(res).await;
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["outcome"], outcome, "{body}");
    body
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2024-06-20",
        "type": kind,
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "data": { "object": object },
    })
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// A subscription object in the shape of API versions before 2025-03-31.
fn subscription(id: &str, customer: &str, status: &str, period_end: i64) -> Value {
    json!({
        "id": id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": false,
        "current_period_end": period_end,
        "items": { "object": "list", "data": [
            { "id": "si_1", "price": { "id": "price_pro_monthly", "object": "price" } }
        ] },
    })
}

fn checkout(user: Option<Uuid>, customer: &str) -> Value {
    json!({
        "id": new_id("cs_test"),
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": user.map(|u| u.to_string()),
        "customer": customer,
        "subscription": "sub_whatever",
        "customer_details": { "email": "ada@example.com" },
    })
}

/// `checkout.session.completed` for `user` (by `client_reference_id`) as Stripe customer
/// `customer`.
fn checkout_completed(id: &str, created: i64, user: Uuid, customer: &str) -> Value {
    event(
        id,
        "checkout.session.completed",
        created,
        checkout(Some(user), customer),
    )
}

fn rfc3339(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .expect("a time")
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn stored_user(db: &DatabaseConnection, id: Uuid) -> users::Model {
    users::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("query")
        .expect("the user row")
}

/// A signed-in user whose checkout (event `event_id`, now) linked Stripe customer `customer`:
/// where every subscription story starts. Returns the user, their browser and the time used.
async fn signed_in_customer(
    app: &TestApp,
    event_id: &str,
    customer: &str,
) -> (users::Model, Browser, i64) {
    let db = app.db().await;
    let user = insert_free_user(&db, "ada@example.com", "Ada").await;
    let browser = sign_in_user(app, &db, &user).await;
    let t = now();
    deliver_ok(
        app,
        &checkout_completed(event_id, t, user.id, customer),
        "applied",
    )
    .await;
    (user, browser, t)
}

async fn info(app: &TestApp, browser: &mut Browser) -> Value {
    let res = app.user_info(browser).await;
    assert_eq!(res.status(), 200);
    json(res).await["user"].clone()
}

async fn recorded(db: &DatabaseConnection, id: &str) -> Option<webhook_events::Model> {
    webhook_events::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .expect("query")
}

async fn subscription_row(db: &DatabaseConnection, id: &str) -> subscriptions::Model {
    subscriptions::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .expect("query")
        .expect("the subscription row")
}

async fn event_count(db: &DatabaseConnection) -> usize {
    webhook_events::Entity::find()
        .all(db)
        .await
        .expect("query")
        .len()
}

// ------------------------------------------------------------------------------------------
// Signatures

#[tokio::test]
async fn bad_missing_malformed_stale_and_future_signatures_are_refused() {
    let app = billing_app().await;
    let db = app.db().await;
    let body = event(
        "evt_sig",
        "customer.subscription.created",
        now(),
        subscription("sub_sig", "cus_sig", "active", now() + 30 * DAY),
    )
    .to_string();
    let body = body.as_bytes();
    let t = now();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("this is not a signature".into())),
        ("no timestamp", Some(format!("v1={}", v1(SECRET, t, body)))),
        ("no v1", Some(format!("t={t},v0={}", v1(SECRET, t, body)))),
        (
            "wrong secret",
            Some(signature("whsec_someone_else", t, body)),
        ),
        ("another body", Some(signature(SECRET, t, b"{}"))),
        // Past the 300 s tolerance either way. The future one keeps a minute of slack: the
        // requests below take time on a loaded machine, and a timestamp of `t + 301` is
        // within the tolerance again once two seconds have passed (the stale one only gets
        // staler).
        ("stale", Some(signature(SECRET, t - 301, body))),
        ("future", Some(signature(SECRET, t + 360, body))),
        (
            "timestamp swapped after signing",
            Some(format!("t={},v1={}", t + 1, v1(SECRET, t, body))),
        ),
    ];
    for (case, header) in cases {
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("Stripe-Signature", h)])
            .unwrap_or_default();
        let res = post(&app, body, &headers).await;
        assert_eq!(res.status(), 400, "{case}");
        let json = json(res).await;
        assert_eq!(json["code"], "bad_signature", "{case}: {json}");
        assert_eq!(json["success"], false, "{case}");
    }
    // Nothing was recorded or applied.
    assert_eq!(event_count(&db).await, 0);
    assert!(subscriptions::Entity::find_by_id("sub_sig".to_owned())
        .one(&db)
        .await
        .unwrap()
        .is_none());
    // Within the tolerance, the same body passes (timed from now, not from `t`: the cases
    // above took time).
    let ok = signature(SECRET, now() - 240, body);
    let res = post(&app, body, &[("Stripe-Signature", &ok)]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn any_v1_may_match() {
    let app = billing_app().await;
    let body = event("evt_multi", "ping", now(), json!({})).to_string();
    let t = now();
    let header = format!(
        "t={t},v1={},v1={},v0=deadbeef",
        v1("whsec_the_old_secret", t, body.as_bytes()),
        v1(SECRET, t, body.as_bytes())
    );
    let res = post(&app, body.as_bytes(), &[("Stripe-Signature", &header)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["outcome"], "ignored");
}

#[tokio::test]
async fn the_webhook_is_off_without_a_secret() {
    let app = spawn_app_with(|c| c).await;
    let body = event("evt_off", "ping", now(), json!({})).to_string();
    let sig = signature(SECRET, now(), body.as_bytes());
    let res = post(&app, body.as_bytes(), &[("Stripe-Signature", &sig)]).await;
    assert_error(res, 404, "webhook_disabled").await;
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = billing_app().await;
    let mut body = event("evt_big", "ping", now(), json!({})).to_string();
    body.push_str(&" ".repeat(300 * 1024));
    let sig = signature(SECRET, now(), body.as_bytes());
    let res = post(&app, body.as_bytes(), &[("Stripe-Signature", &sig)]).await;
    assert_error(res, 413, "payload_too_large").await;
    // Just under the limit is read and checked.
    let mut body = event("evt_big", "ping", now(), json!({})).to_string();
    body.push_str(&" ".repeat(250 * 1024));
    let sig = signature(SECRET, now(), body.as_bytes());
    let res = post(&app, body.as_bytes(), &[("Stripe-Signature", &sig)]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_foreign_origin_does_not_stop_the_webhook() {
    let app = billing_app().await;
    let body = event("evt_origin", "ping", now(), json!({})).to_string();
    let origin = ("Origin", "https://evil.example.com");
    // It reaches the signature check (not 403 origin_not_allowed) …
    let res = post(&app, body.as_bytes(), &[origin]).await;
    assert_error(res, 400, "bad_signature").await;
    // … and a signed event is applied.
    let sig = signature(SECRET, now(), body.as_bytes());
    let res = post(&app, body.as_bytes(), &[origin, ("Stripe-Signature", &sig)]).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_is_400_invalid_event() {
    let app = billing_app().await;
    for body in [
        "{not json".to_owned(),
        json!({"id": "evt_x", "type": "ping"}).to_string(),
        event(
            "evt_y",
            "customer.subscription.updated",
            now(),
            json!({"id": "sub_1"}),
        )
        .to_string(),
    ] {
        let sig = signature(SECRET, now(), body.as_bytes());
        let res = post(&app, body.as_bytes(), &[("Stripe-Signature", &sig)]).await;
        assert_error(res, 400, "invalid_event").await;
    }
    assert_eq!(event_count(&app.db().await).await, 0);
}

// ------------------------------------------------------------------------------------------
// Events and plans

#[tokio::test]
async fn a_subscription_makes_a_live_session_pro_at_once_and_deletion_makes_it_free() {
    let app = billing_app().await;
    let db = app.db().await;
    let user = insert_free_user(&db, "ada@example.com", "Ada").await;
    let mut browser = sign_in_user(&app, &db, &user).await;
    let before = info(&app, &mut browser).await;
    assert_eq!(before["plan"], "free");
    assert_eq!(before["daily_ocr_limit"], 20);
    assert_eq!(before["has_subscription"], false);

    let t = now();
    deliver_ok(
        &app,
        &checkout_completed("evt_checkout", t, user.id, "cus_ada"),
        "applied",
    )
    .await;
    let stored = stored_user(&db, user.id).await;
    assert_eq!(stored.stripe_customer_id.as_deref(), Some("cus_ada"));

    let period_end = t + 30 * DAY;
    deliver_ok(
        &app,
        &event(
            "evt_created",
            "customer.subscription.created",
            t + 1,
            subscription("sub_ada", "cus_ada", "active", period_end),
        ),
        "applied",
    )
    .await;
    // The very next request of the session that was already open sees it.
    let pro = info(&app, &mut browser).await;
    assert_eq!(pro["plan"], "pro", "{pro}");
    assert_eq!(pro["current_plan"], "pro");
    assert_eq!(pro["daily_ocr_limit"], Value::Null);
    assert_eq!(pro["has_subscription"], true);
    assert_eq!(pro["subscription_end"], rfc3339(period_end));
    let row = subscription_row(&db, "sub_ada").await;
    assert_eq!(row.user_id, Some(user.id));
    assert_eq!(row.status, "active");
    assert_eq!(row.price_id.as_deref(), Some("price_pro_monthly"));
    assert_eq!(
        row.current_period_end.map(|t| t.timestamp()),
        Some(period_end)
    );

    // An update that schedules the cancellation keeps pro until the period ends.
    let mut updated = subscription("sub_ada", "cus_ada", "active", period_end);
    updated["cancel_at_period_end"] = json!(true);
    deliver_ok(
        &app,
        &event(
            "evt_updated",
            "customer.subscription.updated",
            t + 2,
            updated,
        ),
        "applied",
    )
    .await;
    assert!(subscription_row(&db, "sub_ada").await.cancel_at_period_end);
    assert_eq!(info(&app, &mut browser).await["plan"], "pro");

    deliver_ok(
        &app,
        &event(
            "evt_deleted",
            "customer.subscription.deleted",
            t + 3,
            subscription("sub_ada", "cus_ada", "canceled", period_end),
        ),
        "applied",
    )
    .await;
    let free = info(&app, &mut browser).await;
    assert_eq!(free["plan"], "free", "{free}");
    assert_eq!(free["daily_ocr_limit"], 20);
    assert_eq!(free["has_subscription"], false);
    assert_eq!(free["subscription_end"], Value::Null);
    assert_eq!(subscription_row(&db, "sub_ada").await.status, "canceled");

    for id in ["evt_checkout", "evt_created", "evt_updated", "evt_deleted"] {
        let row = recorded(&db, id).await.expect("recorded");
        assert_eq!(row.outcome, "applied", "{id}");
        assert_eq!(row.payload, None, "{id}");
    }
    assert_eq!(
        recorded(&db, "evt_created")
            .await
            .unwrap()
            .customer_id
            .as_deref(),
        Some("cus_ada")
    );
}

#[tokio::test]
async fn the_same_event_twice_changes_nothing() {
    let app = billing_app().await;
    let db = app.db().await;
    let (_, mut browser, t) = signed_in_customer(&app, "evt_link", "cus_twice").await;
    let first = event(
        "evt_twice",
        "customer.subscription.created",
        t,
        subscription("sub_twice", "cus_twice", "active", t + 30 * DAY),
    );
    deliver_ok(&app, &first, "applied").await;
    let row = subscription_row(&db, "sub_twice").await;

    // The same id again, even with another content: nothing changes.
    let again = deliver_ok(&app, &first, "duplicate").await;
    assert_eq!(again["duplicate"], true);
    let tampered = event(
        "evt_twice",
        "customer.subscription.created",
        t,
        subscription("sub_twice", "cus_twice", "canceled", t + 60 * DAY),
    );
    deliver_ok(&app, &tampered, "duplicate").await;
    assert_eq!(subscription_row(&db, "sub_twice").await, row);
    assert_eq!(info(&app, &mut browser).await["plan"], "pro");
    assert_eq!(recorded(&db, "evt_twice").await.unwrap().outcome, "applied");
    assert_eq!(event_count(&db).await, 2);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_apply_it_once() {
    let app = billing_app().await;
    let db = app.db().await;
    let t = now();
    // Twelve deliveries of one event at once: exactly one applies it, the others are
    // answered as duplicates.
    deliver_ok(
        &app,
        &event(
            "evt_base",
            "customer.subscription.created",
            t,
            subscription("sub_race", "cus_race", "active", t + DAY),
        ),
        "unknown_customer",
    )
    .await;
    let racing = event(
        "evt_race",
        "customer.subscription.updated",
        t + 5,
        subscription("sub_race", "cus_race", "past_due", t + DAY),
    );
    let deliveries = (0..12).map(|_| deliver(&app, &racing));
    let answers = futures_util::future::join_all(deliveries).await;
    let mut applied = 0;
    let mut duplicates = 0;
    for res in answers {
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        match body["outcome"].as_str() {
            Some("unknown_customer") => applied += 1,
            Some("duplicate") => duplicates += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((applied, duplicates), (1, 11));
    assert_eq!(subscription_row(&db, "sub_race").await.status, "past_due");
    assert_eq!(event_count(&db).await, 2);
}

#[tokio::test]
async fn an_older_event_never_overwrites_a_newer_state() {
    let app = billing_app().await;
    let db = app.db().await;
    let user = insert_free_user(&db, "ada@example.com", "Ada").await;
    let mut browser = sign_in_user(&app, &db, &user).await;
    let t = now() - 600;
    deliver_ok(
        &app,
        &checkout_completed("evt_co", t, user.id, "cus_order"),
        "applied",
    )
    .await;
    let newer_end = now() + 60 * DAY;
    deliver_ok(
        &app,
        &event(
            "evt_newer",
            "customer.subscription.updated",
            t + 20,
            subscription("sub_order", "cus_order", "active", newer_end),
        ),
        "applied",
    )
    .await;
    // Created earlier, delivered later: recorded, not applied.
    deliver_ok(
        &app,
        &event(
            "evt_older",
            "customer.subscription.updated",
            t + 10,
            subscription("sub_order", "cus_order", "past_due", now() + DAY),
        ),
        "ignored_stale",
    )
    .await;
    let row = subscription_row(&db, "sub_order").await;
    assert_eq!(row.status, "active");
    assert_eq!(
        row.current_period_end.map(|t| t.timestamp()),
        Some(newer_end)
    );
    assert_eq!(row.last_event_at.timestamp(), t + 20);
    assert_eq!(
        recorded(&db, "evt_older").await.unwrap().outcome,
        "ignored_stale"
    );
    assert_eq!(info(&app, &mut browser).await["plan"], "pro");

    // A late `created` for a subscription already updated is stale too.
    deliver_ok(
        &app,
        &event(
            "evt_created_late",
            "customer.subscription.created",
            t + 1,
            subscription("sub_order", "cus_order", "incomplete", now() + DAY),
        ),
        "ignored_stale",
    )
    .await;

    // A cancellation is not undone by an update of the same second delivered after it.
    deliver_ok(
        &app,
        &event(
            "evt_cancel",
            "customer.subscription.deleted",
            t + 30,
            subscription("sub_order", "cus_order", "canceled", newer_end),
        ),
        "applied",
    )
    .await;
    deliver_ok(
        &app,
        &event(
            "evt_same_second",
            "customer.subscription.updated",
            t + 30,
            subscription("sub_order", "cus_order", "active", newer_end),
        ),
        "ignored_stale",
    )
    .await;
    assert_eq!(subscription_row(&db, "sub_order").await.status, "canceled");
    assert_eq!(info(&app, &mut browser).await["plan"], "free");
}

#[tokio::test]
async fn an_unknown_customer_is_recorded_then_linked_by_a_later_checkout() {
    let app = billing_app().await;
    let db = app.db().await;
    let user = insert_free_user(&db, "ada@example.com", "Ada").await;
    let mut browser = sign_in_user(&app, &db, &user).await;
    let t = now();
    let period_end = t + 30 * DAY;
    // Stripe often sends the subscription before the checkout that names the user.
    let early = event(
        "evt_early",
        "customer.subscription.created",
        t,
        subscription("sub_early", "cus_early", "active", period_end),
    );
    deliver_ok(&app, &early, "unknown_customer").await;
    let row = recorded(&db, "evt_early").await.expect("recorded");
    assert_eq!(row.outcome, "unknown_customer");
    assert_eq!(row.customer_id.as_deref(), Some("cus_early"));
    assert_eq!(row.event_type, "customer.subscription.created");
    assert_eq!(row.payload, Some(early.clone()));
    let detached = subscription_row(&db, "sub_early").await;
    assert_eq!(detached.user_id, None);
    assert_eq!(detached.status, "active");
    assert_eq!(info(&app, &mut browser).await["plan"], "free");

    deliver_ok(
        &app,
        &checkout_completed("evt_late_checkout", t + 1, user.id, "cus_early"),
        "applied",
    )
    .await;
    assert_eq!(
        subscription_row(&db, "sub_early").await.user_id,
        Some(user.id)
    );
    let now_pro = info(&app, &mut browser).await;
    assert_eq!(now_pro["plan"], "pro", "{now_pro}");
    assert_eq!(now_pro["has_subscription"], true);
    assert_eq!(now_pro["subscription_end"], rfc3339(period_end));
}

#[tokio::test]
async fn checkouts_that_cannot_be_linked_are_recorded() {
    let app = billing_app().await;
    let db = app.db().await;
    let ada = insert_free_user(&db, "ada@example.com", "Ada").await;
    let bob = insert_free_user(&db, "bob@example.com", "Bob").await;
    let t = now();
    for (id, object) in [
        ("evt_nobody", checkout(Some(Uuid::new_v4()), "cus_x")),
        ("evt_no_ref", checkout(None, "cus_x")),
    ] {
        deliver_ok(
            &app,
            &event(id, "checkout.session.completed", t, object),
            "unknown_user",
        )
        .await;
        let row = recorded(&db, id).await.unwrap();
        assert_eq!(row.outcome, "unknown_user");
        assert!(row.payload.is_some());
    }
    deliver_ok(
        &app,
        &checkout_completed("evt_ada", t, ada.id, "cus_shared"),
        "applied",
    )
    .await;
    // The same customer for another user: not moved.
    deliver_ok(
        &app,
        &checkout_completed("evt_bob", t, bob.id, "cus_shared"),
        "customer_conflict",
    )
    .await;
    let bob = stored_user(&db, bob.id).await;
    assert_eq!(bob.stripe_customer_id, None);
    // Types latchkey does not act upon are recorded and answered 200.
    deliver_ok(
        &app,
        &event("evt_other", "charge.refunded", t, json!({"id": "ch_1"})),
        "ignored",
    )
    .await;
    let other = recorded(&db, "evt_other").await.unwrap();
    assert_eq!((other.outcome.as_str(), other.payload), ("ignored", None));
}

#[tokio::test]
async fn a_paid_invoice_extends_the_period() {
    let app = billing_app().await;
    let db = app.db().await;
    let user = insert_free_user(&db, "ada@example.com", "Ada").await;
    let mut browser = sign_in_user(&app, &db, &user).await;
    let t = now();
    let first_end = t + 30 * DAY;
    let second_end = t + 61 * DAY;
    deliver_ok(
        &app,
        &checkout_completed("evt_inv_co", t, user.id, "cus_inv"),
        "applied",
    )
    .await;
    deliver_ok(
        &app,
        &event(
            "evt_inv_sub",
            "customer.subscription.created",
            t,
            subscription("sub_inv", "cus_inv", "active", first_end),
        ),
        "applied",
    )
    .await;
    // The shape of API versions before 2025-03-31: `subscription` on the invoice.
    let invoice = |id: &str, end: i64| {
        event(
            id,
            "invoice.payment_succeeded",
            t + 5,
            json!({
                "id": new_id("in"), "object": "invoice", "customer": "cus_inv",
                "subscription": "sub_inv", "status": "paid",
                "lines": {"object": "list", "data": [
                    {"id": "il_1", "period": {"start": end - 30 * DAY, "end": end}}
                ]},
            }),
        )
    };
    deliver_ok(&app, &invoice("evt_inv_1", second_end), "applied").await;
    let row = subscription_row(&db, "sub_inv").await;
    assert_eq!(
        row.current_period_end.map(|t| t.timestamp()),
        Some(second_end)
    );
    assert_eq!(
        row.last_event_at.timestamp(),
        t,
        "an invoice does not order events"
    );
    assert_eq!(
        info(&app, &mut browser).await["subscription_end"],
        rfc3339(second_end)
    );
    // An invoice for an earlier period does not move it back.
    deliver_ok(&app, &invoice("evt_inv_2", first_end), "applied").await;
    assert_eq!(
        subscription_row(&db, "sub_inv")
            .await
            .current_period_end
            .map(|t| t.timestamp()),
        Some(second_end)
    );
    // The shape of newer API versions: the subscription under `parent`.
    let third_end = t + 92 * DAY;
    deliver_ok(
        &app,
        &event(
            "evt_inv_3",
            "invoice.payment_succeeded",
            t + 6,
            json!({
                "id": new_id("in"), "object": "invoice", "customer": "cus_inv",
                "parent": {"type": "subscription_details",
                           "subscription_details": {"subscription": "sub_inv"}},
                "lines": {"data": [{"period": {"start": second_end, "end": third_end}}]},
            }),
        ),
        "applied",
    )
    .await;
    assert_eq!(
        info(&app, &mut browser).await["subscription_end"],
        rfc3339(third_end)
    );
    // A paid invoice for a subscription not stored yet is kept for later.
    deliver_ok(
        &app,
        &event(
            "evt_inv_unknown",
            "invoice.payment_succeeded",
            t,
            json!({"customer": "cus_inv", "subscription": "sub_not_yet",
                   "lines": {"data": [{"period": {"start": t, "end": t + DAY}}]}}),
        ),
        "unknown_subscription",
    )
    .await;
    assert!(recorded(&db, "evt_inv_unknown")
        .await
        .unwrap()
        .payload
        .is_some());
}

#[tokio::test]
async fn a_subscription_whose_period_ends_reads_as_free_with_no_event() {
    let app = billing_app().await;
    let db = app.db().await;
    let (user, mut browser, t) = signed_in_customer(&app, "evt_lapse_co", "cus_lapse").await;
    // The shape of API versions from 2025-03-31: the period end on the item.
    let period_end = now() + 2;
    deliver_ok(
        &app,
        &event(
            "evt_lapse",
            "customer.subscription.created",
            t,
            json!({
                "id": "sub_lapse", "object": "subscription", "customer": "cus_lapse",
                "status": "active", "cancel_at_period_end": false,
                "items": {"data": [{"price": {"id": "price_1"},
                                    "current_period_end": period_end}]},
            }),
        ),
        "applied",
    )
    .await;
    assert_eq!(info(&app, &mut browser).await["plan"], "pro");
    let wait = (period_end * 1000 - Utc::now().timestamp_millis()).max(0) as u64 + 300;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let lapsed = info(&app, &mut browser).await;
    assert_eq!(lapsed["plan"], "free", "{lapsed}");
    assert_eq!(lapsed["current_plan"], "free");
    assert_eq!(lapsed["daily_ocr_limit"], 20);
    // And a new login computes it from SQL the same way.
    let mut fresh = sign_in_user(&app, &db, &user).await;
    let relogin = info(&app, &mut fresh).await;
    assert_eq!(relogin["plan"], "free");
    assert_eq!(relogin["has_subscription"], false);
}

#[tokio::test]
async fn a_database_error_is_503_so_that_stripe_retries() {
    let app = billing_app().await;
    let db = app.db().await;
    db.execute_unprepared("DROP TABLE webhook_events")
        .await
        .expect("drop");
    let res = deliver(&app, &event("evt_db", "ping", now(), json!({}))).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 503, "database_unavailable").await;
}

// ------------------------------------------------------------------------------------------
// The profile cache

/// Sets `app`'s Redis user's permission to run scripts: `-` takes it away, `+` gives it back.
async fn scripts_allowed(redis: &RedisServer, allowed: bool) {
    let mut conn = redis::Client::open(redis.url())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the test's own Redis answers");
    let sign = if allowed { "+" } else { "-" };
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("latchkey")
        .arg(format!("{sign}evalsha"))
        .arg(format!("{sign}eval"))
        .query_async(&mut conn)
        .await
        .expect("ACL SETUSER");
}

/// SQL is changed in a committed transaction before the profile cache is refreshed. When the
/// refresh fails, the answer is 503 so that Stripe delivers again; the redelivery is a
/// duplicate in SQL and refreshes the cache, so live sessions see the plan without a login.
#[tokio::test]
async fn a_cache_refresh_that_fails_is_made_up_for_by_the_redelivery() {
    // The app's own Redis user, with every permission until the test takes scripts away.
    let redis = RedisServer::start_with(RedisOptions::default().acl_user("latchkey", "app-secret"))
        .expect("a redis-server of the test's own");
    let app_url = redis.url_as("latchkey", "app-secret");
    let app = spawn_app_with(|c| {
        c.set("LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET", SECRET)
            .set("LATCHKEY__REDIS__URL", &app_url)
            .set("LATCHKEY__REDIS__TIMEOUT", "2s")
    })
    .await;
    let db = app.db().await;
    let (_, mut browser, t) = signed_in_customer(&app, "evt_cache_co", "cus_cache").await;
    assert_eq!(info(&app, &mut browser).await["plan"], "free");

    let paid = event(
        "evt_cache_sub",
        "customer.subscription.created",
        t,
        subscription("sub_cache", "cus_cache", "active", t + 30 * DAY),
    );
    scripts_allowed(&redis, false).await;
    assert_error(deliver(&app, &paid).await, 503, "session_store_unavailable").await;
    scripts_allowed(&redis, true).await;
    // SQL has it; the live session does not yet.
    assert_eq!(subscription_row(&db, "sub_cache").await.status, "active");
    assert_eq!(info(&app, &mut browser).await["plan"], "free");

    let receipt = deliver_ok(&app, &paid, "duplicate").await;
    assert_eq!(receipt["duplicate"], true);
    let now_pro = info(&app, &mut browser).await;
    assert_eq!(now_pro["plan"], "pro");
    assert_eq!(now_pro["has_subscription"], true);
}

/// A plan change that comes from Stripe is a `plan_changed` event (source `stripe`), once:
/// a redelivery and an update that keeps the plan record nothing more.
#[tokio::test]
async fn stripe_plan_changes_are_security_events() {
    use crate::support::events::{details, events_of, wait_for_event};
    let app = billing_app().await;
    let db = app.db().await;
    let user = insert_free_user(&db, "ada@example.com", "Ada").await;
    let t = now();
    deliver_ok(
        &app,
        &checkout_completed("evt_c", t, user.id, "cus_ev"),
        "applied",
    )
    .await;
    let created = event(
        "evt_sub",
        "customer.subscription.created",
        t + 1,
        subscription("sub_ev", "cus_ev", "active", t + 30 * DAY),
    );
    deliver_ok(&app, &created, "applied").await;
    deliver(&app, &created).await;
    let to_pro = wait_for_event(&db, "plan_changed to pro", |e| {
        e.user_id == Some(user.id) && e.kind == "plan_changed"
    })
    .await;
    assert_eq!(to_pro.reason.as_deref(), Some("stripe"));
    assert_eq!(to_pro.actor, "system");
    assert_eq!(details(&to_pro)["from"], "free");
    assert_eq!(details(&to_pro)["to"], "pro");
    deliver_ok(
        &app,
        &event(
            "evt_del",
            "customer.subscription.deleted",
            t + 2,
            subscription("sub_ev", "cus_ev", "canceled", t + 30 * DAY),
        ),
        "applied",
    )
    .await;
    wait_for_event(&db, "plan_changed to free", |e| {
        e.kind == "plan_changed" && details(e)["to"] == "free"
    })
    .await;
    let changes: Vec<_> = events_of(&db, user.id)
        .await
        .into_iter()
        .filter(|e| e.kind == "plan_changed")
        .map(|e| details(&e)["to"].clone())
        .collect();
    assert_eq!(changes, [json!("pro"), json!("free")]);
}
