//! `audit.retention`: events older than it are deleted, by every replica, in the background.
//!
//! Each replica prunes at start and then every [`prune_interval`]. The deletion is one
//! idempotent `DELETE … WHERE at < now - retention`: replicas running it at the same moment
//! delete each row once between them, and a replica that fails (no database) tries again at
//! its next turn. No lock is needed, so none can be left behind by a replica that dies.

use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::accounts::events;

/// How often to prune with `retention`: a tenth of it, between a second and an hour, so that
/// no event outlives the retention by more than a tenth of it.
pub fn prune_interval(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Prunes now and every [`prune_interval`] for as long as the runtime runs.
pub async fn prune_every(db: DatabaseConnection, retention: Duration) {
    let interval = prune_interval(retention);
    loop {
        let cutoff = chrono::Duration::from_std(retention)
            .ok()
            .and_then(|r| Utc::now().checked_sub_signed(r));
        if let Some(cutoff) = cutoff {
            match events::prune(&db, cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "security events past audit.retention pruned"),
                Err(e) => tracing::warn!(error = %e, "could not prune security events"),
            }
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_a_tenth_of_the_retention_within_bounds() {
        assert_eq!(
            prune_interval(Duration::from_secs(90 * 86400)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            prune_interval(Duration::from_secs(60)),
            Duration::from_secs(6)
        );
        assert_eq!(
            prune_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
    }
}
