//! `latchkey sessions list|revoke|reindex`.

use std::collections::BinaryHeap;
use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::args::{Revocation, SessionsCommand};
use super::confirm::{confirm, Consent};
use super::output::{finish, output, plural, print_json, when, JsonArray};
use super::table::{Column, Layout, Table};
use super::{Failure, Ops};
use crate::admin::{self, SessionRow, SessionWalk};
use crate::session::RedisLayout;

pub(super) async fn run(ops: &Ops, command: SessionsCommand) -> Result<(), Failure> {
    match command {
        SessionsCommand::List {
            user,
            since,
            limit,
            output,
        } => {
            let filter = Filter {
                since,
                limit: limit.limit,
            };
            list(ops, user.as_deref(), filter, output.json).await
        }
        SessionsCommand::Revoke { which, yes, output } => {
            revoke(ops, which, yes, output.json).await
        }
        SessionsCommand::Reindex { output } => reindex(ops, output.json).await,
    }
}

/// `sessions reindex`: every user back in the indexed layout (docs/sessions.md, "Compact
/// layout"). Refused where this configuration writes the compact layout: the replicas that
/// share it would fold the entries back at their users' next login.
async fn reindex(ops: &Ops, json: bool) -> Result<(), Failure> {
    if ops.layout == RedisLayout::Compact {
        return Err(Failure::Usage(anyhow::anyhow!(
            "redis.layout is \"compact\" here, so replicas would fold the entries back: roll \
             every replica to redis.layout = \"indexed\" first, then run this with that setting"
        )));
    }
    let moved = admin::reindex(&ops.sessions).await?;
    if json {
        return print_json(&serde_json::json!({ "moved": moved }));
    }
    finish(writeln!(
        io::stdout().lock(),
        "moved {} from profiles into their users' indexes; every user is in the indexed layout",
        plural(moved, "index entry")
    ))
}

/// What `sessions list` keeps: sessions started at or after `since`, at most `limit`.
#[derive(Debug, Clone, Copy)]
struct Filter {
    since: Option<DateTime<Utc>>,
    limit: Option<u64>,
}

impl Filter {
    fn keeps(&self, row: &SessionRow) -> bool {
        self.since.is_none_or(|since| row.created_at >= since)
    }
}

async fn list(ops: &Ops, user: Option<&str>, filter: Filter, json: bool) -> Result<(), Failure> {
    let mut rows = match user {
        Some(who) => {
            let owner = admin::find_owner(&ops.db, who).await?;
            admin::user_sessions(&ops.sessions, &owner).await?
        }
        None if json => return stream_all_sessions(ops, filter).await,
        None => {
            let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
            let mut rows = Vec::new();
            while let Some(page) = walk.next_page().await? {
                rows.extend(page);
            }
            rows
        }
    };
    rows.sort_by_key(|r| r.created_at);
    rows.retain(|r| filter.keeps(r));
    if let Some(limit) = filter.limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let out = io::stdout().lock();
    if json {
        let mut array = JsonArray::start(io::BufWriter::new(out), "sessions").map_err(output)?;
        for row in rows.drain(..) {
            array.push(&row).map_err(output)?;
        }
        return finish(array.end());
    }
    finish(print_sessions(out, &rows, Layout::of_stdout()))
}

fn print_sessions(mut out: impl Write, rows: &[SessionRow], layout: Layout) -> io::Result<()> {
    if !rows.is_empty() {
        write!(out, "{}", session_table(rows).render(layout))?;
    }
    writeln!(out, "{}", plural(rows.len() as u64, "session"))
}

/// Every session of the deployment as JSON, printed page by page as the walk goes (in the
/// store's order, not sorted: a listing of any size in constant memory). Nothing is printed
/// until the first page is read, so a store that does not answer prints no half document.
/// With `--limit N` the listing is the N oldest, as `--help` says: [`oldest`] keeps them in
/// memory bounded by N while the walk goes on.
async fn stream_all_sessions(ops: &Ops, filter: Filter) -> Result<(), Failure> {
    if let Some(limit) = filter.limit {
        let rows = oldest(ops, filter, limit).await?;
        let out = io::BufWriter::new(io::stdout().lock());
        let mut array = JsonArray::start(out, "sessions").map_err(output)?;
        for row in &rows {
            array.push(row).map_err(output)?;
        }
        return finish(array.end());
    }
    let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
    let mut page = walk.next_page().await?;
    let mut array =
        JsonArray::start(io::BufWriter::new(io::stdout().lock()), "sessions").map_err(output)?;
    while let Some(rows) = page {
        for row in rows.iter().filter(|r| filter.keeps(r)) {
            if let Err(e) = array.push(row) {
                return finish(Err(e));
            }
        }
        page = walk.next_page().await?;
    }
    finish(array.end())
}

