//! Provider identities: the user behind one at login, and the identities of a user.

use chrono::Utc;
use entity::{identities, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    ModelTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{normalize_email, AccountError};
use crate::auth::Identity;
use crate::db;
use crate::plan;

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
    sign_in_joined(db, identity).await.map(|(user, _)| user)
}

/// How a sign-in found its user, for the `login` security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The identity was known.
    Known,
    /// A new identity joined an existing user by their verified email.
    Linked,
    /// A new user.
    New,
}

impl Joined {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Known => "known",
            Self::Linked => "linked",
            Self::New => "new",
        }
    }
}

/// [`sign_in`], also telling how the user was found.
pub async fn sign_in_joined(
    db: &DatabaseConnection,
    identity: &Identity,
) -> Result<(users::Model, Joined), AccountError> {
    db::retry_on_conflict(|| try_sign_in(db, identity)).await
}

async fn try_sign_in(
    db: &DatabaseConnection,
    identity: &Identity,
) -> Result<(users::Model, Joined), AccountError> {
    let txn = db.begin().await?;
    let email = identity.email.as_deref().map(normalize_email);
    let now = Utc::now();
    let known = identities::Entity::find()
        .filter(identities::Column::Provider.eq(&identity.provider))
        .filter(identities::Column::Subject.eq(&identity.subject))
        .one(&txn)
        .await?;
    let (user, joined) = match known {
        Some(row) => {
            let mut active: identities::ActiveModel = row.clone().into();
            active.email = Set(email.clone());
            active.email_verified = Set(identity.email_verified);
            active.updated_at = Set(now);
            active.update(&txn).await?;
            let user = users::Entity::find_by_id(row.user_id)
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("user {}", row.user_id)))?;
            (user, Joined::Known)
        }
        None => {
            let (user, joined) = match linkable_user(&txn, identity, email.as_deref()).await? {
                Some(user) => (user, Joined::Linked),
                None => (
                    create_user(&txn, identity, email.as_deref()).await?,
                    Joined::New,
                ),
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
            (user, joined)
        }
    };
    if user.disabled_at.is_some() {
        return Err(AccountError::Disabled);
    }
    let user = refresh_user(&txn, user, identity, email).await?;
    txn.commit().await?;
    Ok((user, joined))
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
        plan: Set(plan::FREE.to_owned()),
        plan_until: Set(None),
        stripe_customer_id: Set(None),
        disabled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// Name, email and picture follow the provider at each login (docs/api.md, "Identities and linking"). A verified email
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

/// The provider identities of a user, oldest first.
pub async fn identities_of<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
) -> Result<Vec<identities::Model>, DbErr> {
    user.find_related(identities::Entity)
        .order_by_asc(identities::Column::CreatedAt)
        .all(db)
        .await
}
