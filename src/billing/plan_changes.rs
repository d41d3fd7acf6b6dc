//! The `plan_changed` security events of Stripe's webhook: the plans in force of the users an
//! event names, read before it is applied, compared with what is published after.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::event::{CheckoutSession, Event, EventBody};
use crate::accounts;
use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::audit::Journal;
use crate::session::Profile;

/// The plan in force, before `event`, of the users it names (its customer's, and a
/// checkout's user).
pub(super) async fn before(
    db: &DatabaseConnection,
    event: &Event,
) -> Result<HashMap<Uuid, String>, DbErr> {
    let mut users = match event.customer_id() {
        Some(customer) => accounts::users::with_customer(db, customer).await?,
        None => Vec::new(),
    };
    if let EventBody::CheckoutCompleted(CheckoutSession {
        user_id: Some(id), ..
    }) = &event.body
    {
        users.extend(accounts::users_by_ids(db, &[*id]).await?);
    }
    let now = Utc::now().timestamp_millis();
    Ok(accounts::profiles(db, &users)
        .await?
        .into_iter()
        .map(|(id, p)| (id, p.effective_plan(now).to_owned()))
        .collect())
}

/// Records `plan_changed` (source `stripe`) for `user_id` if the plan in force now differs
/// from the one before `event`.
pub(super) fn record(
    journal: &Journal,
    event: &Event,
    user_id: Uuid,
    before: &HashMap<Uuid, String>,
    now_published: &Profile,
) {
    let now = Utc::now().timestamp_millis();
    let from = before
        .get(&user_id)
        .map_or(crate::plan::FREE, String::as_str);
    let to = now_published.effective_plan(now);
    if from != to {
        journal.event(
            SecurityEvent::new(Kind::PlanChanged, Actor::System)
                .user(user_id)
                .reason("stripe")
                .detail("from", from)
                .detail("to", to)
                .detail("source", "stripe")
                .detail("stripe_event", event.id.as_str()),
        );
    }
}
