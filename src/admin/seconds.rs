//! Times as every output of latchkey writes them: RFC 3339 in UTC to the second
//! (`2027-01-01T00:00:00Z`), as the HTTP API does, so a time read in `--json`, a table or an
//! answer of the API compares as text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn one<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub fn optional<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => one(t, s),
        None => s.serialize_none(),
    }
}
