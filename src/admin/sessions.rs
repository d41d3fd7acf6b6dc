//! Sessions as the operator sees them: listing one user's or the whole deployment's, and
//! revoking one, a user's, or all of them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use uuid::Uuid;

use super::{record, time, AdminError, Owner, Result, CONCURRENCY};
use crate::accounts;
use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::session::{Ending, Listed, PublicId, Revoke, SessionHash, Sessions, StoreError};

/// A session as the operator sees it. The id is public: it cannot be turned into a cookie.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub id: PublicId,
    pub user_id: Uuid,
    /// `None` when the user has no email or no longer exists in the database.
    pub email: Option<String>,
    #[serde(serialize_with = "super::seconds::one")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::seconds::one")]
    pub last_seen_at: DateTime<Utc>,
    #[serde(serialize_with = "super::seconds::one")]
    pub expires_at: DateTime<Utc>,
    pub user_agent: String,
    /// A short name read from the user agent ("Firefox 153 on Linux"), for tables.
    pub device: String,
    pub ip: String,
    /// `cookie` or `bearer`: how the client carries the session.
    pub transport: &'static str,
}

impl SessionRow {
    fn new(user_id: Uuid, email: Option<String>, s: &Listed) -> Self {
        Self {
            id: s.hash.public_id(),
            user_id,
            email,
            created_at: time(s.record.created_ms),
            last_seen_at: time(s.record.last_seen_ms),
            expires_at: time(s.expires_ms),
            user_agent: s.record.user_agent.clone(),
            device: crate::device::name(&s.record.user_agent),
            ip: s.record.ip.clone(),
            transport: s.record.transport.as_str(),
        }
    }
}

/// The live sessions of one user, oldest first. An id no longer in the database with no
/// session either names nothing: [`AdminError::NothingLeft`].
pub async fn user_sessions(sessions: &Sessions, owner: &Owner) -> Result<Vec<SessionRow>> {
    let (id, email) = (owner.id(), owner.email());
    let listed = sessions.list(id).await?;
    if listed.is_empty() && matches!(owner, Owner::Gone(_)) {
        return Err(AdminError::NothingLeft(id));
    }
    Ok(listed
        .iter()
        .map(|s| SessionRow::new(id, email.clone(), s))
        .collect())
}

/// The one walk over every live session of the deployment: a `SCAN` page of the store at a
/// time (never `KEYS`), so that walking a large deployment does not hold Redis up. A session
/// may come twice (`SCAN` may return a key twice); [`SessionWalk`] drops the repeats, and a
/// revocation does not mind them (revoking it again revokes nothing).
struct Scan<'a> {
    sessions: &'a Sessions,
    /// `None` once the walk is over.
    cursor: Option<u64>,
}

impl<'a> Scan<'a> {
    fn new(sessions: &'a Sessions) -> Self {
        Self {
            sessions,
            cursor: Some(0),
        }
    }

    /// The next page (possibly empty: a page of keys that were not sessions); `None` after
    /// the last.
    async fn next_page(&mut self) -> Result<Option<Vec<(Uuid, Listed)>>, StoreError> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let (next, page) = self.sessions.walk(cursor).await?;
        self.cursor = (next != 0).then_some(next);
        Ok(Some(page))
    }
}

/// A walk over every live session of the deployment, a page at a time: one `SCAN` page from
/// the store and one SQL query for the emails of that page's users.
pub struct SessionWalk<'a> {
    db: &'a DatabaseConnection,
    scan: Scan<'a>,
    /// `SCAN` may return a key twice; each session is given once.
    seen: HashSet<SessionHash>,
}

impl<'a> SessionWalk<'a> {
    pub fn new(db: &'a DatabaseConnection, sessions: &'a Sessions) -> Self {
        Self {
            db,
            scan: Scan::new(sessions),
            seen: HashSet::new(),
        }
    }

    /// The next page of sessions (possibly empty: a page of keys that were not sessions);
    /// `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SessionRow>>> {
        let Some(page) = self.scan.next_page().await? else {
            return Ok(None);
        };
        let page: Vec<(Uuid, Listed)> = page
            .into_iter()
            .filter(|(_, s)| self.seen.insert(s.hash))
            .collect();
        let mut ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let emails: HashMap<Uuid, Option<String>> = accounts::users_by_ids(self.db, &ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        Ok(Some(
            page.iter()
                .map(|(user_id, s)| {
                    let email = emails.get(user_id).cloned().flatten();
                    SessionRow::new(*user_id, email, s)
                })
                .collect(),
        ))
    }
}

/// Parses a public session id as `sessions list` prints it.
pub fn parse_session_id(raw: &str) -> Result<PublicId> {
    PublicId::parse(&raw.trim().to_ascii_lowercase())
        .ok_or_else(|| AdminError::BadSessionId(raw.to_owned()))
}

