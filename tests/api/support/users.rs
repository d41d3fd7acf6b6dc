//! Users as a login leaves them: the profile a session carries, and the SQL row.
//!
//! [`free_user`] is the one user row the tests insert (the migration tests, which check the
//! schema's own defaults, write theirs by hand on purpose).

use entity::users;
use latchkey::session::Profile;
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use uuid::Uuid;

use super::app::TestApp;
use super::browser::Browser;

/// The profile of `name` on `plan`, with the address `<name>@example.com` (lower case).
pub fn profile(name: &str, plan: &str) -> Profile {
    Profile {
        name: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
        image: format!("https://img.example.com/{name}.png"),
        plan: plan.into(),
        plan_until_ms: None,
        has_subscription: false,
    }
}

/// A free user's row as a first login would leave it: a new id, verified `email`, `name`, no
/// picture. Change a field before inserting for anything else.
pub fn free_user(email: &str, name: Option<&str>) -> users::ActiveModel {
    let now = chrono::Utc::now();
    users::ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(Some(email.to_owned())),
        email_verified: Set(true),
        name: Set(name.map(str::to_owned)),
        image: Set(None),
        plan: Set("free".to_owned()),
        plan_until: Set(None),
        stripe_customer_id: Set(None),
        disabled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Inserts [`free_user`] `name` with `email`.
pub async fn insert_free_user(db: &DatabaseConnection, email: &str, name: &str) -> users::Model {
    free_user(email, Some(name))
        .insert(db)
        .await
        .expect("insert user")
}

/// A browser signed in as `user`, with the profile a login builds from SQL.
pub async fn sign_in_user(app: &TestApp, db: &DatabaseConnection, user: &users::Model) -> Browser {
    let profile = latchkey::accounts::profile(db, user)
        .await
        .expect("profile");
    let mut browser = Browser::extension();
    app.sign_in(&mut browser, user.id, profile).await;
    browser
}

/// A token-mode client (no cookies, a random extension origin) holding a bearer session of
/// `user`, with the profile a login builds from SQL.
pub async fn sign_in_user_bearer(
    app: &TestApp,
    db: &DatabaseConnection,
    user: &users::Model,
) -> Browser {
    let profile = latchkey::accounts::profile(db, user)
        .await
        .expect("profile");
    let mut client = Browser {
        origin: Some("moz-extension://5d1c3a0e-2b7f-4e55-9a61-0c8e4f2d7b19".into()),
        ..Browser::default()
    };
    app.sign_in_bearer(&mut client, user.id, profile).await;
    client
}
