//! The operator's service behind `latchkey sessions|users|plan` (contract §1): finding users,
//! listing and revoking sessions, changing plans, disabling and erasing users.
//!
//! Everything here takes the database and the session store directly, so it works from any
//! pod and while no HTTP server runs. The command line (`cli.rs`) only parses, calls one of
//! these functions and prints the result.
//!
//! Order of writes: the database first (the durable record, and what refuses new logins),
//! then Redis (what live sessions read), so that a failure half-way leaves the database right
//! and running the command again finishes the job. Erasure is the one exception: its
//! database write removes the user that a rerun would look up, so [`delete_user`] ends
//! everything in Redis before the rows go (see there).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{identities, plans, subscriptions, users};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use crate::accounts::{self, UserRef};
use crate::session::{Listed, Profile, PublicId, Revoke, SessionHash, Sessions, StoreError};

/// How many users one page of `users list` reads from SQL.
const USER_PAGE: u64 = 500;

/// How many per-user store calls run at once (session counts, revocations).
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user {0}")]
    UnknownUser(String),
    #[error("{count} users have the email {email}; name one by id: {ids}")]
    AmbiguousUser {
        email: String,
        count: usize,
        ids: String,
    },
    #[error("unknown plan {name:?} (plans: {known})")]
    UnknownPlan { name: String, known: String },
    #[error("no live session with id {0}")]
    NoSuchSession(String),
    #[error("{0} has no live session")]
    UserHasNoSession(String),
    #[error("no live session in the deployment")]
    NoSession,
    #[error("{0:?} is not a session id (16 hex digits, as `sessions list` shows)")]
    BadSessionId(String),
    #[error("--until {0} is in the past")]
    UntilInPast(String),
    #[error("database error")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database was changed but the session store was not: the command can be run again.
    #[error("{done} in the database, but not in the session store (run the command again)")]
    Partial {
        done: String,
        #[source]
        source: StoreError,
    },
    /// An erasure stopped at one of its steps; what is done is a state from which running
    /// `users delete` again with the user id finishes it.
    #[error(
        "erasing {id} stopped half-way ({done}); run `latchkey users delete {id} --yes` again \
         once this is fixed"
    )]
    Unfinished {
        id: Uuid,
        done: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An id that is in neither the database nor the session store.
    #[error("no user {0}: not in the database, and no live session in the session store")]
    NothingLeft(Uuid),
}

impl AdminError {
    /// Whether the operator asked for something malformed (exit status 2) rather than
    /// something that does not exist or failed (exit status 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::BadSessionId(_) | Self::UntilInPast(_))
    }

    /// Turns the failure of one step of an erasure into [`Self::Unfinished`].
    fn unfinished<E>(id: Uuid, done: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| Self::Unfinished {
            id,
            done,
            source: Box::new(source),
        }
    }

    /// Whether a revocation found no session to revoke (exit status 1, "revoked 0").
    pub fn nothing_revoked(&self) -> bool {
        matches!(
            self,
            Self::NoSuchSession(_) | Self::UserHasNoSession(_) | Self::NoSession
        )
    }
}

type Result<T, E = AdminError> = std::result::Result<T, E>;

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Users

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

    fn email(&self) -> Option<String> {
        match self {
            Self::User(user) => user.email.clone(),
            Self::Gone(_) => None,
        }
    }

    /// How messages name them: email and id, the id alone, or the id of no user.
    fn label(&self) -> String {
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
    pub plan_until: Option<DateTime<Utc>>,
    pub has_subscription: bool,
    pub subscription_end: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
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
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub customer_id: String,
    pub status: String,
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
        let rows = users::Entity::find()
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .paginate(self.db, USER_PAGE)
            .fetch_page(self.page)
            .await?;
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
    let identities = user
        .find_related(identities::Entity)
        .order_by_asc(identities::Column::CreatedAt)
        .all(db)
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
    let subscriptions = user
        .find_related(subscriptions::Entity)
        .order_by_desc(subscriptions::Column::CreatedAt)
        .all(db)
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

// ---------------------------------------------------------------------------------------------
// Plans

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
    if plans::Entity::find_by_id(plan.to_owned())
        .one(db)
        .await?
        .is_none()
    {
        let known = plans::Entity::find()
            .order_by_asc(plans::Column::Name)
            .all(db)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AdminError::UnknownPlan {
            name: plan.to_owned(),
            known,
        });
    }
    let mut active: users::ActiveModel = user.into();
    active.plan = Set(plan.to_owned());
    active.plan_until = Set(until);
    active.updated_at = Set(Utc::now());
    let user = active.update(db).await?;
    let profile = accounts::profile(db, &user).await?;
    let cache_updated = sessions
        .refresh_profile(user.id, &profile)
        .await
        .map_err(|source| AdminError::Partial {
            done: format!("the plan of {} is set to {plan}", user.id),
            source,
        })?;
    Ok(PlanChange {
        user,
        profile,
        cache_updated,
    })
}