/// Revokes the session with this public id: among one user's sessions when `owner` is given,
/// else wherever it is in the deployment (a walk over every session). Returns how many were
/// revoked; no match is [`AdminError::NoSuchSession`]. Records `session_revoked`
/// (`revoked_by_operator`) for it.
pub async fn revoke_session(
    db: &DatabaseConnection,
    sessions: &Sessions,
    id: &PublicId,
    owner: Option<&Owner>,
) -> Result<u64> {
    let mut owners = Vec::new();
    match owner {
        Some(owner) => {
            let n = sessions
                .end(
                    owner.id(),
                    &Revoke::ByPublicId(id.clone()),
                    Ending::RevokedByOperator,
                )
                .await?;
            owners.extend(std::iter::repeat_n(owner.id(), n as usize));
        }
        None => {
            let mut scan = Scan::new(sessions);
            while let Some(page) = scan.next_page().await? {
                for (user_id, s) in page.iter().filter(|(_, s)| s.hash.public_id() == *id) {
                    let n = sessions
                        .end(*user_id, &Revoke::One(s.hash), Ending::RevokedByOperator)
                        .await?;
                    owners.extend(std::iter::repeat_n(*user_id, n as usize));
                }
            }
        }
    };
    if owners.is_empty() {
        return Err(AdminError::NoSuchSession(id.to_string()));
    }
    let events: Vec<SecurityEvent> = owners
        .iter()
        .map(|user_id| {
            SecurityEvent::new(Kind::SessionRevoked, Actor::Operator)
                .user(*user_id)
                .session(id)
                .reason("revoked_by_operator")
        })
        .collect();
    record(db, &events).await;
    Ok(owners.len() as u64)
}

/// Revokes every session of one user. For an id no longer in the database it also drops the
/// profile cache: no session of theirs may live on, and it holds their name and email. Returns
/// how many were revoked; none is [`AdminError::UserHasNoSession`].
pub async fn revoke_user(
    db: &DatabaseConnection,
    sessions: &Sessions,
    owner: &Owner,
) -> Result<u64> {
    let revoked = match owner {
        Owner::User(user) => {
            sessions
                .end(user.id, &Revoke::All, Ending::RevokedByOperator)
                .await?
        }
        Owner::Gone(id) => sessions.end_all(*id).await?,
    };
    match revoked {
        0 => Err(AdminError::UserHasNoSession(owner.label())),
        revoked => {
            record(db, &[revoked_by_operator(owner.id(), revoked, "operator")]).await;
            Ok(revoked)
        }
    }
}

/// `sessions_revoked` for `count` sessions of a user ended by an operator's command (`by`:
/// `operator`, or `disable`).
pub(super) fn revoked_by_operator(user_id: Uuid, count: u64, by: &str) -> SecurityEvent {
    SecurityEvent::new(Kind::SessionsRevoked, Actor::Operator)
        .user(user_id)
        .reason("revoked_by_operator")
        .detail("by", by)
        .detail("count", count)
}

/// Revokes every session of the deployment: a walk over all sessions, revoking all of each
/// user's sessions the walk meets (one atomic revoke per user, so a session that user starts
/// while the walk runs is ended too unless it starts after their revoke). Returns how many
/// were revoked; none is [`AdminError::NoSession`].
pub async fn revoke_all(db: &DatabaseConnection, sessions: &Sessions) -> Result<u64> {
    let mut revoked = 0;
    let mut scan = Scan::new(sessions);
    while let Some(page) = scan.next_page().await? {
        let mut users: Vec<Uuid> = page.into_iter().map(|(id, _)| id).collect();
        users.sort_unstable();
        users.dedup();
        let counts: Vec<(Uuid, u64)> = stream::iter(users)
            .map(|id| async move {
                sessions
                    .end(id, &Revoke::All, Ending::RevokedByOperator)
                    .await
                    .map(|n| (id, n))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        revoked += counts.iter().map(|(_, n)| n).sum::<u64>();
        let events: Vec<SecurityEvent> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(id, n)| revoked_by_operator(*id, *n, "operator"))
            .collect();
        record(db, &events).await;
    }
    match revoked {
        0 => Err(AdminError::NoSession),
        revoked => Ok(revoked),
    }
}

/// Puts every user back in the indexed layout (docs/sessions.md, "Compact layout"): a walk
/// over every profile, moving an index entry a profile holds into the user's index, so that
/// a release that reads only the index may run. Returns how many entries moved; 0 is not an
/// error (nothing held one, or a walk already moved them).
pub async fn reindex(sessions: &Sessions) -> Result<u64> {
    let mut moved = 0;
    let mut cursor = 0;
    loop {
        let page = sessions.reindex(cursor).await?;
        moved += page.moved;
        cursor = page.cursor;
        if cursor == 0 {
            return Ok(moved);
        }
    }
}
