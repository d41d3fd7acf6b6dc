//! `latchkey audit`.

use std::io::{self, Write};

use chrono::Utc;

use super::args::Since;
use super::output::{finish, output, plural, when, JsonArray, TextTable};
use super::{Failure, Ops};
use crate::admin::{self, AuditQuery, EventKind, EventRow};

/// What `audit` was asked for.
pub(super) struct Filter {
    pub user: Option<String>,
    pub since: Option<Since>,
    pub kind: Option<EventKind>,
    pub limit: u64,
}

pub(super) async fn run(ops: &Ops, filter: Filter, json: bool) -> Result<(), Failure> {
    let owner = match &filter.user {
        Some(who) => Some(admin::find_owner(&ops.db, who).await?),
        None => None,
    };
    let since = match filter.since {
        None => None,
        Some(Since::At(at)) => Some(at.with_timezone(&Utc)),
        Some(Since::Ago(ago)) => chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| Utc::now().checked_sub_signed(ago))
            .or(Some(chrono::DateTime::<Utc>::MIN_UTC)),
    };
    let query = AuditQuery {
        owner: owner.as_ref(),
        kind: filter.kind,
        since,
        limit: filter.limit,
    };
    let rows = admin::security_events(&ops.db, &query).await?;
    let out = io::stdout().lock();
    if json {
        let mut array = JsonArray::start(io::BufWriter::new(out), "events").map_err(output)?;
        for row in &rows {
            array.push(row).map_err(output)?;
        }
        return finish(array.end());
    }
    finish(print_events(out, &rows))
}

fn print_events(mut out: impl Write, rows: &[EventRow]) -> io::Result<()> {
    if !rows.is_empty() {
        let mut t = TextTable::new(&[
            "TIME", "KIND", "USER", "ACTOR", "SESSION", "IP", "DEVICE", "REASON", "DETAILS",
        ]);
        for r in rows {
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
            t.row([
                when(r.at),
                r.kind.clone(),
                r.email
                    .clone()
                    .or_else(|| r.user_id.map(|id| id.to_string()))
                    .unwrap_or_else(|| "-".to_owned()),
                r.actor.clone(),
                dash(&r.session_id),
                dash(&r.ip),
                dash(&r.device),
                dash(&r.reason),
                details(&r.details),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    writeln!(out, "{}", plural(rows.len() as u64, "event"))
}

/// `key=value` pairs of an event's details.
fn details(value: &serde_json::Value) -> String {
    match value.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => format!("{k}={s}"),
                None => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => "-".to_owned(),
    }
}