/// The `limit` oldest sessions the filter keeps, oldest first, from a walk of them all: a
/// max-heap of at most `limit` rows, whose top (the newest kept) gives way to an older one.
async fn oldest(ops: &Ops, filter: Filter, limit: u64) -> Result<Vec<SessionRow>, Failure> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut kept: BinaryHeap<ByAge> = BinaryHeap::new();
    let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
    while let Some(rows) = walk.next_page().await? {
        for row in rows.into_iter().filter(|r| filter.keeps(r)) {
            kept.push(ByAge(row));
            if kept.len() > limit {
                kept.pop();
            }
        }
    }
    Ok(kept.into_sorted_vec().into_iter().map(|r| r.0).collect())
}

/// A session row ordered by when it started (then by its public id, so that the order is
/// total and the same on every run).
struct ByAge(SessionRow);

impl ByAge {
    fn key(&self) -> (DateTime<Utc>, String) {
        (self.0.created_at, self.0.id.to_string())
    }
}

impl PartialEq for ByAge {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ByAge {}

impl PartialOrd for ByAge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByAge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

async fn revoke(ops: &Ops, which: Revocation, yes: bool, json: bool) -> Result<(), Failure> {
    let revoked = match which {
        Revocation::All => {
            confirm(
                yes,
                "This revokes every session of the deployment and signs every user out",
                "nothing was revoked",
                Consent::AskElseGo,
            )?;
            admin::revoke_all(&ops.db, &ops.sessions).await
        }
        Revocation::One { id, user } => {
            // A user id need not be in the database: an erasure that stopped half-way leaves
            // sessions in Redis whose user no longer has a row.
            let owner = match user {
                Some(who) => Some(admin::find_owner(&ops.db, &who).await?),
                None => None,
            };
            let id = admin::parse_session_id(&id)?;
            admin::revoke_session(&ops.db, &ops.sessions, &id, owner.as_ref()).await
        }
        Revocation::User(who) => {
            let owner = admin::find_owner(&ops.db, &who).await?;
            admin::revoke_user(&ops.db, &ops.sessions, &owner).await
        }
    };
    // The count is printed also when nothing matched, which then exits 1 (docs/operations.md).
    let print = |n: u64| {
        if json {
            print_json(&serde_json::json!({ "revoked": n }))
        } else {
            finish(writeln!(
                io::stdout().lock(),
                "revoked {}",
                plural(n, "session")
            ))
        }
    };
    match revoked {
        Ok(n) => print(n),
        Err(e) if e.nothing_revoked() => {
            print(0)?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Columns by how much they tell: the id, the user and the last use always; the device is
/// cut short first; then the expiry, the transport, the start, the address and at last the
/// device go, in that order.
const SESSION_COLUMNS: [Column; 8] = [
    Column::fixed("ID"),
    Column::fixed("USER"),
    Column::fixed("CREATED").hidden_at(3),
    Column::fixed("LAST SEEN"),
    Column::fixed("EXPIRES").hidden_at(5),
    Column::fixed("TRANSPORT").hidden_at(4),
    Column::flexible("DEVICE").hidden_at(1),
    Column::fixed("IP").hidden_at(2),
];

fn session_table(rows: &[SessionRow]) -> Table {
    let mut t = Table::new(&SESSION_COLUMNS);
    for r in rows {
        t.row([
            r.id.to_string(),
            r.email.clone().unwrap_or_else(|| r.user_id.to_string()),
            when(r.created_at),
            when(r.last_seen_at),
            when(r.expires_at),
            r.transport.to_owned(),
            r.device.clone(),
            r.ip.clone(),
        ]);
    }
    t
}
