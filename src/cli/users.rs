//! `latchkey users list|show|disable|enable|delete`.

use std::io::{self, Write};

use serde::Serialize;

use super::args::UsersCommand;
use super::confirm::{confirm, Consent};
use super::output::{
    finish, json_pretty, output, plural, when, when_opt, who, JsonArray, TextTable,
};
use super::{Failure, Ops};
use crate::admin::{self, UserPages, UserSummary};

pub(super) async fn run(ops: &Ops, command: UsersCommand) -> Result<(), Failure> {
    match command {
        UsersCommand::List { output } => list(ops, output.json).await,
        UsersCommand::Show { user, output } => show(ops, &user, output.json).await,
        UsersCommand::Disable { user } => disable(ops, &user).await,
        UsersCommand::Enable { user } => enable(ops, &user).await,
        UsersCommand::Delete { user, yes } => delete(ops, &user, yes).await,
    }
}

fn user_row(t: &mut TextTable, u: &UserSummary) {
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

const USER_HEADER: [&str; 8] = [
    "ID",
    "EMAIL",
    "NAME",
    "PLAN",
    "PLAN UNTIL",
    "SUBSCRIPTION END",
    "SESSIONS",
    "DISABLED",
];

async fn list(ops: &Ops, json: bool) -> Result<(), Failure> {
    let mut pages = UserPages::new(&ops.db, &ops.sessions);
    if json {
        let mut page = pages.next_page().await?;
        let mut array =
            JsonArray::start(io::BufWriter::new(io::stdout().lock()), "users").map_err(output)?;
        while let Some(users) = page {
            for user in &users {
                if let Err(e) = array.push(user) {
                    return finish(Err(e));
                }
            }
            page = pages.next_page().await?;
        }
        return finish(array.end());
    }
    let mut t = TextTable::new(&USER_HEADER);
    let mut count: u64 = 0;
    while let Some(page) = pages.next_page().await? {
        for user in &page {
            user_row(&mut t, user);
            count += 1;
        }
    }
    let mut out = io::stdout().lock();
    finish((|| {
        if count > 0 {
            writeln!(out, "{t}")?;
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
    let u = &detail.summary;
    let mut about = TextTable::plain();
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
    let mut identities =
        TextTable::new(&["PROVIDER", "SUBJECT", "EMAIL", "VERIFIED", "LAST LOGIN"]);
    for i in &detail.identities {
        identities.row([
            i.provider.clone(),
            i.subject.clone(),
            i.email.clone().unwrap_or_default(),
            i.email_verified.to_string(),
            when(i.updated_at),
        ]);
    }
    let mut subscriptions = TextTable::new(&["SUBSCRIPTION", "CUSTOMER", "STATUS", "PERIOD END"]);
    for s in &detail.subscriptions {
        subscriptions.row([
            s.id.clone(),
            s.customer_id.clone(),
            s.status.clone(),
            when_opt(s.current_period_end),
        ]);
    }
    finish((|| {
        writeln!(out, "{about}")?;
        if detail.identities.is_empty() {
            writeln!(out, "no identities")?;
        } else {
            writeln!(out, "{identities}")?;
        }
        if detail.subscriptions.is_empty() {
            writeln!(out, "no subscriptions")
        } else {
            writeln!(out, "{subscriptions}")
        }
    })())
}

async fn disable(ops: &Ops, who_arg: &str) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let name = who(&user);
    let done = admin::disable_user(&ops.db, &ops.sessions, user).await?;
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

async fn enable(ops: &Ops, who_arg: &str) -> Result<(), Failure> {
    let user = admin::find_user(&ops.db, who_arg).await?;
    let name = who(&user);
    if admin::enable_user(&ops.db, user).await? {
        println!("enabled {name}: they can log in again");
    } else {
        println!("{name} was not disabled; nothing changed");
    }
    Ok(())
}

/// Erases a user, or finishes the erasure of a user id whose rows are already gone (a run
/// that stopped half-way tells the operator to run it again with the id).
async fn delete(ops: &Ops, who_arg: &str, yes: bool) -> Result<(), Failure> {
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
            println!(
                "no user {id} in the database; ended what was left in the session store: \
                 revoked {}, dropped the profile cache",
                plural(revoked, "session")
            );
            return Ok(());
        }
    };
    let name = who(&user);
    let done = admin::delete_user(&ops.db, &ops.sessions, user).await?;
    println!(
        "deleted {name}: revoked {}, erased {} and {}, kept {} detached",
        plural(done.revoked, "session"),
        plural(done.identities, "identity"),
        plural(done.usage_events, "usage record"),
        plural(done.detached_subscriptions, "subscription"),
    );
    Ok(())
}
