//! Scratch values on Redis: rate-limit windows and login flows under `<prefix>x:`, quota
//! counters and their holds in their user's slot (see `keys.rs`).
//!
//! Unlike a session, whose end is an absolute time the caller computed (`PXAT`), each of these
//! lives a span from when Redis writes it (`PX`, `PEXPIRE`): the caller's `now_ms` is that same
//! moment, so nothing is gained by sending it, and Redis's own count keeps a skew between the
//! replicas' clocks and Redis's out of these lifetimes (`docs/deployment.md`, clocks).

use async_trait::async_trait;
use uuid::Uuid;

use super::RedisStore;
use crate::session::scratch::{Hold, Reserved, ScratchStore};
use crate::session::store::StoreError;

#[async_trait]
impl ScratchStore for RedisStore {
    async fn hit(&self, key: &str, _now_ms: i64, window_ms: i64) -> Result<u64, StoreError> {
        let mut call = self.scripts.hit.prepare_invoke();
        call.key(self.keys.scratch(key)).arg(window_ms.max(1));
        let n: i64 = self.invoke(call).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Expired holds are dropped by Redis's clock, like the other lifetimes here.
    async fn reserve(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        limit: Option<u64>,
        _now_ms: i64,
        hold_ms: i64,
    ) -> Result<Reserved, StoreError> {
        let mut call = self.scripts.reserve.prepare_invoke();
        call.key(self.keys.counter(user_id, hold.name))
            .key(self.keys.holds(user_id, hold.name))
            .arg(limit.map(|l| l.to_string()).unwrap_or_default())
            .arg(hold.id)
            .arg(hold_ms.max(1));
        let (outcome, used, held): (i64, i64, i64) = self.invoke(call).await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(match outcome {
            1 => Reserved::Held,
            0 => Reserved::UsedUp { used: count(used) },
            _ => Reserved::Busy {
                used: count(used),
                pending: count(held),
            },
        })
    }

    async fn confirm(
        &self,
        user_id: Uuid,
        hold: &Hold<'_>,
        _now_ms: i64,
        ttl_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut call = self.scripts.confirm.prepare_invoke();
        call.key(self.keys.counter(user_id, hold.name))
            .key(self.keys.holds(user_id, hold.name))
            .arg(hold.id)
            .arg(ttl_ms.max(1));
        let n: i64 = self.invoke(call).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn release(&self, user_id: Uuid, hold: &Hold<'_>) -> Result<(), StoreError> {
        let mut call = self.scripts.release.prepare_invoke();
        call.key(self.keys.holds(user_id, hold.name)).arg(hold.id);
        self.invoke::<i64>(call).await.map(|_| ())
    }

    async fn stash(
        &self,
        key: &str,
        value: &str,
        _now_ms: i64,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let key = self.keys.scratch(key);
        let value = value.to_owned();
        self.connection
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms.max(1))
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    /// Redis has already dropped a value past its end.
    async fn take(&self, key: &str, _now_ms: i64) -> Result<Option<String>, StoreError> {
        let key = self.keys.scratch(key);
        self.connection
            .run(|mut conn| async move { redis::cmd("GETDEL").arg(key).query_async(&mut conn).await })
            .await
    }
}
