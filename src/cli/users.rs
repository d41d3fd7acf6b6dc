//! `latchkey users list|show|disable|enable|delete`.

use std::io::{self, Write};

use serde::Serialize;

use super::args::UsersCommand;
use super::confirm::{confirm, Consent};
use super::output::{
    finish, json_pretty, output, plural, print_json, when, when_opt, who, JsonArray,
};
use super::table::{Column, Layout, Table};
use super::{Failure, Ops};
use crate::admin::{self, UserPages, UserSummary};

pub(super) async fn run(ops: &Ops, command: UsersCommand) -> Result<(), Failure> {
    match command {
        UsersCommand::List {
            plan,
            disabled,
            limit,
            output,
        } => {
            let filter = Filter {
                plan,
                disabled,
                limit: limit.limit,
            };
            list(ops, &filter, output.json).await
        }
        UsersCommand::Show { user, output } => show(ops, &user, output.json).await,
        UsersCommand::Disable { user, output } => disable(ops, &user, output.json).await,
        UsersCommand::Enable { user, output } => enable(ops, &user, output.json).await,
        UsersCommand::Delete { user, yes, output } => delete(ops, &user, yes, output.json).await,
    }
}

/// What `users list` keeps: users on `plan` now, only disabled ones, at most `limit`.
struct Filter {
    plan: Option<String>,
    disabled: bool,
    limit: Option<u64>,
}

impl Filter {
    fn keeps(&self, u: &UserSummary) -> bool {
        self.plan.as_ref().is_none_or(|plan| &u.plan == plan)
            && (!self.disabled || u.disabled_at.is_some())
    }

    fn full(&self, count: u64) -> bool {
        self.limit.is_some_and(|limit| count >= limit)
    }
}

fn user_row(t: &mut Table, u: &UserSummary) {
    t.row([
        u.id.to_string(),
        u.email.clone().unwrap_or_default(),
        u.name.clone().unwrap_or_default(),
        u.plan.clone(),
        when_opt(u.plan_until),
        when_opt(u.subscription_end),
        u.sessions.to_string(),
        when_opt(u.disabled_at),
    ]);
}

/// The email and plan always; the name is cut short first; then the subscription's end, the
/// plan's end, the disabling time, the session count, the name and the id go, in that order
/// (the email names the user as well as the id does).
const USER_COLUMNS: [Column; 8] = [
    Column::fixed("ID").hidden_at(1),
    Column::fixed("EMAIL"),
    Column::flexible("NAME").hidden_at(2),
    Column::fixed("PLAN"),
    Column::fixed("PLAN UNTIL").hidden_at(5),
    Column::fixed("SUBSCRIPTION END").hidden_at(6),
    Column::fixed("SESSIONS").hidden_at(3),
    Column::fixed("DISABLED").hidden_at(4),
];

/// Every user the filter keeps, page by page in creation order, until the limit.
async fn list(ops: &Ops, filter: &Filter, json: bool) -> Result<(), Failure> {
    let mut pages = UserPages::new(&ops.db, &ops.sessions);
    if json {
        let mut page = pages.next_page().await?;
        let mut array =
            JsonArray::start(io::BufWriter::new(io::stdout().lock()), "users").map_err(output)?;
        let mut printed: u64 = 0;
        'pages: while let Some(users) = page {
            for user in users.iter().filter(|u| filter.keeps(u)) {
                if filter.full(printed) {
                    break 'pages;
                }
                if let Err(e) = array.push(user) {
                    return finish(Err(e));
                }
                printed += 1;
            }
            page = pages.next_page().await?;
        }
        return finish(array.end());
    }
    let mut t = Table::new(&USER_COLUMNS);
    let mut count: u64 = 0;
    'all: while let Some(page) = pages.next_page().await? {
        for user in page.iter().filter(|u| filter.keeps(u)) {
            if filter.full(count) {
                break 'all;
            }
            user_row(&mut t, user);
            count += 1;
        }
    }
    let mut out = io::stdout().lock();
    finish((|| {
        if count > 0 {
            write!(out, "{}", t.render(Layout::of_stdout()))?;
        }
        writeln!(out, "{}", plural(count, "user"))
    })())
}

