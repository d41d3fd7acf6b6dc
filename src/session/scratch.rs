//! Scratch values: short-lived numbers and strings that are not sessions but live on the same
//! backend, because every replica must see the same ones: rate-limit windows, per-user quota
//! counters and one-time login flows.
//!
//! [`ScratchStore`] is the trait each backend implements beside
//! [`SessionStore`](super::SessionStore) (the same connection serves both); [`Scratch`] is the
//! handle callers use, which reads the clock so that they need not.
//!
//! Times are Unix milliseconds chosen by the caller, as for sessions: a store never reads the
//! clock, and `now_ms` is when the call is made. A value lives `ttl_ms` from then. The Redis
//! store lets Redis count that span from its write (the same moment), so that a skew between
//! the replicas' clocks and Redis's does not shorten or lengthen it; the memory store counts
//! it from `now_ms`, so its tests move the clock instead of sleeping.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::store::StoreError;

#[async_trait]
pub trait ScratchStore: Send + Sync + 'static {
    /// Counts one hit on a shared counter (a rate-limit window) that ends `window_ms` after
    /// its first hit; returns the count including this hit.
    async fn hit(&self, key: &str, now_ms: i64, window_ms: i64) -> Result<u64, StoreError>;

    /// Adds one to the user's counter `name` unless that would pass `limit` (`None`: no
    /// limit). Returns the new value, or `None` when the limit is reached and nothing was
    /// taken. Atomic: concurrent reservations never pass the limit together. A new counter
    /// ends `ttl_ms` after it is created.
    ///
    /// The counter sits beside the user's sessions, so that
    /// [`SessionStore::touch`](super::SessionStore::touch) reads today's count with the
    /// session in the same round trip.
    async fn reserve(
        &self,
        user_id: Uuid,
        name: &str,
        limit: Option<u64>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<u64>, StoreError>;

    /// Gives back one unit of a reservation whose work failed; never below zero.
    async fn release(&self, user_id: Uuid, name: &str) -> Result<(), StoreError>;

    /// Keeps a short-lived, single-use value (a login flow under its `state`) for `ttl_ms`.
    async fn stash(
        &self,
        key: &str,
        value: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<(), StoreError>;

    /// Takes a stashed value out atomically: of two concurrent takes, one gets it and the
    /// other `None`, so a replayed `state` finds nothing. A value past its end is `None`.
    async fn take(&self, key: &str, now_ms: i64) -> Result<Option<String>, StoreError>;
}

/// The scratch values of the deployment, for the code that counts, reserves and stashes
/// (rate limits, the vision quota, login flows). A cheap clone.
#[derive(Clone)]
pub struct Scratch {
    store: Arc<dyn ScratchStore>,
}

impl Scratch {
    pub fn new(store: Arc<dyn ScratchStore>) -> Self {
        Self { store }
    }

    /// See [`ScratchStore::hit`]; the window starts now.
    pub async fn hit(&self, key: &str, window_ms: i64) -> Result<u64, StoreError> {
        self.store.hit(key, super::now_ms(), window_ms).await
    }

    /// See [`ScratchStore::reserve`]; a new counter lives `ttl_ms` from now.
    pub async fn reserve(
        &self,
        user_id: Uuid,
        name: &str,
        limit: Option<u64>,
        ttl_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let now = super::now_ms();
        self.store.reserve(user_id, name, limit, now, ttl_ms).await
    }

    /// See [`ScratchStore::release`].
    pub async fn release(&self, user_id: Uuid, name: &str) -> Result<(), StoreError> {
        self.store.release(user_id, name).await
    }

    /// See [`ScratchStore::stash`]; the value lives `ttl_ms` from now.
    pub async fn stash(&self, key: &str, value: &str, ttl_ms: i64) -> Result<(), StoreError> {
        self.store.stash(key, value, super::now_ms(), ttl_ms).await
    }

    /// See [`ScratchStore::take`].
    pub async fn take(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store.take(key, super::now_ms()).await
    }
}
