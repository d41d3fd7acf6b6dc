//! `latchkey plan set`.

use chrono::{DateTime, Utc};

use super::args::PlanCommand;
use super::output::{print_json, when, when_opt, who};
use super::{Failure, Ops};
use crate::admin;

pub(super) async fn run(ops: &Ops, command: PlanCommand) -> Result<(), Failure> {
    match command {
        PlanCommand::Set {
            user,
            plan,
            until,
            output,
        } => {
            let until = until.map(|t| t.with_timezone(&Utc));
            set(ops, &user, &plan, until, output.json).await
        }
    }
}

async fn set(
    ops: &Ops,
    who_arg: &str,
    plan: &str,
    until: Option<DateTime<Utc>>,
    json: bool,
) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let change = admin::set_plan(&ops.db, &ops.sessions, user, plan, until).await?;
    let now = Utc::now().timestamp_millis();
    let effective = change.profile.effective_plan(now);
    if json {
        return print_json(&serde_json::json!({
            "user": { "id": change.user.id, "email": change.user.email },
            "plan": plan,
            "until": until.map(when),
            "effective_plan": effective,
            "has_subscription": change.profile.has_subscription,
            "live_sessions_updated": change.cache_updated,
        }));
    }
    let name = who(&change.user);
    let until = until
        .map(|t| format!(" until {}", when(t)))
        .unwrap_or_default();
    println!("set the plan of {name} to {plan}{until}");
    if change.profile.has_subscription && effective != plan {
        println!(
            "note: an active subscription keeps them on {effective} until {}",
            when_opt(
                change
                    .profile
                    .plan_until_ms
                    .and_then(DateTime::from_timestamp_millis)
            )
        );
    }
    if change.cache_updated {
        println!("their live sessions see {effective} on their next request");
    } else {
        println!("they have no live session; their next login reads {effective}");
    }
    Ok(())
}
