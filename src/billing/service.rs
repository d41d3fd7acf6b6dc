//! Applying Stripe events to SQL, each in one transaction with the `webhook_events` row that
//! records it, then refreshing the profile cache of every user whose plan may have changed.

use chrono::{DateTime, Utc};
use entity::{subscriptions, webhook_events};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, Set, TransactionTrait, TryInsertResult,
};
use uuid::Uuid;

use super::event::{CheckoutSession, Event, EventBody, Invoice, Subscription};
use super::plan_changes;
use crate::accounts::{self, PublishError};
use crate::audit::Journal;
use crate::db;
use crate::session::{Sessions, StoreError};

/// Subscription statuses Stripe never leaves: an event of the same second cannot undo them.
const TERMINAL_STATUSES: &[&str] = &["canceled", "incomplete_expired"];

/// What was done with an event, as recorded in `webhook_events.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made (or the state already included it).
    Applied,
    /// Older than the state already stored for its subscription: nothing changed.
    IgnoredStale,
    /// Applied to a subscription that no user has yet (the customer is not linked); kept with
    /// its payload, and the row attaches when a checkout links the customer.
    UnknownCustomer,
    /// A checkout whose `client_reference_id` names no user: nothing linked.
    UnknownUser,
    /// A paid invoice for a subscription not stored yet: its own event will carry the period.
    UnknownSubscription,
    /// A checkout for a customer already linked to another user: nothing changed.
    CustomerConflict,
    /// A type latchkey does not act upon, or an event without what it would act upon.
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::IgnoredStale => "ignored_stale",
            Self::UnknownCustomer => "unknown_customer",
            Self::UnknownUser => "unknown_user",
            Self::UnknownSubscription => "unknown_subscription",
            Self::CustomerConflict => "customer_conflict",
            Self::Ignored => "ignored",
        }
    }

    /// Whether the raw event is kept with the record: for events that someone may want to
    /// look at or replay once the missing piece is known.
    fn keeps_payload(self) -> bool {
        matches!(
            self,
            Self::UnknownCustomer
                | Self::UnknownUser
                | Self::UnknownSubscription
                | Self::CustomerConflict
        )
    }
}

/// The answer to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// First delivery of this event id: what was done.
    Processed(Outcome),
    /// The event id was seen before: nothing changed.
    Duplicate,
}

