//! Exchanging a one-time code for a session: the use case behind `POST /auth/token`, apart
//! from HTTP.
//!
//! The code is taken first (spent whatever follows, so a wrong verifier cannot be retried),
//! then the PKCE proof is checked, then the user is read again: a user disabled or erased
//! since the callback gets no session. The session starts with transport `bearer`, and the
//! user is read once more after it exists, as in cookie mode ([`super::settle`]), so that an
//! operator's `users disable` racing with the exchange leaves no session alive.

use crate::accounts;
use crate::auth::code;
use crate::auth::token_mode;
use crate::session::{ClientInfo, Started, Transport};

use super::{settle, Deps, Refusal};

/// Why an exchange gave no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeRefusal {
    /// Unknown, expired or used code, or a verifier that is not the challenge's.
    InvalidGrant,
    /// The verifier is not RFC 7636's shape (the code is spent all the same).
    MalformedVerifier,
    /// The user was disabled or erased since the callback.
    AccountDisabled,
    StoreUnavailable,
    DatabaseUnavailable,
}

impl From<Refusal> for ExchangeRefusal {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::AccountDisabled => Self::AccountDisabled,
            Refusal::StoreUnavailable => Self::StoreUnavailable,
            _ => Self::DatabaseUnavailable,
        }
    }
}

/// A session started from a code: the token goes into the answer, once.
pub struct Exchanged {
    pub user_id: uuid::Uuid,
    pub started: Started,
}

/// Exchanges `code` with the PKCE `verifier` for a session of `client`, the caller.
pub async fn exchange(
    deps: &Deps<'_>,
    code: &str,
    verifier: &str,
    client: &ClientInfo,
) -> Result<Exchanged, ExchangeRefusal> {
    let grant = code::take(deps.scratch, code)
        .await
        .map_err(|_| ExchangeRefusal::StoreUnavailable)?
        .ok_or(ExchangeRefusal::InvalidGrant)?;
    if !token_mode::is_verifier(verifier) {
        return Err(ExchangeRefusal::MalformedVerifier);
    }
    if !token_mode::verifies(verifier, &grant.code_challenge) {
        return Err(ExchangeRefusal::InvalidGrant);
    }
    let user = accounts::users::find_by_id(deps.db, grant.user_id)
        .await
        .map_err(|_| ExchangeRefusal::DatabaseUnavailable)?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(ExchangeRefusal::AccountDisabled)?;
    let profile = accounts::profile(deps.db, &user)
        .await
        .map_err(|_| ExchangeRefusal::DatabaseUnavailable)?;
    let started = deps
        .sessions
        .start(user.id, profile.clone(), client, Transport::Bearer)
        .await
        .map_err(|_| ExchangeRefusal::StoreUnavailable)?;
    settle(deps, user.id, &profile).await?;
    super::events::session_started(
        deps.journal,
        user.id,
        &started,
        client,
        &grant.provider,
        &grant.joined,
        Transport::Bearer,
    );
    Ok(Exchanged {
        user_id: user.id,
        started,
    })
}
