//! Users and everything that hangs off them in SQL (docs/api.md, "Identities and linking"): the one owner of the
//! queries about users, their provider identities, the profile that the session store caches
//! for the hot path, and their usage history. Callers (the login callback, billing, the
//! operator's `admin` service) never build a query of their own about a user; they call a
//! function here, each taking the connection (or a transaction) and answering `DbErr`, as
//! sea-orm's `Query` and `Mutation` services do.
//!
//! - [`identities`]: finding or creating the user behind a provider identity (login);
//! - [`users`]: finding, listing, changing and erasing users;
//! - [`profiles`]: the cached profile, and [`publish`], the one way to push it to the cache
//!   after a change in SQL;
//! - [`plans`]: the plans table;
//! - [`usage`]: usage events;
//! - [`events`]: security events.

use sea_orm::DbErr;

pub mod events;
pub mod identities;
pub mod plans;
pub mod profiles;
pub mod usage;
pub mod users;

pub use identities::{identities_of, sign_in, sign_in_joined, Joined};
pub use profiles::{profile, profiles, publish, publish_if_changed, PublishError, Published};
pub use usage::{record_usage, record_usages, UsageRecord};
pub use users::{find_users, users_by_ids, UserRef};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the account is disabled")]
    Disabled,
    #[error("database error")]
    Db(#[from] DbErr),
}

impl crate::db::SqlFailure for AccountError {
    fn db_err(&self) -> Option<&DbErr> {
        match self {
            Self::Db(e) => Some(e),
            Self::Disabled => None,
        }
    }
}

/// Emails compare with ASCII case folded and every other character exact; they are kept so.
/// Unicode lowercasing is not an equivalence of addresses: it turns U+212A KELVIN SIGN into
/// `k` and full-width letters into other full-width letters, so it would join different
/// mailboxes (and so different people) into one account. For the same reason only ASCII
/// white space is trimmed: `str::trim` also takes U+3000, U+00A0 or U+0085 off, which would
/// make `ken@example.com\u{3000}` Ken's address.
fn normalize_email(email: &str) -> String {
    email
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase()
}