// ---------------------------------------------------------------------------------------------
// Disable, enable, delete

/// What `users disable` did.
#[derive(Debug, Clone, Copy)]
pub struct Disabled {
    /// When the user was disabled: now, or earlier if they already were.
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
    let (since, already) = refuse_logins(db, &user).await?;
    let revoked =
        end_everything(sessions, user.id)
            .await
            .map_err(|source| AdminError::Partial {
                done: format!("{} is disabled", user.id),
                source,
            })?;
    Ok(Disabled {
        since,
        already,
        revoked,
    })
}

/// Sets `disabled_at` unless it is set: from the commit on, the login callback refuses the
/// user. Returns since when they are disabled and whether they already were.
async fn refuse_logins(
    db: &DatabaseConnection,
    user: &users::Model,
) -> Result<(DateTime<Utc>, bool)> {
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

/// Lets a disabled user log in again. Returns whether they were disabled.
pub async fn enable_user(db: &DatabaseConnection, user: users::Model) -> Result<bool> {
    if user.disabled_at.is_none() {
        return Ok(false);
    }
    let mut active: users::ActiveModel = user.into();
    active.disabled_at = Set(None);
    active.updated_at = Set(Utc::now());
    active.update(db).await?;
    Ok(true)
}

/// What `users delete` did.
#[derive(Debug, Clone, Copy)]
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
    refuse_logins(db, &user).await?;
    let revoked = end_everything(sessions, user_id)
        .await
        .map_err(AdminError::unfinished(user_id, ERASE_DISABLED))?;
    let mut deleted = delete_rows(db, user_id)
        .await
        .map_err(AdminError::unfinished(user_id, ERASE_ENDED))?;
    let late = end_everything(sessions, user_id)
        .await
        .map_err(AdminError::unfinished(user_id, ERASE_DELETED))?;
    deleted.revoked = revoked + late;
    Ok(deleted)
}

