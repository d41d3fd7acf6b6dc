//! Scratch values: short-lived numbers and strings that are not sessions but live on the same
//! backend, because every replica must see the same ones: rate-limit windows, per-user quota
//! counters (with their holds for calls in progress) and one-time login flows.
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

/// One hold on a per-user counter: the counter's name (`ocr:<day>`) and the hold's own id,
/// unique among the counter's holds (a random one per call).
#[derive(Debug, Clone, Copy)]
pub struct Hold<'a> {
    pub name: &'a str,
    pub id: &'a str,
}

/// What [`ScratchStore::reserve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// A unit is held for this call.
    Held,
    /// The units used reach the limit: nothing comes back before the counter ends.
    UsedUp { used: u64 },
    /// The units used do not reach the limit, but with those held by work still in progress
    /// they do: a unit may come back as soon as one of those fails.
    Busy { used: u64, pending: u64 },
}

#[async_trait]
pub trait ScratchStore: Send + Sync + 'static {
    /// Counts one hit on a shared counter (a rate-limit window) that ends `window_ms` after
    /// its first hit; returns the count including this hit.
    async fn hit(&self, key: &str, now_ms: i64, window_ms: i64) -> Result<u64, StoreError>;

    /// Holds one unit of the user's counter `hold.name` for work in progress, unless the
    /// units used plus those already held would pass `limit` (`None`: no limit). Atomic:
    /// concurrent reservations never pass the limit together.
    ///
    /// A hold is not a use: it ends when [`confirm`](Self::confirm)ed (the unit is then
    /// counted), [`release`](Self::release)d, or `hold_ms` after it was taken, whichever comes
    /// first, so a unit whose work died unanswered (a crash, a shutdown cut short) comes back
    /// by itself. Expired holds are dropped by the same call that counts them.
    async fn reserve(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        limit: Option<u64>,
        now_ms: i64,
        hold_ms: i64,
    ) -> Result<Reserved, StoreError>;

    /// The work the hold was taken for succeeded: the hold ends and the counter counts one
    /// more, even if the hold had expired meanwhile (the work was done). A new counter ends
    /// `ttl_ms` after it is created. Returns the counter's new value.
    ///
    /// The counter sits beside the user's sessions, so that
    /// [`SessionStore::touch`](super::SessionStore::touch) reads today's count with the
    /// session in the same round trip: it counts units used, never units held.
    async fn confirm(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<u64, StoreError>;

    /// The work failed: the hold ends and nothing is counted. Releasing a hold that has
    /// already ended does nothing.
    async fn release(&self, user_id: Uuid, hold: &Hold<'_>) -> Result<(), StoreError>;

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

    /// See [`ScratchStore::reserve`]; the hold ends `hold_ms` from now at the latest.
    pub async fn reserve(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        limit: Option<u64>,
        hold_ms: i64,
    ) -> Result<Reserved, StoreError> {
        let now = super::now_ms();
        self.store.reserve(user_id, hold, limit, now, hold_ms).await
    }

    /// See [`ScratchStore::confirm`]; a new counter lives `ttl_ms` from now.
    pub async fn confirm(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        ttl_ms: i64,
    ) -> Result<u64, StoreError> {
        self.store
            .confirm(user_id, hold, super::now_ms(), ttl_ms)
            .await
    }

    /// See [`ScratchStore::release`].
    pub async fn release(&self, user_id: Uuid, hold: &Hold<'_>) -> Result<(), StoreError> {
        self.store.release(user_id, hold).await
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
