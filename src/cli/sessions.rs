//! `latchkey sessions list|revoke`.

use std::io::{self, Write};

use super::args::{Revocation, SessionsCommand};
use super::confirm::{confirm, Consent};
use super::output::{finish, output, plural, when, JsonArray, TextTable};
use super::{Failure, Ops};
use crate::admin::{self, SessionRow, SessionWalk};

pub(super) async fn run(ops: &Ops, command: SessionsCommand) -> Result<(), Failure> {
    match command {
        SessionsCommand::List { user, output } => list(ops, user.as_deref(), output.json).await,
        SessionsCommand::Revoke { which, yes } => revoke(ops, which, yes).await,
    }
}

async fn list(ops: &Ops, user: Option<&str>, json: bool) -> Result<(), Failure> {
    let mut rows = match user {
        Some(who) => {
            let owner = admin::find_owner(&ops.db, who).await?;
            admin::user_sessions(&ops.sessions, &owner).await?
        }
        None if json => return stream_all_sessions(ops).await,
        None => {
            let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
            let mut rows = Vec::new();
            while let Some(page) = walk.next_page().await? {
                rows.extend(page);
            }
            rows.sort_by_key(|r| r.created_at);
            rows
        }
    };
    let out = io::stdout().lock();
    if json {
        let mut array = JsonArray::start(io::BufWriter::new(out), "sessions").map_err(output)?;
        for row in rows.drain(..) {
            array.push(&row).map_err(output)?;
        }
        return finish(array.end());
    }
    finish(print_sessions(out, &rows))
}

fn print_sessions(mut out: impl Write, rows: &[SessionRow]) -> io::Result<()> {
    if !rows.is_empty() {
        writeln!(out, "{}", session_table(rows))?;
    }
    writeln!(out, "{}", plural(rows.len() as u64, "session"))
}

/// Every session of the deployment as JSON, printed page by page as the walk goes. Nothing
/// is printed until the first page is read, so a store that does not answer prints no
/// half document.
async fn stream_all_sessions(ops: &Ops) -> Result<(), Failure> {
    let mut walk = SessionWalk::new(&ops.db, &ops.sessions);
    let mut page = walk.next_page().await?;
    let mut array =
        JsonArray::start(io::BufWriter::new(io::stdout().lock()), "sessions").map_err(output)?;
    while let Some(rows) = page {
        for row in &rows {
            if let Err(e) = array.push(row) {
                return finish(Err(e));
            }
        }
        page = walk.next_page().await?;
    }
    finish(array.end())
}

async fn revoke(ops: &Ops, which: Revocation, yes: bool) -> Result<(), Failure> {
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
    match revoked {
        Ok(n) => {
            println!("revoked {}", plural(n, "session"));
            Ok(())
        }
        Err(e) if e.nothing_revoked() => {
            println!("revoked {}", plural(0u64, "session"));
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

fn session_table(rows: &[SessionRow]) -> TextTable {
    let mut t = TextTable::new(&[
        "ID",
        "USER",
        "CREATED",
        "LAST SEEN",
        "EXPIRES",
        "TRANSPORT",
        "DEVICE",
        "IP",
    ]);
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
