//! The session store: a small trait apart from the HTTP layer, with one implementation per
//! backend (`redis` for production, `memory` for a single development process). Both pass the
//! same test suite (`tests/api/store.rs`).
//!
//! It keeps sessions, the per-user index of them and the profile cache: what signing in and
//! checking a session need. Short-lived values that are not sessions (rate-limit windows,
//! quota counters, login flows) are the [`ScratchStore`](super::ScratchStore)'s, on the same
//! backend.
//!
//! The store knows keys, records and expiry arithmetic; it knows nothing of cookies, tokens or
//! configuration. Times are Unix milliseconds chosen by the caller, so that every replica
//! applies the same rule and tests can move the clock.

use async_trait::async_trait;
use uuid::Uuid;

use super::ended::{Ending, Trace};
use super::token::{PublicId, SessionHash};

/// What the store keeps about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub created_ms: i64,
    pub last_seen_ms: i64,
    /// The absolute expiry: `created + session.absolute_timeout`, never extended.
    pub absolute_expiry_ms: i64,
    pub user_agent: String,
    pub ip: String,
    /// How the client carries the session's token.
    pub transport: Transport,
}

/// How a session's token travels: in the session cookie (cookie mode), or in an
/// `Authorization: Bearer` header (token mode, for extensions without a fixed origin or
/// without cookies). Both are the same kind of session; only listings and the renewal of the
/// cookie tell them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    #[default]
    Cookie,
    Bearer,
}

impl Transport {
    /// The name listings show, and the packed record keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cookie => "cookie",
            Self::Bearer => "bearer",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "cookie" => Some(Self::Cookie),
            "bearer" => Some(Self::Bearer),
            _ => None,
        }
    }
}

impl SessionRecord {
    /// When the session ends if it is not used again.
    pub fn expires_ms(&self, idle_ms: i64) -> i64 {
        (self.last_seen_ms + idle_ms).min(self.absolute_expiry_ms)
    }

    pub fn is_live(&self, now_ms: i64, idle_ms: i64) -> bool {
        now_ms < self.expires_ms(idle_ms)
    }
}

/// The per-user data that every authenticated request needs, cached beside the sessions so
/// that checking a session and answering `/api/user/info` need no SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub email: String,
    pub image: String,
    pub plan: String,
    /// When the current plan ends; `None` for no end. A lapsed paid plan reads as `free`.
    pub plan_until_ms: Option<i64>,
    pub has_subscription: bool,
}

impl Profile {
    pub const FREE: &'static str = "free";

    /// The plan in force at `now_ms`: a plan whose end has passed falls back to `free`, with no
    /// event needed.
    pub fn effective_plan(&self, now_ms: i64) -> &str {
        match self.plan_until_ms {
            Some(until) if until <= now_ms => Self::FREE,
            _ => &self.plan,
        }
    }
}

/// A session being created.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: Uuid,
    pub hash: SessionHash,
    pub record: SessionRecord,
    /// The idle timeout the first expiry is computed with.
    pub idle_ms: i64,
    pub profile: Profile,
    /// How long the profile cache must live: at least as long as this session can.
    pub profile_expiry_ms: i64,
    /// The most sessions the user may have, this one included: creating it ends the user's
    /// oldest sessions beyond that number.
    pub max_per_user: u32,
}

/// What [`SessionStore::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The session is stored. These sessions of the same user, the oldest, were ended to keep
    /// the user within [`NewSession::max_per_user`].
    Stored { evicted: Vec<SessionHash> },
    /// A session with this hash exists already; nothing was written.
    Exists,
}

impl Created {
    pub fn stored(&self) -> bool {
        matches!(self, Self::Stored { .. })
    }
}

/// What the hot path reads in one round trip.
#[derive(Debug, Clone)]
pub struct Touched {
    pub record: SessionRecord,
    pub profile: Profile,
    /// The usage counter named by [`TouchParams::counter`] (0 when absent).
    pub counter: u64,
}

/// The hot path's inputs.
#[derive(Debug, Clone, Copy)]
pub struct TouchParams<'a> {
    pub now_ms: i64,
    pub idle_ms: i64,
    /// `last_seen` is written back only when it is older than this, so a busy session does not
    /// cost a write per request.
    pub refresh_after_ms: i64,
    /// The name of a per-user counter read with the session (today's usage).
    pub counter: &'a str,
}

/// Which of a user's sessions to revoke.
#[derive(Debug, Clone)]
pub enum Revoke {
    One(SessionHash),
    ByPublicId(PublicId),
    All,
    AllExcept(SessionHash),
}