async fn show(ops: &Ops, who: &str, json: bool) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who).await?;
    let detail = admin::show_user(&ops.db, &ops.sessions, &user).await?;
    let mut out = io::stdout().lock();
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            user: &'a admin::UserDetail,
        }
        return finish(
            json_pretty(&mut out, &Shown { user: &detail }).and_then(|()| writeln!(out)),
        );
    }
    let layout = Layout::of_stdout();
    let u = &detail.summary;
    let mut about = Table::pairs();
    for (k, v) in [
        ("id", u.id.to_string()),
        ("email", u.email.clone().unwrap_or_default()),
        ("name", u.name.clone().unwrap_or_default()),
        ("plan", u.plan.clone()),
        ("plan until", when_opt(u.plan_until)),
        ("subscription end", when_opt(u.subscription_end)),
        (
            "assigned plan",
            match detail.assigned_plan_until {
                Some(until) => format!("{} until {}", detail.assigned_plan, when(until)),
                None => detail.assigned_plan.clone(),
            },
        ),
        ("live sessions", u.sessions.to_string()),
        ("disabled", when_opt(u.disabled_at)),
        ("created", when(u.created_at)),
    ] {
        about.row([k.to_owned(), v]);
    }
    let mut identities = Table::new(&[
        Column::fixed("PROVIDER"),
        Column::flexible("SUBJECT"),
        Column::fixed("EMAIL"),
        Column::fixed("VERIFIED").hidden_at(1),
        Column::fixed("LAST LOGIN"),
    ]);
    for i in &detail.identities {
        identities.row([
            i.provider.clone(),
            i.subject.clone(),
            i.email.clone().unwrap_or_default(),
            i.email_verified.to_string(),
            when(i.updated_at),
        ]);
    }
    let mut subscriptions = Table::new(&[
        Column::flexible("SUBSCRIPTION"),
        Column::flexible("CUSTOMER"),
        Column::fixed("STATUS"),
        Column::fixed("PERIOD END"),
    ]);
    for s in &detail.subscriptions {
        subscriptions.row([
            s.id.clone(),
            s.customer_id.clone(),
            s.status.clone(),
            when_opt(s.current_period_end),
        ]);
    }
    finish((|| {
        writeln!(out, "{}", about.render(layout))?;
        if detail.identities.is_empty() {
            writeln!(out, "no identities\n")?;
        } else {
            writeln!(out, "{}", identities.render(layout))?;
        }
        if detail.subscriptions.is_empty() {
            writeln!(out, "no subscriptions")
        } else {
            write!(out, "{}", subscriptions.render(layout))
        }
    })())
}

/// How a user is named in `--json` outputs: the id, and the email if any.
#[derive(Serialize)]
struct Named {
    id: uuid::Uuid,
    email: Option<String>,
}

impl From<&entity::users::Model> for Named {
    fn from(user: &entity::users::Model) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
        }
    }
}

async fn disable(ops: &Ops, who_arg: &str, json: bool) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let name = who(&user);
    let named = Named::from(&user);
    let done = admin::disable_user(&ops.db, &ops.sessions, user).await?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            user: Named,
            #[serde(flatten)]
            done: &'a admin::Disabled,
        }
        return print_json(&Out {
            user: named,
            done: &done,
        });
    }
    if done.already {
        println!(
            "{name} was already disabled since {}; revoked {}",
            when(done.since),
            plural(done.revoked, "session")
        );
    } else {
        println!(
            "disabled {name}: revoked {}; their logins are refused until `latchkey users enable`",
            plural(done.revoked, "session")
        );
    }
    Ok(())
}

async fn enable(ops: &Ops, who_arg: &str, json: bool) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let name = who(&user);
    let named = Named::from(&user);
    let was_disabled = admin::enable_user(&ops.db, user).await?;
    if json {
        return print_json(&serde_json::json!({ "user": named, "was_disabled": was_disabled }));
    }
    if was_disabled {
        println!("enabled {name}: they can log in again");
    } else {
        println!("{name} was not disabled; nothing changed");
    }
    Ok(())
}

/// Erases a user, or finishes the erasure of a user id whose rows are already gone (a run
/// that stopped half-way tells the operator to run it again with the id).
async fn delete(ops: &Ops, who_arg: &str, yes: bool, json: bool) -> Result<(), Failure> {
    confirm(
        yes,
        "`users delete` erases a user for good",
        "nothing was erased",
        Consent::YesOnly(""),
    )?;
    let user = match admin::find_owner(&ops.db, who_arg).await? {
        admin::Owner::User(user) => user,
        admin::Owner::Gone(id) => {
            let revoked = admin::erase_leftovers(&ops.sessions, id).await?;
            if json {
                return print_json(&serde_json::json!({
                    "user": { "id": id, "email": null },
                    "leftovers_only": true,
                    "revoked": revoked,
                }));
            }
            println!(
                "no user {id} in the database; ended what was left in the session store: \
                 revoked {}, dropped the profile cache",
                plural(revoked, "session")
            );
            return Ok(());
        }
    };
    let name = who(&user);
    let named = Named::from(&user);
    let done = admin::delete_user(&ops.db, &ops.sessions, user).await?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            user: Named,
            leftovers_only: bool,
            #[serde(flatten)]
            done: &'a admin::Deleted,
        }
        return print_json(&Out {
            user: named,
            leftovers_only: false,
            done: &done,
        });
    }
    println!(
        "deleted {name}: revoked {}, erased {} and {}, kept {} detached",
        plural(done.revoked, "session"),
        plural(done.identities, "identity"),
        plural(done.usage_events, "usage record"),
        plural(done.detached_subscriptions, "subscription"),
    );
    Ok(())
}
