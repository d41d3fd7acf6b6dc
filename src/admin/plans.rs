//! `plan set`: the plan an operator gives a user.

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::DatabaseConnection;

use super::{record, AdminError, Result};
use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::accounts::{self, PublishError};
use crate::session::{Profile, Sessions};

/// What `plan set` did.
#[derive(Debug, Clone)]
pub struct PlanChange {
    /// The user as now stored.
    pub user: users::Model,
    /// What every live session reads from now on.
    pub profile: Profile,
    /// Whether a profile cache existed to update (none: the user has no live session, and the
    /// next login reads the new plan from the database).
    pub cache_updated: bool,
}

/// Sets the plan an operator gives a user, until `until` (or with no end), and refreshes the
/// profile cache so that every live session of the user sees it on its next request.
pub async fn set_plan(
    db: &DatabaseConnection,
    sessions: &Sessions,
    user: users::Model,
    plan: &str,
    until: Option<DateTime<Utc>>,
) -> Result<PlanChange> {
    if let Some(until) = until.filter(|t| *t <= Utc::now()) {
        return Err(AdminError::UntilInPast(until.to_rfc3339()));
    }
    if !accounts::plans::exists(db, plan).await? {
        return Err(AdminError::UnknownPlan {
            name: plan.to_owned(),
            known: accounts::plans::names(db).await?.join(", "),
        });
    }
    let now = Utc::now().timestamp_millis();
    let before = accounts::profile(db, &user)
        .await?
        .effective_plan(now)
        .to_owned();
    let user = accounts::users::set_plan(db, user, plan, until).await?;
    let published = accounts::publish(db, sessions, &user)
        .await
        .map_err(|e| match e {
            PublishError::Db(e) => AdminError::Db(e),
            PublishError::Store(source) => AdminError::Partial {
                done: format!("the plan of {} is set to {plan}", user.id),
                source,
            },
        })?;
    let after = published.profile.effective_plan(now);
    if after != before {
        let event = SecurityEvent::new(Kind::PlanChanged, Actor::Operator)
            .user(user.id)
            .reason("operator")
            .detail("from", before)
            .detail("to", after)
            .detail("source", "operator");
        record(db, &[event]).await;
    }
    Ok(PlanChange {
        user,
        profile: published.profile,
        cache_updated: published.cache_updated,
    })
}
