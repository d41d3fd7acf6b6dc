//! The login flow between `/auth/{provider}/login` and its callback.
//!
//! The flow is stored under its `state` (256 random bits, single use, 10 minutes) and holds
//! what the callback must check: the provider it was started for (a callback on another
//! provider's route finds no flow: mix-up), the PKCE verifier, the OIDC nonce, and the hash of
//! the binding cookie set in the browser that started it (a code carried into another browser
//! finds no matching binding: code injection).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::token_mode::TokenFlow;
use crate::session::{is_well_formed_secret, now_ms, random_secret, Scratch, StoreError};

/// How long a started login may take.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

/// The cookie binding a flow to the browser that started it (its attributes are the cookie
/// policy's).
pub use crate::http::cookies::BINDING_COOKIE;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub provider: String,
    pub pkce_verifier: String,
    pub nonce: String,
    /// SHA-256 (hex) of the binding cookie's value; empty in token mode, where the PKCE
    /// challenge binds the flow instead.
    pub binding: String,
    pub created_ms: i64,
    /// Token mode's values: where the code goes and the challenge it is bound to. `None`
    /// for cookie mode (and for flows stored before token mode existed).
    #[serde(default)]
    pub token: Option<TokenFlow>,
}

impl Flow {
    pub fn new(provider: &str, pkce_verifier: String, binding_cookie: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            pkce_verifier,
            nonce: random_secret(),
            binding: hash(binding_cookie),
            created_ms: now_ms(),
            token: None,
        }
    }

    /// A token-mode flow: no binding cookie; `token` carries the extension's challenge.
    pub fn for_token(provider: &str, pkce_verifier: String, token: TokenFlow) -> Self {
        Self {
            provider: provider.to_owned(),
            pkce_verifier,
            nonce: random_secret(),
            binding: String::new(),
            created_ms: now_ms(),
            token: Some(token),
        }
    }

    /// Whether this browser's binding cookie is the one the flow was started with.
    pub fn is_bound_to(&self, binding_cookie: &str) -> bool {
        !self.binding.is_empty()
            && bool::from(
                hash(binding_cookie)
                    .as_bytes()
                    .ct_eq(self.binding.as_bytes()),
            )
    }
}

fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The store key of a flow: derived from `state`, so the key alone does not reveal it.
fn key(state: &str) -> String {
    format!("flow:{}", hash(state))
}

/// A new `state` value: 256 bits, URL-safe.
pub fn new_state() -> String {
    random_secret()
}

pub async fn save(scratch: &Scratch, state: &str, flow: &Flow) -> Result<(), StoreError> {
    let value = serde_json::to_string(flow)
        .map_err(|e| StoreError::Malformed(format!("login flow: {e}")))?;
    scratch.stash(&key(state), &value, FLOW_TTL_MS).await
}

/// Takes the flow of `state` out of the store: it can be used once.
pub async fn take(scratch: &Scratch, state: &str) -> Result<Option<Flow>, StoreError> {
    // A value of another shape than ours is refused before the store is asked.
    if !is_well_formed_secret(state) {
        return Ok(None);
    }
    let Some(value) = scratch.take(&key(state)).await? else {
        return Ok(None);
    };
    let flow: Flow = serde_json::from_str(&value)
        .map_err(|e| StoreError::Malformed(format!("login flow: {e}")))?;
    Ok((now_ms() - flow.created_ms < FLOW_TTL_MS).then_some(flow))
}
