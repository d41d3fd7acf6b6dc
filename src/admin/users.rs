//! Users as the operator sees them: finding, listing, showing, disabling, enabling and
//! erasing them.

use chrono::{DateTime, Utc};
use entity::users;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use uuid::Uuid;

use super::{record, time, AdminError, Result, CONCURRENCY};
use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::accounts::{self, UserRef};
use crate::session::{Profile, Sessions};

/// How many users one page of `users list` reads from SQL.
const USER_PAGE: u64 = 500;

/// The one user `who` (an email or a user id) names.
pub async fn find_user(db: &DatabaseConnection, who: &str) -> Result<users::Model> {
    let who = UserRef::parse(who);
    let mut found = accounts::find_users(db, &who).await?;
    match found.len() {
        0 => Err(AdminError::UnknownUser(who.to_string())),
        1 => Ok(found.remove(0)),
        count => Err(AdminError::AmbiguousUser {
            email: who.to_string(),
            count,
            ids: found
                .iter()
                .map(|u| u.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Whose sessions a command names: a user of the database, or a user id that is no longer
/// there. Sessions and the profile cache live in Redis, keyed by the user id, and outlive the
/// rows when an erasure stopped half-way or a row was removed by hand; an operator must still
/// be able to end them.
#[derive(Debug, Clone)]
pub enum Owner {
    User(users::Model),
    Gone(Uuid),
}

impl Owner {
    pub fn id(&self) -> Uuid {
        match self {
            Self::User(user) => user.id,
            Self::Gone(id) => *id,
        }
    }

    pub(super) fn email(&self) -> Option<String> {
        match self {
            Self::User(user) => user.email.clone(),
            Self::Gone(_) => None,
        }
    }

    /// How messages name them: email and id, the id alone, or the id of no user.
    pub(super) fn label(&self) -> String {
        match self {
            Self::User(users::Model {
                email: Some(email),
                id,
                ..
            }) => format!("{email} ({id})"),
            Self::User(user) => user.id.to_string(),
            Self::Gone(id) => format!("{id} (no user in the database)"),
        }
    }
}

/// The owner of the sessions `who` names: the user it names, or, for a user id that is in no
/// row, that id. An email must name a user: without a row there is no way from it to an id.
pub async fn find_owner(db: &DatabaseConnection, who: &str) -> Result<Owner> {
    match (find_user(db, who).await, UserRef::parse(who)) {
        (Ok(user), _) => Ok(Owner::User(user)),
        (Err(AdminError::UnknownUser(_)), UserRef::Id(id)) => Ok(Owner::Gone(id)),
        (Err(e), _) => Err(e),
    }
}

/// A user as `users list` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The plan in force now: an active subscription's `pro`, else the plan an operator set,
    /// `free` once its end has passed.
    pub plan: String,
    /// When the plan in force ends, if it does.
    #[serde(serialize_with = "super::seconds::optional")]
    pub plan_until: Option<DateTime<Utc>>,
    pub has_subscription: bool,
    #[serde(serialize_with = "super::seconds::optional")]
    pub subscription_end: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::seconds::optional")]
    pub disabled_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::seconds::one")]
    pub created_at: DateTime<Utc>,
    /// Live sessions in the session store.
    pub sessions: usize,
}

impl UserSummary {
    fn new(user: &users::Model, profile: &Profile, sessions: usize) -> Self {
        let now = Utc::now().timestamp_millis();
        let plan = profile.effective_plan(now).to_owned();
        let plan_until = profile.plan_until_ms.filter(|until| *until > now).map(time);
        Self {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            plan,
            plan_until,
            has_subscription: profile.has_subscription,
            subscription_end: plan_until.filter(|_| profile.has_subscription),
            disabled_at: user.disabled_at,
            created_at: user.created_at,
            sessions,
        }
    }
}

/// A user as `users show` shows them: the summary, what an operator set, the provider
/// identities and the billing records.
#[derive(Debug, Clone, Serialize)]
pub struct UserDetail {
    #[serde(flatten)]
    pub summary: UserSummary,
    /// The plan as stored on the user (`plan set`); a subscription can override it.
    pub assigned_plan: String,
    #[serde(serialize_with = "super::seconds::optional")]
    pub assigned_plan_until: Option<DateTime<Utc>>,
    pub identities: Vec<IdentityView>,
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    #[serde(serialize_with = "super::seconds::one")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub customer_id: String,
    pub status: String,
    #[serde(serialize_with = "super::seconds::optional")]
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
}

/// Live session counts of these users, in their order, [`CONCURRENCY`] store calls at a time.
async fn session_counts(sessions: &Sessions, ids: &[Uuid]) -> Result<Vec<usize>> {
    let counts = stream::iter(ids.iter().copied())
        .map(|id| async move { sessions.list(id).await.map(|s| s.len()) })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(counts)
}

/// Every user, oldest first, a page of SQL at a time (see [`UserPages::next_page`]).
pub struct UserPages<'a> {
    db: &'a DatabaseConnection,
    sessions: &'a Sessions,
    page: u64,
    done: bool,
}

impl<'a> UserPages<'a> {
    pub fn new(db: &'a DatabaseConnection, sessions: &'a Sessions) -> Self {
        Self {
            db,
            sessions,
            page: 0,
            done: false,
        }
    }

    /// The next page of users with their plan and live session count; `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<UserSummary>>> {
        if self.done {
            return Ok(None);
        }
        let rows = accounts::users::page(self.db, self.page, USER_PAGE).await?;
        self.page += 1;
        if (rows.len() as u64) < USER_PAGE {
            self.done = true;
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let profiles = accounts::profiles(self.db, &rows).await?;
        let ids: Vec<Uuid> = rows.iter().map(|u| u.id).collect();
        let counts = session_counts(self.sessions, &ids).await?;
        Ok(Some(
            rows.iter()
                .zip(counts)
                .map(|(user, count)| {
                    let profile = profiles.get(&user.id).cloned().unwrap_or_default();
                    UserSummary::new(user, &profile, count)
                })
                .collect(),
        ))
    }
}

/// Everything `users show` prints about one user.
pub async fn show_user(
    db: &DatabaseConnection,
    sessions: &Sessions,
    user: &users::Model,
) -> Result<UserDetail> {
    let profile = accounts::profile(db, user).await?;
    let live = sessions.list(user.id).await?.len();
    let identities = accounts::identities_of(db, user)
        .await?
        .into_iter()
        .map(|i| IdentityView {
            provider: i.provider,
            subject: i.subject,
            email: i.email,
            email_verified: i.email_verified,
            updated_at: i.updated_at,
        })
        .collect();
    let subscriptions = accounts::profiles::subscriptions_of(db, user)
        .await?
        .into_iter()
        .map(|s| SubscriptionView {
            id: s.id,
            customer_id: s.customer_id,
            status: s.status,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
        })
        .collect();
    Ok(UserDetail {
        summary: UserSummary::new(user, &profile, live),
        assigned_plan: user.plan.clone(),
        assigned_plan_until: user.plan_until,
        identities,
        subscriptions,
    })
}

/// What `users disable` did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Disabled {
    /// When the user was disabled: now, or earlier if they already were.
    #[serde(serialize_with = "super::seconds::one")]
    pub since: DateTime<Utc>,
    pub already: bool,
    pub revoked: u64,
}

/// Disables a user: their next logins are refused (`account_disabled`) and every session ends
/// at once. Running it again on a disabled user ends any session left and changes nothing else.
pub async fn disable_user(
    db: &DatabaseConnection,
    sessions: &Sessions,
    user: users::Model,
) -> Result<Disabled> {
    let (since, already) = accounts::users::disable(db, &user).await?;
    let revoked = sessions
        .end_all(user.id)
        .await
        .map_err(|source| AdminError::Partial {
            done: format!("{} is disabled", user.id),
            source,
        })?;
    let mut events = Vec::new();
    if !already {
        events.push(SecurityEvent::new(Kind::AccountDisabled, Actor::Operator).user(user.id));
    }
    if revoked > 0 {
        events.push(super::sessions::revoked_by_operator(
            user.id, revoked, "disable",
        ));
    }
    record(db, &events).await;
    Ok(Disabled {
        since,
        already,
        revoked,
    })
}

/// Lets a disabled user log in again. Returns whether they were disabled.
pub async fn enable_user(db: &DatabaseConnection, user: users::Model) -> Result<bool> {
    let user_id = user.id;
    let was_disabled = accounts::users::enable(db, user).await?;
    if was_disabled {
        let event = SecurityEvent::new(Kind::AccountEnabled, Actor::Operator).user(user_id);
        record(db, &[event]).await;
    }
    Ok(was_disabled)
}

/// What `users delete` did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Deleted {
    pub revoked: u64,
    pub identities: u64,
    pub usage_events: u64,
    /// Billing records kept, no longer linked to anyone.
    pub detached_subscriptions: u64,
}

/// What an erasure has done when a step fails, for [`AdminError::Unfinished`].
const ERASE_DISABLED: &str =
    "the user is disabled, so logins are refused, but their sessions are not ended and nothing \
     is erased";
const ERASE_ENDED: &str =
    "the user is disabled and their sessions ended, but their rows are not deleted";
const ERASE_DELETED: &str =
    "the rows are deleted, but the last sweep of the session store for a racing login failed";

/// Erases a user (an erasure request): their sessions and profile cache, the user row and with
/// it their identities and usage; subscriptions stay, detached, for the books.
///
/// The steps are ordered so that a failure at any of them leaves a state from which running
/// `users delete <user id> --yes` again finishes the erasure:
///
/// 1. **Disable** the user in SQL (committed alone): from now on the login callback refuses
///    them, so no new session can start.
/// 2. **End every session and drop the profile cache** in Redis. If Redis fails, nothing is
///    erased yet and the user is still in SQL for the rerun to find.
/// 3. **Delete the rows** in one transaction. If SQL fails, the rows are all still there.
/// 4. **End every session again**: a login that read the user before step 1 and started its
///    session after step 2 would otherwise keep a session, with the profile cache its start
///    wrote, after the rows are gone. If Redis fails here, the rerun finds no user but is given
///    the id, and [`erase_leftovers`] ends what is left in Redis.
///
/// Deleting the rows first, as the other commands write SQL first, would leave a failure in
/// Redis with a signed-in user that no command could find any more.
pub async fn delete_user(
    db: &DatabaseConnection,
    sessions: &Sessions,
    user: users::Model,
) -> Result<Deleted> {
    let user_id = user.id;
    accounts::users::disable(db, &user).await?;
    let revoked = sessions
        .end_all(user_id)
        .await
        .map_err(AdminError::unfinished(user_id, ERASE_DISABLED))?;
    let erased = accounts::users::erase(db, user_id)
        .await
        .map_err(AdminError::unfinished(user_id, ERASE_ENDED))?;
    let late = sessions
        .end_all(user_id)
        .await
        .map_err(AdminError::unfinished(user_id, ERASE_DELETED))?;
    Ok(Deleted {
        revoked: revoked + late,
        identities: erased.identities,
        usage_events: erased.usage_events,
        detached_subscriptions: erased.detached_subscriptions,
    })
}

/// Finishes the erasure of a user id that is no longer in the database: ends its sessions
/// and drops its profile cache in Redis. Returns how many sessions were ended; none is
/// [`AdminError::NothingLeft`] (the profile cache, if there was one, is dropped all the same).
pub async fn erase_leftovers(sessions: &Sessions, user_id: Uuid) -> Result<u64> {
    match sessions.end_all(user_id).await? {
        0 => Err(AdminError::NothingLeft(user_id)),
        revoked => Ok(revoked),
    }
}