/// One page of a walk over every session in the store (see [`SessionStore::scan`]).
#[derive(Debug, Clone, Default)]
pub struct ScanPage {
    /// Where the next page starts; 0 when the walk is over.
    pub cursor: u64,
    /// Live sessions with their user. A session may appear on two pages of one walk (Redis
    /// `SCAN` guarantees every key present for the whole walk at least once, not once).
    pub sessions: Vec<(Uuid, SessionHash, SessionRecord)>,
}

/// One page of [`SessionStore::reindex`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reindexed {
    /// Where the next page starts; 0 when the walk is over.
    pub cursor: u64,
    /// How many index entries this page moved from a profile back into the user's index.
    pub moved: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer in time or refused the connection.
    #[error("the session store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The backend answered with something this version cannot read.
    #[error("the session store returned malformed data: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session, its index entry and the user's profile atomically, ending the
    /// user's oldest live sessions beyond [`NewSession::max_per_user`] in the same step and
    /// remembering them as [`Ending::Evicted`]. A session with this hash that exists already
    /// is never overwritten ([`Created::Exists`]).
    ///
    /// The work is bounded by the cap, not by how many sessions the user ever had: the index
    /// never holds more than the cap after a create.
    async fn create(&self, new: &NewSession) -> Result<Created, StoreError>;

    /// Loads a live session with its user's profile and counter, sliding the idle expiry.
    /// `None` when the session does not exist, has expired, or its user has no profile.
    async fn touch(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        params: TouchParams<'_>,
    ) -> Result<Option<Touched>, StoreError>;

    /// The user's live sessions, oldest first. At most the cap of sessions per user, so the
    /// work is bounded by it.
    async fn list(
        &self,
        user_id: Uuid,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<Vec<(SessionHash, SessionRecord)>, StoreError>;

    /// One page of every live session of the deployment, for operators. Start with cursor 0
    /// and pass back the returned cursor until it is 0 again. Each page is a bounded amount
    /// of work for the backend (`count` is a hint of how many keys to look at), so walking a
    /// large deployment never blocks it.
    async fn scan(
        &self,
        cursor: u64,
        count: u32,
        now_ms: i64,
        idle_ms: i64,
    ) -> Result<ScanPage, StoreError>;

    /// One page of a walk over every user's profile that puts the store back in the layout
    /// every release reads: an index entry a profile holds (the Redis store's compact layout,
    /// docs/sessions.md) moves into the user's index. Start with cursor 0 and pass back the
    /// returned cursor until it is 0 again; each page is bounded work (`count` is a hint of
    /// how many keys to look at), and a profile met twice is left as it is the second time.
    /// A store with no such layout has nothing to move.
    async fn reindex(&self, cursor: u64, count: u32) -> Result<Reindexed, StoreError>;

    /// Revokes sessions of one user; returns how many were revoked. Atomic with respect to
    /// concurrent `create`s of the same user.
    async fn revoke(&self, user_id: Uuid, which: &Revoke) -> Result<u64, StoreError>;

    /// [`SessionStore::revoke`] at `now_ms`, remembering why each revoked session ended
    /// (`ending`) for [`REMEMBERED_MS`] from then, atomically with the revocation (see
    /// `session/ended.rs`).
    ///
    /// [`REMEMBERED_MS`]: super::REMEMBERED_MS
    async fn end(
        &self,
        user_id: Uuid,
        which: &Revoke,
        ending: Ending,
        now_ms: i64,
    ) -> Result<u64, StoreError>;

    /// What the store remembers of a session at `now_ms`: that it started (and so, if it is
    /// not live, timed out) or why a hand ended it; `None` for a session it does not know.
    async fn trace(
        &self,
        user_id: Uuid,
        hash: &SessionHash,
        now_ms: i64,
    ) -> Result<Option<Trace>, StoreError>;

    /// Replaces the user's cached profile if it exists (if it does not, the user has no
    /// session and the next login writes it). Returns whether it existed.
    async fn update_profile(&self, user_id: Uuid, profile: &Profile) -> Result<bool, StoreError>;

    /// Removes the user's profile cache, for a user who is disabled or erased.
    async fn delete_profile(&self, user_id: Uuid) -> Result<(), StoreError>;

    /// Answers when the backend does: whether sessions can be served. It is here, not on
    /// [`ScratchStore`](super::ScratchStore), because signed-in users are what readiness is
    /// about, and because both stores keep scratch values on the same connection, so this
    /// check answers for them too.
    async fn ping(&self) -> Result<(), StoreError>;
}
