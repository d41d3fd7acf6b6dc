//! The one-time code of token mode: what the callback hands the extension in place of a
//! session, to be exchanged once, within a minute, with the PKCE verifier at
//! `POST /auth/token`.
//!
//! The code is 256 bits from the OS's CSPRNG. The store keeps only its SHA-256 as the key,
//! so a copy of Redis yields no usable code; taking it is atomic (`GETDEL`), so of two
//! exchanges one at most finds it, and a failed exchange spends it too. The grant records
//! its creation time and is refused past [`CODE_TTL_MS`] whatever the store's own expiry
//! says, like a login flow.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::session::{is_well_formed_secret, now_ms, random_secret, Scratch, StoreError};

/// How long a code may wait for its exchange.
pub const CODE_TTL_MS: i64 = 60 * 1000;

/// What a code stands for: the user, and the flow's PKCE challenge and redirect URI. Not the
/// browser that finished the sign-in: the session records the client that exchanges the
/// code, the one that will hold the token, so a session someone else obtained shows their
/// address in the user's list, not the user's own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: Uuid,
    pub code_challenge: String,
    pub redirect_uri: String,
    pub created_ms: i64,
    /// The provider the user signed in with, and how their user was found (`known`,
    /// `linked`, `new`): for the `login` security event of the exchange.
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub joined: String,
}

/// The store key of a code: its SHA-256, never the code.
fn key(code: &str) -> String {
    format!("code:{}", hex::encode(Sha256::digest(code.as_bytes())))
}

/// Draws a new code for `grant` and stores it; the code itself goes to the extension only.
pub async fn issue(scratch: &Scratch, grant: &Grant) -> Result<String, StoreError> {
    let code = random_secret();
    save(scratch, &code, grant).await?;
    Ok(code)
}

/// Stores `grant` under `code` (also for tests, which write aged grants).
pub async fn save(scratch: &Scratch, code: &str, grant: &Grant) -> Result<(), StoreError> {
    let value =
        serde_json::to_string(grant).map_err(|e| StoreError::Malformed(format!("code: {e}")))?;
    scratch.stash(&key(code), &value, CODE_TTL_MS).await
}

/// Takes the grant of `code` out of the store: used once, whatever the exchange then finds.
pub async fn take(scratch: &Scratch, code: &str) -> Result<Option<Grant>, StoreError> {
    // A value of another shape than ours is refused before the store is asked.
    if !is_well_formed_secret(code) {
        return Ok(None);
    }
    let Some(value) = scratch.take(&key(code)).await? else {
        return Ok(None);
    };
    let grant: Grant =
        serde_json::from_str(&value).map_err(|e| StoreError::Malformed(format!("code: {e}")))?;
    Ok((now_ms() - grant.created_ms < CODE_TTL_MS).then_some(grant))
}
