//! Users and identities in SQL (contract §6): finding or creating the user behind a provider
//! identity, and the profile that the session store caches for the hot path.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use entity::{identities, subscriptions, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use crate::auth::Identity;
use crate::session::Profile;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the account is disabled")]
    Disabled,
    #[error("database error")]
    Db(#[from] DbErr),
}

/// Subscription statuses that make a user `pro` while their period lasts.
const ACTIVE_STATUSES: &[&str] = &["active", "trialing"];

/// Finds the user behind `identity`, or creates one, in one transaction:
///
/// 1. the identity (provider, subject) is known: its user, with name, email and picture
///    refreshed from the provider;
/// 2. else, the provider asserts a verified email that an existing user has, verified: the
///    identity joins that user (an unverified email never joins two accounts);
/// 3. else a new user.
///
/// Two concurrent first logins of the same identity race on the unique (provider, subject)
/// index; the loser's transaction is rolled back and retried, and finds the winner's user, so
/// exactly one user is created.
pub async fn sign_in(
    db: &DatabaseConnection,
    identity: &Identity,
) -> Result<users::Model, AccountError> {
    let mut attempt = 0;
    loop {
        match try_sign_in(db, identity).await {
            Err(AccountError::Db(e)) if attempt < 5 && is_retryable(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// A lost race: a unique violation, or SQLite refusing a second writer.
fn is_retryable(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
        || e.to_string().contains("database is locked")
}

async fn try_sign_in(
    db: &DatabaseConnection,
    identity: &Identity,
) -> Result<users::Model, AccountError> {
    let txn = db.begin().await?;
    let email = identity.email.as_deref().map(normalize_email);
    let now = Utc::now();
    let known = identities::Entity::find()
        .filter(identities::Column::Provider.eq(&identity.provider))
        .filter(identities::Column::Subject.eq(&identity.subject))
        .one(&txn)
        .await?;
    let user = match known {
        Some(row) => {
            let mut active: identities::ActiveModel = row.clone().into();
            active.email = Set(email.clone());
            active.email_verified = Set(identity.email_verified);
            active.updated_at = Set(now);
            active.update(&txn).await?;
            users::Entity::find_by_id(row.user_id)
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("user {}", row.user_id)))?
        }
        None => {
            let user = match linkable_user(&txn, identity, email.as_deref()).await? {
                Some(user) => user,
                None => create_user(&txn, identity, email.as_deref()).await?,
            };
            identities::ActiveModel {
                user_id: Set(user.id),
                provider: Set(identity.provider.clone()),
                subject: Set(identity.subject.clone()),
                email: Set(email.clone()),
                email_verified: Set(identity.email_verified),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            user
        }
    };
    if user.disabled_at.is_some() {
        return Err(AccountError::Disabled);
    }
    let user = refresh_user(&txn, user, identity, email).await?;
    txn.commit().await?;
    Ok(user)
}

/// An existing user this identity may join: both sides' email verified and equal.
async fn linkable_user<C: ConnectionTrait>(
    db: &C,
    identity: &Identity,
    email: Option<&str>,
) -> Result<Option<users::Model>, DbErr> {
    let Some(email) = email.filter(|_| identity.email_verified) else {
        return Ok(None);
    };
    users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .filter(users::Column::EmailVerified.eq(true))
        .order_by_asc(users::Column::CreatedAt)
        .one(db)
        .await
}

async fn create_user<C: ConnectionTrait>(
    db: &C,
    identity: &Identity,
    email: Option<&str>,
) -> Result<users::Model, DbErr> {
    let now = Utc::now();
    users::ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(email.map(str::to_owned)),
        email_verified: Set(identity.email_verified),
        name: Set(identity.name.clone()),
        image: Set(identity.picture.clone()),
        plan: Set(Profile::FREE.to_owned()),
        plan_until: Set(None),
        stripe_customer_id: Set(None),
        disabled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// Name, email and picture follow the provider at each login (contract §6). A verified email
/// is not replaced by an unverified one.
async fn refresh_user<C: ConnectionTrait>(
    db: &C,
    user: users::Model,
    identity: &Identity,
    email: Option<String>,
) -> Result<users::Model, DbErr> {
    let mut active: users::ActiveModel = user.clone().into();
    if identity.name.is_some() {
        active.name = Set(identity.name.clone());
    }
    if identity.picture.is_some() {
        active.image = Set(identity.picture.clone());
    }
    if email.is_some() && (identity.email_verified || !user.email_verified) {
        active.email = Set(email);
        active.email_verified = Set(identity.email_verified);
    }
    active.updated_at = Set(Utc::now());
    active.update(db).await
}

/// Emails compare with ASCII case folded and every other character exact; they are kept so.
/// Unicode lowercasing is not an equivalence of addresses: it turns U+212A KELVIN SIGN into
/// `k` and full-width letters into other full-width letters, so it would join different
/// mailboxes (and so different people) into one account.
fn normalize_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// Records one use of a metered feature (`kind`, e.g. `ocr`) for the user's history; the
/// quota itself is counted in Redis.
pub async fn record_usage<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    kind: &str,
) -> Result<(), DbErr> {
    entity::usage_events::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The profile the session store caches: who the user is and which plan is in force.
///
/// A subscription that is active and whose period has not ended makes the user `pro` until
/// that end (contract §5); otherwise the operator-set plan applies, with its own end.
pub async fn profile<C: ConnectionTrait>(db: &C, user: &users::Model) -> Result<Profile, DbErr> {
    let now = Utc::now();
    let subscription = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user.id))
        .filter(subscriptions::Column::Status.is_in(ACTIVE_STATUSES.iter().copied()))
        .filter(subscriptions::Column::CurrentPeriodEnd.gt(now))
        .filter(Expr::col(subscriptions::Column::CurrentPeriodEnd).is_not_null())
        .order_by_desc(subscriptions::Column::CurrentPeriodEnd)
        .one(db)
        .await?;
    Ok(profile_with(user, subscription.as_ref()))
}

/// [`profile`] for many users with one query: the profile of each user, by id.
pub async fn profiles<C: ConnectionTrait>(
    db: &C,
    users: &[users::Model],
) -> Result<HashMap<Uuid, Profile>, DbErr> {
    let now = Utc::now();
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let mut latest: HashMap<Uuid, subscriptions::Model> = HashMap::new();
    if !ids.is_empty() {
        let active = subscriptions::Entity::find()
            .filter(subscriptions::Column::UserId.is_in(ids))
            .filter(subscriptions::Column::Status.is_in(ACTIVE_STATUSES.iter().copied()))
            .filter(subscriptions::Column::CurrentPeriodEnd.gt(now))
            .filter(Expr::col(subscriptions::Column::CurrentPeriodEnd).is_not_null())
            .order_by_desc(subscriptions::Column::CurrentPeriodEnd)
            .all(db)
            .await?;
        for s in active {
            if let Some(user_id) = s.user_id {
                // Ordered by period end, newest first: the first one of a user wins.
                latest.entry(user_id).or_insert(s);
            }
        }
    }
    Ok(users
        .iter()
        .map(|u| (u.id, profile_with(u, latest.get(&u.id))))
        .collect())
}

/// The profile of `user` given their active subscription with the latest period end, if any.
fn profile_with(user: &users::Model, subscription: Option<&subscriptions::Model>) -> Profile {
    let (plan, plan_until, has_subscription) = match subscription {
        Some(s) => ("pro".to_owned(), s.current_period_end, true),
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

/// The user with this id, if there is one.
pub async fn find_user<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
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
