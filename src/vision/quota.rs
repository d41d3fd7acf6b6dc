//! The daily quota of vision calls: a per-user counter in the session store for each UTC day
//! that counts successful calls, and the usage record in SQL, written off the request's path
//! by the journal, which keeps it until the database answers.
//!
//! A call holds a unit before it asks upstream, so that concurrent calls never pass the limit
//! together; the unit is counted when the call succeeds and given back when it fails. A hold
//! also ends by itself shortly after the longest a call can take (`vision.timeout` plus
//! [`HOLD_MARGIN`]), so a call that dies unanswered (a crash, a shutdown shorter than the
//! call) does not keep its unit. A request refused only because other calls hold the rest of
//! the quota is told so, with a short wait ([`QuotaError::Busy`]), not sent to midnight.

use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use uuid::Uuid;

use crate::accounts::UsageRecord;
use crate::audit::Journal;
use crate::plan;
use crate::session::{usage_counter, Hold, Reserved, Scratch, StoreError};

/// A day's counter outlives its day by one, so that a request at midnight still finds it.
const COUNTER_TTL_MS: i64 = 2 * 24 * 3600 * 1000;

/// How much longer than `vision.timeout` a hold lasts: room for the answer to be counted after
/// the upstream call ends, so that a hold never ends under a call still running.
pub const HOLD_MARGIN: Duration = Duration::from_secs(5);

/// The quota, for one request.
pub struct Quota<'a> {
    pub scratch: &'a Scratch,
    /// Where the usage record goes.
    pub journal: &'a Journal,
    /// `plans.free.daily_ocr_limit`.
    pub free_limit: u32,
    /// `vision.timeout`: the longest a call holds its unit before it is counted or given back.
    pub upstream_timeout: Duration,
}

/// One unit of a user's quota for today, held and not yet used or given back.
#[must_use = "a unit is either used or given back"]
pub struct Unit {
    user_id: Uuid,
    counter: String,
    hold_id: String,
}

impl Unit {
    fn hold(&self) -> Hold<'_> {
        Hold {
            name: &self.counter,
            id: &self.hold_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// Today's quota is used up; it renews at the next UTC midnight.
    #[error("the daily quota of {limit} is used up")]
    Exceeded { limit: u64, retry_after_secs: i64 },
    /// What today's quota has left is held by calls still in progress: a unit comes back as
    /// soon as one of them fails, at the latest after `vision.timeout`.
    #[error("the daily quota of {limit} is held by calls in progress ({used} used, {pending} in progress)")]
    Busy {
        limit: u64,
        used: u64,
        pending: u64,
        retry_after_secs: i64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Quota<'_> {
    /// Holds one unit of today's quota of a user on `plan` for one call.
    pub async fn take(&self, user_id: Uuid, plan: &str) -> Result<Unit, QuotaError> {
        let daily = plan::daily_limit(plan, self.free_limit).map(u64::from);
        let unit = Unit {
            user_id,
            counter: usage_counter(today()),
            hold_id: Uuid::new_v4().simple().to_string(),
        };
        let hold_ms = millis(self.upstream_timeout + HOLD_MARGIN);
        let limit = daily.unwrap_or_default();
        match self
            .scratch
            .reserve(user_id, &unit.hold(), daily, hold_ms)
            .await?
        {
            Reserved::Held => Ok(unit),
            Reserved::UsedUp { .. } => Err(QuotaError::Exceeded {
                limit,
                retry_after_secs: seconds_until_next_utc_day(),
            }),
            Reserved::Busy { used, pending } => Err(QuotaError::Busy {
                limit,
                used,
                pending,
                retry_after_secs: whole_seconds(self.upstream_timeout),
            }),
        }
    }

    /// The call the unit was held for succeeded: it is counted, and a usage event is queued
    /// for the database (the database is the record, the counter the quota, and a slow or
    /// absent database must neither slow the response nor lose the record). If the store
    /// cannot count it, the hold ends by itself and the call is free: the user is not refused
    /// for our failure.
    pub async fn used(&self, unit: Unit) {
        if let Err(e) = self
            .scratch
            .confirm(unit.user_id, &unit.hold(), COUNTER_TTL_MS)
            .await
        {
            tracing::warn!(error = %e, "could not count a used quota unit");
        }
        self.journal.usage(UsageRecord {
            user_id: unit.user_id,
            kind: "ocr",
            at: Utc::now(),
        });
    }

    /// The call failed: it does not count against the quota.
    pub async fn give_back(&self, unit: Unit) {
        if let Err(e) = self.scratch.release(unit.user_id, &unit.hold()).await {
            tracing::warn!(error = %e, "could not give back a quota unit");
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A duration in whole seconds, rounded up, at least 1: a `Retry-After`.
fn whole_seconds(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX).max(1)
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
