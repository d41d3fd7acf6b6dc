//! The profile the session store caches (who the user is, which plan is in force), read from
//! SQL, and [`publish`]: the one way a change in SQL reaches the cache.
//!
//! Order of writes, everywhere: SQL first (the durable record), then the cache (what live
//! sessions read). A failure between the two leaves SQL right, and doing the same again
//! (a rerun of the command, a redelivery of the Stripe event) pushes the profile again.

use std::collections::HashMap;

use chrono::Utc;
use entity::{subscriptions, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::plan;
use crate::session::{Profile, Sessions, StoreError};

/// Subscription statuses that make a user `pro` while their period lasts.
const ACTIVE_STATUSES: &[&str] = &["active", "trialing"];

/// The profile of `user` as SQL has it now.
///
/// A subscription that is active and whose period has not ended makes the user `pro` until
/// that end (docs/api.md, "Plans and quota"); otherwise the operator-set plan applies, with its own end.
pub async fn profile<C: ConnectionTrait>(db: &C, user: &users::Model) -> Result<Profile, DbErr> {
    let mut latest = active_subscriptions(db, &[user.id]).await?;
    Ok(profile_with(user, latest.remove(&user.id).as_ref()))
}

/// [`profile`] for many users with one query: the profile of each user, by id.
pub async fn profiles<C: ConnectionTrait>(
    db: &C,
    users: &[users::Model],
) -> Result<HashMap<Uuid, Profile>, DbErr> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let latest = active_subscriptions(db, &ids).await?;
    Ok(users
        .iter()
        .map(|u| (u.id, profile_with(u, latest.get(&u.id))))
        .collect())
}

/// The one active-subscription query: of each of these users that has an active
/// subscription whose period has not ended, the one that ends last.
async fn active_subscriptions<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, subscriptions::Model>, DbErr> {
    let mut latest = HashMap::new();
    if ids.is_empty() {
        return Ok(latest);
    }
    let active = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.is_in(ids.iter().copied()))
        .filter(subscriptions::Column::Status.is_in(ACTIVE_STATUSES.iter().copied()))
        .filter(subscriptions::Column::CurrentPeriodEnd.gt(Utc::now()))
        .filter(Expr::col(subscriptions::Column::CurrentPeriodEnd).is_not_null())
        .order_by_desc(subscriptions::Column::CurrentPeriodEnd)
        .all(db)
        .await?;
    for s in active {
        if let Some(user_id) = s.user_id {
            // Ordered by period end, latest first: the first one of a user wins.
            latest.entry(user_id).or_insert(s);
        }
    }
    Ok(latest)
}

/// The profile of `user` given their active subscription with the latest period end, if any.
fn profile_with(user: &users::Model, subscription: Option<&subscriptions::Model>) -> Profile {
    let (plan, plan_until, has_subscription) = match subscription {
        Some(s) => (plan::PRO.to_owned(), s.current_period_end, true),
        None => (user.plan.clone(), user.plan_until, false),
    };
    Profile {
        name: user.name.clone().unwrap_or_default(),
        email: user.email.clone().unwrap_or_default(),
        image: user.image.clone().unwrap_or_default(),
        plan,
        plan_until_ms: plan_until.map(|t| t.timestamp_millis()),
        has_subscription,
    }
}

/// Every subscription of a user (active or not), newest first: the billing records an
/// operator looks at.
pub async fn subscriptions_of<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
) -> Result<Vec<subscriptions::Model>, DbErr> {
    subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user.id))
        .order_by_desc(subscriptions::Column::CreatedAt)
        .all(db)
        .await
}

/// What [`publish`] pushed.
#[derive(Debug, Clone)]
pub struct Published {
    /// The profile as SQL has it now: what every live session of the user reads from now on.
    pub profile: Profile,
    /// Whether a profile cache existed to update (none: the user has no live session, and
    /// their next login reads the profile from SQL).
    pub cache_updated: bool,
}

/// Why [`publish`] did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The profile could not be read; the cache was not touched.
    #[error("database error")]
    Db(#[from] DbErr),
    /// The profile was read but the cache was not updated: SQL is right, live sessions do not
    /// see it yet.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// After a change to `user` in SQL is committed: reads their profile as SQL now has it and
/// pushes it to the profile cache, so that every live session of the user sees the change on
/// its next request. A user without a cached profile (no live session) is left alone: their
/// next login reads SQL.
///
/// `db` must see the committed change: the connection, not the transaction that wrote it
/// (a cache that runs ahead of SQL would show what a rollback then takes back).
pub async fn publish<C: ConnectionTrait>(
    db: &C,
    sessions: &Sessions,
    user: &users::Model,
) -> Result<Published, PublishError> {
    let profile = profile(db, user).await?;
    let cache_updated = push(sessions, user.id, &profile).await?;
    Ok(Published {
        profile,
        cache_updated,
    })
}

/// [`publish`] for a cache known to hold `cached`: pushes only when SQL now says otherwise
/// (a login that read the user before a concurrent `plan set` committed). Returns the profile
/// as SQL has it.
pub async fn publish_if_changed<C: ConnectionTrait>(
    db: &C,
    sessions: &Sessions,
    user: &users::Model,
    cached: &Profile,
) -> Result<Profile, PublishError> {
    let current = profile(db, user).await?;
    if current != *cached {
        push(sessions, user.id, &current).await?;
    }
    Ok(current)
}

/// The one write of a profile read from SQL to the cache.
async fn push(sessions: &Sessions, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError> {
    sessions.refresh_profile(user_id, profile).await
}
