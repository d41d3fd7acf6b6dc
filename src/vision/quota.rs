//! The daily quota of vision calls: a per-user counter in the session store for each UTC day,
//! taken before the upstream call and given back when it fails, so that only successful calls
//! count and concurrent calls never pass the limit together; and the usage record in SQL,
//! written off the request's path by the journal, which keeps it until the database answers.

use chrono::{Duration as Days, NaiveDate, Utc};
use uuid::Uuid;

use crate::accounts::UsageRecord;
use crate::audit::Journal;
use crate::plan;
use crate::session::{usage_counter, Scratch, StoreError};

/// A day's counter outlives its day by one, so that a request at midnight still finds it.
const COUNTER_TTL_MS: i64 = 2 * 24 * 3600 * 1000;

/// The quota, for one request.
pub struct Quota<'a> {
    pub scratch: &'a Scratch,
    /// Where the usage record goes.
    pub journal: &'a Journal,
    /// `plans.free.daily_ocr_limit`.
    pub free_limit: u32,
}

/// One unit of a user's quota for today, taken and not yet used or given back.
#[must_use = "a unit is either used or given back"]
pub struct Unit {
    user_id: Uuid,
    counter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// Today's quota is used up; it renews at the next UTC midnight.
    #[error("the daily quota of {limit} is used up")]
    Exceeded { limit: u64, retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Quota<'_> {
    /// Takes one unit of today's quota of a user on `plan`.
    pub async fn take(&self, user_id: Uuid, plan: &str) -> Result<Unit, QuotaError> {
        let daily = plan::daily_limit(plan, self.free_limit).map(u64::from);
        let counter = usage_counter(today());
        let taken = self
            .scratch
            .reserve(user_id, &counter, daily, COUNTER_TTL_MS)
            .await?;
        match taken {
            Some(_) => Ok(Unit { user_id, counter }),
            None => Err(QuotaError::Exceeded {
                limit: daily.unwrap_or_default(),
                retry_after_secs: seconds_until_next_utc_day(),
            }),
        }
    }

    /// The call the unit was taken for succeeded: it stays counted, and a usage event is
    /// queued for the database (the database is the record, the counter the quota, and a
    /// slow or absent database must neither slow the response nor lose the record).
    pub fn used(&self, unit: Unit) {
        self.journal.usage(UsageRecord {
            user_id: unit.user_id,
            kind: "ocr",
            at: Utc::now(),
        });
    }

    /// The call failed: it does not count against the quota.
    pub async fn give_back(&self, unit: Unit) {
        if let Err(e) = self.scratch.release(unit.user_id, &unit.counter).await {
            tracing::warn!(error = %e, "could not give back a quota unit");
        }
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn seconds_until_next_utc_day() -> i64 {
    let now = Utc::now();
    let tomorrow = (now.date_naive() + Days::days(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    (tomorrow - now).num_seconds().max(1)
}
