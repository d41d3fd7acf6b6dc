//! Users: finding, listing, changing and erasing them, and their Stripe customer link.

use chrono::{DateTime, Utc};
use entity::{identities, subscriptions, usage_events, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use super::events::{Actor, Kind, SecurityEvent};
use super::normalize_email;

/// How an operator names a user: a UUID (hyphenated or simple) is an id, anything else an
/// email, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(Uuid),
    Email(String),
}

impl UserRef {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        match Uuid::try_parse(raw) {
            Ok(id) => Self::Id(id),
            Err(_) => Self::Email(normalize_email(raw)),
        }
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Email(email) => f.write_str(email),
        }
    }
}

/// The users `who` names, oldest first: at most one for an id; for an email every user that
/// has it, since an unverified address may be on more than one account.
pub async fn find_users<C: ConnectionTrait>(
    db: &C,
    who: &UserRef,
) -> Result<Vec<users::Model>, DbErr> {
    let query = match who {
        UserRef::Id(id) => users::Entity::find_by_id(*id),
        UserRef::Email(email) => users::Entity::find().filter(users::Column::Email.eq(email)),
    };
    query.order_by_asc(users::Column::CreatedAt).all(db).await
}

/// The user with this id, if there is one.
pub async fn find_by_id<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

/// The users with these ids, in one query (missing ids are simply absent).
pub async fn users_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<Vec<users::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    users::Entity::find()
        .filter(users::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// Page `index` (from 0) of every user, `size` a page, oldest first.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    index: u64,
    size: u64,
) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find()
        .order_by_asc(users::Column::CreatedAt)
        .order_by_asc(users::Column::Id)
        .paginate(db, size)
        .fetch_page(index)
        .await
}

/// Sets the plan an operator gives a user, until `until` (or with no end). Returns the user
/// as now stored.
pub async fn set_plan<C: ConnectionTrait>(
    db: &C,
    user: users::Model,
    plan: &str,
    until: Option<DateTime<Utc>>,
) -> Result<users::Model, DbErr> {
    let mut active: users::ActiveModel = user.into();
    active.plan = Set(plan.to_owned());
    active.plan_until = Set(until);
    active.updated_at = Set(Utc::now());
    active.update(db).await
}

/// An operator-set plan whose end has passed, noticed (at a login): the stored plan becomes
/// `free` with no end, once. Returns the plan that lapsed, or `None` when there was none or
/// another replica noticed it first (the update names the exact plan and end it read, so it
/// changes one row once however many run it).
pub async fn end_lapsed_plan<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
) -> Result<Option<String>, DbErr> {
    let now = Utc::now();
    let Some(until) = user.plan_until.filter(|t| *t <= now) else {
        return Ok(None);
    };
    if user.plan == crate::plan::FREE {
        return Ok(None);
    }
    let updated = users::Entity::update_many()
        .col_expr(users::Column::Plan, Expr::value(crate::plan::FREE))
        .col_expr(
            users::Column::PlanUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .filter(users::Column::Plan.eq(&user.plan))
        .filter(users::Column::PlanUntil.eq(until))
        .exec(db)
        .await?;
    Ok((updated.rows_affected == 1).then(|| user.plan.clone()))
}

/// Sets `disabled_at` unless it is set: from the commit on, the login callback refuses the
/// user. Returns since when they are disabled and whether they already were.
pub async fn disable<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
) -> Result<(DateTime<Utc>, bool), DbErr> {
    if let Some(since) = user.disabled_at {
        return Ok((since, true));
    }
    let now = Utc::now();
    let mut active: users::ActiveModel = user.clone().into();
    active.disabled_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(db).await?;
    Ok((now, false))
}

/// Clears `disabled_at`. Returns whether the user was disabled.
pub async fn enable<C: ConnectionTrait>(db: &C, user: users::Model) -> Result<bool, DbErr> {
    if user.disabled_at.is_none() {
        return Ok(false);
    }
    let mut active: users::ActiveModel = user.into();
    active.disabled_at = Set(None);
    active.updated_at = Set(Utc::now());
    active.update(db).await?;
    Ok(true)
}

/// What [`erase`] removed.
#[derive(Debug, Clone, Copy)]
pub struct Erased {
    pub identities: u64,
    pub usage_events: u64,
    /// Billing records kept, no longer linked to anyone.
    pub detached_subscriptions: u64,
    /// Their security events, replaced by one `account_deleted` event.
    pub security_events: u64,
}

/// Deletes a user's rows in one transaction: the user, their identities, usage and security
/// events; their subscriptions stay, detached, for the books. One `account_deleted` event is
/// left in place of their events, with the user id (which names no one once the rows are
/// gone) and no address, device or detail. Counts what went.
pub async fn erase<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Erased, DbErr> {
    let txn = db.begin().await?;
    let identities = identities::Entity::find()
        .filter(identities::Column::UserId.eq(user_id))
        .count(&txn)
        .await?;
    let usage_events = usage_events::Entity::find()
        .filter(usage_events::Column::UserId.eq(user_id))
        .count(&txn)
        .await?;
    let detached_subscriptions = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user_id))
        .count(&txn)
        .await?;
    // The foreign keys do the rest: identities and usage cascade, subscriptions are set null.
    // Detaching explicitly as well keeps this right on a database that does not enforce them.
    subscriptions::Entity::update_many()
        .col_expr(
            subscriptions::Column::UserId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(subscriptions::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    identities::Entity::delete_many()
        .filter(identities::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    usage_events::Entity::delete_many()
        .filter(usage_events::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    users::Entity::delete_by_id(user_id).exec(&txn).await?;
    let security_events = super::events::forget(&txn, user_id).await?;
    let deleted = SecurityEvent::new(Kind::AccountDeleted, Actor::Operator).user(user_id);
    super::events::record(&txn, &[deleted]).await?;
    txn.commit().await?;
    Ok(Erased {
        identities,
        usage_events,
        detached_subscriptions,
        security_events,
    })
}

/// The users linked to a Stripe customer (one, or none yet).
pub async fn with_customer<C: ConnectionTrait>(
    db: &C,
    customer: &str,
) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::StripeCustomerId.eq(customer))
        .all(db)
        .await
}

/// The id of the user linked to a Stripe customer, if any.
pub async fn customer_owner<C: ConnectionTrait>(
    db: &C,
    customer: &str,
) -> Result<Option<Uuid>, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::StripeCustomerId.eq(customer))
        .one(db)
        .await?
        .map(|u| u.id))
}

/// Whether a user other than `user_id` is linked to this Stripe customer.
pub async fn customer_taken<C: ConnectionTrait>(
    db: &C,
    customer: &str,
    user_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::StripeCustomerId.eq(customer))
        .filter(users::Column::Id.ne(user_id))
        .one(db)
        .await?
        .is_some())
}

/// Links a user to a Stripe customer (a no-op when they already are).
pub async fn link_customer<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
    customer: &str,
) -> Result<(), DbErr> {
    if user.stripe_customer_id.as_deref() == Some(customer) {
        return Ok(());
    }
    users::Entity::update_many()
        .col_expr(users::Column::StripeCustomerId, Expr::value(customer))
        .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(users::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    Ok(())
}