/// Deletes the user's rows in one transaction; counts what went (`revoked` is left at 0).
async fn delete_rows(db: &DatabaseConnection, user_id: Uuid) -> Result<Deleted, DbErr> {
    let txn = db.begin().await?;
    let identities = identities::Entity::find()
        .filter(identities::Column::UserId.eq(user_id))
        .count(&txn)
        .await?;
    let usage_events = entity::usage_events::Entity::find()
        .filter(entity::usage_events::Column::UserId.eq(user_id))
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
            sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
        )
        .filter(subscriptions::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    identities::Entity::delete_many()
        .filter(identities::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    entity::usage_events::Entity::delete_many()
        .filter(entity::usage_events::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    users::Entity::delete_by_id(user_id).exec(&txn).await?;
    txn.commit().await?;
    Ok(Deleted {
        revoked: 0,
        identities,
        usage_events,
        detached_subscriptions,
    })
}

/// Finishes the erasure of a user id that is no longer in the database: ends its sessions
/// and drops its profile cache in Redis. Returns how many sessions were ended; none is
/// [`AdminError::NothingLeft`] (the profile cache, if there was one, is dropped all the same).
pub async fn erase_leftovers(sessions: &Sessions, user_id: Uuid) -> Result<u64> {
    match end_everything(sessions, user_id).await? {
        0 => Err(AdminError::NothingLeft(user_id)),
        revoked => Ok(revoked),
    }
}

/// Ends every session of a user and drops their profile cache, so that a session created by
/// a login already under way cannot read a profile either.
async fn end_everything(sessions: &Sessions, user_id: Uuid) -> Result<u64, StoreError> {
    sessions.end_all(user_id).await
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// A session as the operator sees it. The id is public: it cannot be turned into a cookie.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub id: PublicId,
    pub user_id: Uuid,
    /// `None` when the user has no email or no longer exists in the database.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: String,
    pub ip: String,
}

impl SessionRow {
    fn new(user_id: Uuid, email: Option<String>, s: &Listed) -> Self {
        Self {
            id: s.hash.public_id(),
            user_id,
            email,
            created_at: time(s.record.created_ms),
            last_seen_at: time(s.record.last_seen_ms),
            expires_at: time(s.expires_ms),
            user_agent: s.record.user_agent.clone(),
            ip: s.record.ip.clone(),
        }
    }
}

/// The live sessions of one user, oldest first. An id no longer in the database with no
/// session either names nothing: [`AdminError::NothingLeft`].
pub async fn user_sessions(sessions: &Sessions, owner: &Owner) -> Result<Vec<SessionRow>> {
    let (id, email) = (owner.id(), owner.email());
    let listed = sessions.list(id).await?;
    if listed.is_empty() && matches!(owner, Owner::Gone(_)) {
        return Err(AdminError::NothingLeft(id));
    }
    Ok(listed
        .iter()
        .map(|s| SessionRow::new(id, email.clone(), s))
        .collect())
}

/// A walk over every live session of the deployment, a page at a time: one `SCAN` page from
/// the store and one SQL query for the emails of that page's users.
pub struct SessionWalk<'a> {
    db: &'a DatabaseConnection,
    sessions: &'a Sessions,
    /// `None` once the walk is over.
    cursor: Option<u64>,
    /// `SCAN` may return a key twice; each session is given once.
    seen: HashSet<SessionHash>,
}

impl<'a> SessionWalk<'a> {
    pub fn new(db: &'a DatabaseConnection, sessions: &'a Sessions) -> Self {
        Self {
            db,
            sessions,
            cursor: Some(0),
            seen: HashSet::new(),
        }
    }

    /// The next page of sessions (possibly empty: a page of keys that were not sessions);
    /// `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SessionRow>>> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let (next, page) = self.sessions.walk(cursor).await?;
        self.cursor = (next != 0).then_some(next);
        let page: Vec<(Uuid, Listed)> = page
            .into_iter()
            .filter(|(_, s)| self.seen.insert(s.hash))
            .collect();
        let mut ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let emails: HashMap<Uuid, Option<String>> = accounts::users_by_ids(self.db, &ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        Ok(Some(
            page.iter()
                .map(|(user_id, s)| {
                    let email = emails.get(user_id).cloned().flatten();
                    SessionRow::new(*user_id, email, s)
                })
                .collect(),
        ))
    }
}

/// Parses a public session id as `sessions list` prints it.
pub fn parse_session_id(raw: &str) -> Result<PublicId> {
    PublicId::parse(&raw.trim().to_ascii_lowercase())
        .ok_or_else(|| AdminError::BadSessionId(raw.to_owned()))
}

/// Revokes the session with this public id: among one user's sessions when `owner` is given,
/// else wherever it is in the deployment (a walk over every session). Returns how many were
/// revoked; no match is [`AdminError::NoSuchSession`].
pub async fn revoke_session(
    sessions: &Sessions,
    id: &PublicId,
    owner: Option<&Owner>,
) -> Result<u64> {
    let revoked = match owner {
        Some(owner) => {
            sessions
                .revoke(owner.id(), &Revoke::ByPublicId(id.clone()))
                .await?
        }
        None => {
            let mut revoked = 0;
            let mut cursor = 0;
            loop {
                let (next, page) = sessions.walk(cursor).await?;
                for (user_id, s) in page.iter().filter(|(_, s)| s.hash.public_id() == *id) {
                    revoked += sessions.revoke(*user_id, &Revoke::One(s.hash)).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            revoked
        }
    };
    if revoked == 0 {
        return Err(AdminError::NoSuchSession(id.to_string()));
    }
    Ok(revoked)
}

/// Revokes every session of one user. For an id no longer in the database it also drops the
/// profile cache: no session of theirs may live on, and it holds their name and email. Returns
/// how many were revoked; none is [`AdminError::UserHasNoSession`].
pub async fn revoke_user(sessions: &Sessions, owner: &Owner) -> Result<u64> {
    let revoked = match owner {
        Owner::User(user) => sessions.revoke(user.id, &Revoke::All).await?,
        Owner::Gone(id) => end_everything(sessions, *id).await?,
    };
    match revoked {
        0 => Err(AdminError::UserHasNoSession(owner.label())),
        revoked => Ok(revoked),
    }
}

/// Revokes every session of the deployment: a walk over all sessions, revoking all of each
/// user's sessions the walk meets (one atomic revoke per user, so a session that user starts
/// while the walk runs is ended too unless it starts after their revoke). Returns how many
/// were revoked; none is [`AdminError::NoSession`].
pub async fn revoke_all(sessions: &Sessions) -> Result<u64> {
    let mut revoked = 0;
    let mut cursor = 0;
    loop {
        let (next, page) = sessions.walk(cursor).await?;
        let mut users: Vec<Uuid> = page.into_iter().map(|(id, _)| id).collect();
        users.sort_unstable();
        users.dedup();
        let counts: Vec<u64> = stream::iter(users)
            .map(|id| async move { sessions.revoke(id, &Revoke::All).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        revoked += counts.iter().sum::<u64>();
        if next == 0 {
            return match revoked {
                0 => Err(AdminError::NoSession),
                revoked => Ok(revoked),
            };
        }
        cursor = next;
    }
}
