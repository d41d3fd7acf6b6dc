//! `latchkey audit`.

use std::io::{self, Write};

use chrono::{DateTime, Utc};

use super::output::{finish, output, plural, when, JsonArray};
use super::table::{Column, Layout, Table};
use super::{Failure, Ops};
use crate::admin::{self, AuditQuery, EventKind, EventRow};

/// What `audit` was asked for.
pub(super) struct Filter {
    pub user: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub kind: Option<EventKind>,
    pub limit: u64,
}

pub(super) async fn run(ops: &Ops, filter: Filter, json: bool) -> Result<(), Failure> {
    let owner = match &filter.user {
        Some(who) => Some(admin::find_owner(&ops.db, who).await?),
        None => None,
    };
    let query = AuditQuery {
        owner: owner.as_ref(),
        kind: filter.kind,
        since: filter.since,
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

/// Columns by how much they tell: the time, the kind and the user always; the details are cut
/// short first; then the session, the device, the address, the actor, the reason and at last
/// the details go, in that order.
const EVENT_COLUMNS: [Column; 9] = [
    Column::fixed("TIME"),
    Column::fixed("KIND"),
    Column::fixed("USER"),
    Column::fixed("ACTOR").hidden_at(4),
    Column::fixed("SESSION").hidden_at(1),
    Column::fixed("IP").hidden_at(3),
    Column::flexible("DEVICE").hidden_at(2),
    Column::fixed("REASON").hidden_at(5),
    Column::flexible("DETAILS").hidden_at(6),
];

fn print_events(mut out: impl Write, rows: &[EventRow]) -> io::Result<()> {
    if !rows.is_empty() {
        let mut t = Table::new(&EVENT_COLUMNS);
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
        write!(out, "{}", t.render(Layout::of_stdout()))?;
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