/// Why a delivery could not be handled; either way the caller answers 503 and Stripe delivers
/// the event again.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Nothing of the event was kept; or it was, and reading the new profiles afterwards
    /// failed, which the redelivery (a duplicate) makes up for as below.
    #[error("the database failed: {0}")]
    Database(#[from] DbErr),
    /// SQL has the change but live sessions do not see it yet. The redelivery is a duplicate
    /// in SQL and pushes the customer's profiles to the cache again.
    #[error("the session store failed: {0}")]
    SessionStore(#[from] StoreError),
}

/// Applies `event` and refreshes the profile cache of the users it concerns, so that every
/// live session sees the new plan on its next request. A redelivered event changes nothing in
/// SQL but refreshes its customer's profiles again, which is how a cache refresh that failed
/// the first time (the answer was 503) is made up for.
///
/// A change of the plan in force is recorded as a `plan_changed` event (source `stripe`) in
/// `journal`: the plans of the users the event names are read before it is applied and
/// compared with what is published after.
pub async fn handle(
    db: &DatabaseConnection,
    sessions: &Sessions,
    journal: &Journal,
    event: &Event,
) -> Result<Handled, BillingError> {
    let before = plan_changes::before(db, event).await?;
    let (handled, concerned) = db::retry_on_conflict(|| apply(db, event)).await?;
    for user in accounts::users_by_ids(db, &concerned).await? {
        match accounts::publish(db, sessions, &user).await {
            Ok(published) => {
                plan_changes::record(journal, event, user.id, &before, &published.profile)
            }
            Err(PublishError::Db(e)) => return Err(e.into()),
            Err(PublishError::Store(e)) => {
                tracing::warn!(
                    user_id = %user.id,
                    event_id = %event.id,
                    error = %e,
                    "plan changed in the database but the profile cache was not refreshed; \
                     answering 503 so that Stripe delivers the event again"
                );
                return Err(e.into());
            }
        }
    }
    Ok(handled)
}

/// What applying an event did: its outcome and the users whose plan may have changed.
struct Effect {
    outcome: Outcome,
    users: Vec<Uuid>,
}

impl Effect {
    fn none(outcome: Outcome) -> Self {
        Self {
            outcome,
            users: Vec::new(),
        }
    }
}

/// One transaction: record the event id (a redelivery stops here), apply, note the outcome.
/// Returns the users whose plan may have changed, for [`handle`] to publish their profiles
/// once the transaction is committed: for a redelivery, the users of its customer.
async fn apply(db: &DatabaseConnection, event: &Event) -> Result<(Handled, Vec<Uuid>), DbErr> {
    let txn = db.begin().await?;
    // First statement of the transaction, so that a concurrent delivery of the same event
    // waits on this key (PostgreSQL) or on the write lock (SQLite) and then finds it.
    if !record(&txn, event).await? {
        txn.rollback().await?;
        tracing::info!(event_id = %event.id, event_type = %event.kind, "duplicate Stripe event");
        let concerned = match event.customer_id() {
            Some(customer) => accounts::users::with_customer(db, customer)
                .await?
                .iter()
                .map(|u| u.id)
                .collect(),
            None => Vec::new(),
        };
        return Ok((Handled::Duplicate, concerned));
    }
    let effect = match &event.body {
        EventBody::CheckoutCompleted(checkout) => link_customer(&txn, checkout).await?,
        EventBody::Subscription(subscription) => {
            upsert_subscription(&txn, event.created, subscription).await?
        }
        EventBody::InvoicePaid(invoice) => extend_period(&txn, invoice).await?,
        EventBody::Other => Effect::none(Outcome::Ignored),
    };
    let outcome = effect.outcome;
    webhook_events::Entity::update_many()
        .col_expr(
            webhook_events::Column::Outcome,
            Expr::value(outcome.as_str()),
        )
        .col_expr(
            webhook_events::Column::Payload,
            Expr::value(outcome.keeps_payload().then(|| event.raw.clone())),
        )
        .filter(webhook_events::Column::Id.eq(&event.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    if outcome == Outcome::CustomerConflict {
        tracing::warn!(
            event_id = %event.id,
            customer_id = event.customer_id().unwrap_or_default(),
            "checkout for a customer already linked to another user; not linked"
        );
    }
    tracing::info!(
        event_id = %event.id,
        event_type = %event.kind,
        outcome = outcome.as_str(),
        "Stripe event"
    );
    Ok((Handled::Processed(outcome), effect.users))
}

/// Inserts the event's row; false when the id is already there.
async fn record(txn: &DatabaseTransaction, event: &Event) -> Result<bool, DbErr> {
    let row = webhook_events::ActiveModel {
        id: Set(event.id.clone()),
        event_type: Set(event.kind.clone()),
        customer_id: Set(event.customer_id().map(str::to_owned)),
        event_created_at: Set(event.created),
        received_at: Set(Utc::now()),
        // Replaced before the commit; never visible as such.
        outcome: Set("processing".to_owned()),
        payload: Set(None),
    };
    let inserted = webhook_events::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// `checkout.session.completed`: keep the customer id on the user, and attach the
/// subscriptions that arrived before the checkout (stored detached).
async fn link_customer(
    txn: &DatabaseTransaction,
    checkout: &CheckoutSession,
) -> Result<Effect, DbErr> {
    let Some(customer) = checkout.customer_id.as_deref() else {
        return Ok(Effect::none(Outcome::Ignored));
    };
    let user = match checkout.user_id {
        Some(id) => accounts::users::find_by_id(txn, id).await?,
        None => None,
    };
    let Some(user) = user else {
        return Ok(Effect::none(Outcome::UnknownUser));
    };
    if accounts::users::customer_taken(txn, customer, user.id).await? {
        return Ok(Effect::none(Outcome::CustomerConflict));
    }
    accounts::users::link_customer(txn, &user, customer).await?;
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::UserId, Expr::value(user.id))
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(subscriptions::Column::CustomerId.eq(customer))
        .filter(subscriptions::Column::UserId.is_null())
        .exec(txn)
        .await?;
    Ok(Effect {
        outcome: Outcome::Applied,
        users: vec![user.id],
    })
}

/// `customer.subscription.*`: the row becomes what the event says, unless the row already
/// holds a newer event's state.
async fn upsert_subscription(
    txn: &DatabaseTransaction,
    created: DateTime<Utc>,
    s: &Subscription,
) -> Result<Effect, DbErr> {
    let owner = accounts::users::customer_owner(txn, &s.customer_id).await?;
    let existing = subscriptions::Entity::find_by_id(s.id.clone())
        .one(txn)
        .await?;
    let now = Utc::now();
    let changes = subscriptions::ActiveModel {
        id: NotSet,
        // A customer no user has (yet) leaves the row's owner as it is.
        user_id: owner.map_or(NotSet, |id| Set(Some(id))),
        customer_id: Set(s.customer_id.clone()),
        status: Set(s.status.clone()),
        price_id: Set(s.price_id.clone()),
        current_period_end: Set(s.current_period_end),
        cancel_at_period_end: Set(s.cancel_at_period_end),
        last_event_at: Set(created),
        created_at: NotSet,
        updated_at: Set(now),
    };
    let applied = match &existing {
        Some(_) => update_if_newer(txn, &s.id, created, changes).await?,
        None => {
            let row = subscriptions::ActiveModel {
                id: Set(s.id.clone()),
                user_id: Set(owner),
                created_at: Set(now),
                ..changes.clone()
            };
            let inserted = subscriptions::Entity::insert(row)
                .on_conflict_do_nothing()
                .exec_without_returning(txn)
                .await?;
            match inserted {
                TryInsertResult::Inserted(n) if n > 0 => true,
                // Another delivery created the row meanwhile: compare with it.
                _ => update_if_newer(txn, &s.id, created, changes).await?,
            }
        }
    };
    if !applied {
        return Ok(Effect::none(Outcome::IgnoredStale));
    }
    let previous = existing.and_then(|e| e.user_id);
    let mut concerned: Vec<Uuid> = owner.or(previous).into_iter().collect();
    if let Some(previous) = previous.filter(|p| owner.is_some_and(|o| o != *p)) {
        // The subscription moved to another user: the previous one loses it.
        concerned.push(previous);
    }
    let outcome = if concerned.is_empty() {
        Outcome::UnknownCustomer
    } else {
        Outcome::Applied
    };
    Ok(Effect {
        outcome,
        users: concerned,
    })
}

/// Writes `changes` to subscription `id` if the stored state is not newer than `created`:
/// strictly older, or of the same second and not in a terminal status (Stripe's `created` has
/// a resolution of one second, and a cancellation must not be undone by an update of the same
/// second delivered after it). Returns whether the row was written.
async fn update_if_newer(
    txn: &DatabaseTransaction,
    id: &str,
    created: DateTime<Utc>,
    changes: subscriptions::ActiveModel,
) -> Result<bool, DbErr> {
    let not_newer = Condition::any()
        .add(subscriptions::Column::LastEventAt.lt(created))
        .add(
            Condition::all()
                .add(subscriptions::Column::LastEventAt.eq(created))
                .add(subscriptions::Column::Status.is_not_in(TERMINAL_STATUSES.iter().copied())),
        );
    let result = subscriptions::Entity::update_many()
        .set(changes)
        .filter(subscriptions::Column::Id.eq(id))
        .filter(not_newer)
        .exec(txn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// `invoice.payment_succeeded`: the subscription is paid up to the invoice's period end; its
/// `current_period_end` moves there if that is later (never earlier, so the order of
/// deliveries does not matter and `last_event_at` is left alone).
async fn extend_period(txn: &DatabaseTransaction, invoice: &Invoice) -> Result<Effect, DbErr> {
    let (Some(id), Some(end)) = (invoice.subscription_id.as_deref(), invoice.period_end) else {
        return Ok(Effect::none(Outcome::Ignored));
    };
    let Some(row) = subscriptions::Entity::find_by_id(id.to_owned())
        .one(txn)
        .await?
    else {
        return Ok(Effect::none(Outcome::UnknownSubscription));
    };
    let result = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::CurrentPeriodEnd, Expr::value(end))
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(subscriptions::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(subscriptions::Column::CurrentPeriodEnd.is_null())
                .add(subscriptions::Column::CurrentPeriodEnd.lt(end)),
        )
        .exec(txn)
        .await?;
    let Some(user_id) = row.user_id else {
        return Ok(Effect::none(Outcome::UnknownCustomer));
    };
    let users = if result.rows_affected > 0 {
        vec![user_id]
    } else {
        Vec::new()
    };
    Ok(Effect {
        outcome: Outcome::Applied,
        users,
    })
}
