//! A plan an operator set with an end (`plan set --until`) falls back to `free` by itself when
//! its end passes, at read time, with no write at that moment; this is where the lapse is
//! noticed and recorded, at the user's next sign-in.

use chrono::Utc;

use super::Deps;
use crate::accounts;
use crate::accounts::events::{Actor, Kind, SecurityEvent};

/// A plan an operator set whose end has passed is noticed here, at the user's sign-in: it
/// becomes `free` in SQL once, recorded as `plan_changed` (source `lapsed`). An active
/// subscription keeps the user on `pro`: then the plan in force did not change, and nothing
/// is noticed. Failing to notice is no reason to refuse the sign-in.
pub(super) async fn notice(deps: &Deps<'_>, user: entity::users::Model) -> entity::users::Model {
    let now = Utc::now();
    if user.plan_until.is_none_or(|t| t > now) || user.plan == crate::plan::FREE {
        return user;
    }
    let in_force = match accounts::profile(deps.db, &user).await {
        Ok(p) => p.effective_plan(now.timestamp_millis()).to_owned(),
        Err(_) => return user,
    };
    if in_force != crate::plan::FREE {
        return user;
    }
    match accounts::users::end_lapsed_plan(deps.db, &user).await {
        Ok(Some(from)) => {
            deps.journal.event(
                SecurityEvent::new(Kind::PlanChanged, Actor::System)
                    .user(user.id)
                    .reason("lapsed")
                    .detail("from", from.as_str())
                    .detail("to", crate::plan::FREE)
                    .detail("source", "lapsed")
                    .detail(
                        "ended_at",
                        user.plan_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ),
            );
            entity::users::Model {
                plan: crate::plan::FREE.to_owned(),
                plan_until: None,
                ..user
            }
        }
        Ok(None) => user,
        Err(e) => {
            tracing::warn!(error = %e, "could not record a lapsed plan");
            user
        }
    }
}
