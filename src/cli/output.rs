//! What the operator commands print: text made [`printable`] (tables are `table`'s), JSON
//! made terminal-safe the same way ([`TerminalSafe`]) and listings of it streamed page by
//! page, times, counts, and how a failed write to stdout ends.

use std::borrow::Cow;
use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};

use super::Failure;
use crate::text;

/// A failed write to stdout. A closed pipe (`latchkey sessions list | head`) is not an error:
/// the reader has what it wanted.
pub(super) fn output(e: io::Error) -> Failure {
    Failure::Domain(anyhow::Error::new(e).context("cannot write the output"))
}

pub(super) fn finish(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(output),
    }
}

pub(super) fn when(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "-".to_owned())
}

/// `text` safe to print on a terminal: every character that a terminal would act on rather
/// than show is written as an escape. These are the C0 controls (ESC starts the sequences that
/// clear the screen, move the cursor or set the window title; CR rewrites a line), DEL, the C1
/// controls U+0080–U+009F (CSI and OSC in one byte on some terminals), and the bidirectional
/// overrides and isolates U+202A–U+202E and U+2066–U+2069, which reorder the text shown after
/// them, and the line and paragraph separators U+2028 and U+2029 (the log's rule,
/// [`crate::text`]). Tab, newline and CR read `\t`, `\n`, `\r`, the others their code point (ESC reads
/// `\u{1b}`), and a backslash is doubled, so that no text can pose as an escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => shown.push_str("\\\\"),
            '\t' => shown.push_str("\\t"),
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            c if needs_escape(c) => shown.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// The log's rule ([`crate::text::is_unsafe_to_show`]: controls, bidirectional controls,
/// line separators), and the backslash, which starts the escapes.
fn needs_escape(c: char) -> bool {
    c == '\\' || text::is_unsafe_to_show(c)
}

/// What [`printable`] escapes and JSON strings do not: JSON escapes the C0 controls, `"` and
/// `\`, but DEL, the C1 controls, the bidirectional controls and the line separators would
/// reach the terminal raw.
fn json_leaves_raw(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}') || text::reorders(c) || text::breaks_lines(c)
}

/// The formatter of every JSON document the CLI prints: `F`'s layout (compact or pretty), with
/// the characters of [`json_leaves_raw`] written as `\uXXXX`. `--json` output lands on a
/// terminal as often as in a pipe, and names and user agents come from providers and
/// browsers; escaped, the document is still valid JSON and parses to the very same text.
pub(super) struct TerminalSafe<F>(F);

impl<F: Formatter> Formatter for TerminalSafe<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if json_leaves_raw(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // All of them are in the Basic Multilingual Plane: one `\uXXXX` each.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // The layout is `F`'s: these are the methods `PrettyFormatter` overrides.
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// `value` as one line of JSON, terminal-safe.
pub(super) fn json<W: Write>(out: W, value: &impl Serialize) -> io::Result<()> {
    let mut ser = Serializer::with_formatter(out, TerminalSafe(CompactFormatter));
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// `value` as one line of JSON on stdout: what a command prints for `--json`.
pub(super) fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    finish(json(&mut out, value).and_then(|()| writeln!(out)))
}

/// `value` as indented JSON, terminal-safe.
pub(super) fn json_pretty<W: Write>(out: W, value: &impl Serialize) -> io::Result<()> {
    let mut ser = Serializer::with_formatter(out, TerminalSafe(PrettyFormatter::new()));
    value.serialize(&mut ser).map_err(io::Error::from)
}

pub(super) fn plural(n: impl Into<u64>, what: &str) -> String {
    format!("{} {what}(s)", n.into())
}

/// Writes `{"<key>":[…],"count":n}` one element per line, page by page, so that a listing of
/// any size is one JSON document printed in constant memory.
pub(super) struct JsonArray<W: Write> {
    out: W,
    count: u64,
}

impl<W: Write> JsonArray<W> {
    pub(super) fn start(mut out: W, key: &str) -> io::Result<Self> {
        write!(out, "{{\"{key}\":[")?;
        Ok(Self { out, count: 0 })
    }

    pub(super) fn push(&mut self, item: &impl Serialize) -> io::Result<()> {
        self.out
            .write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
        json(&mut self.out, item)?;
        self.count += 1;
        Ok(())
    }

    pub(super) fn end(mut self) -> io::Result<()> {
        writeln!(self.out, "\n],\"count\":{}}}", self.count)?;
        self.out.flush()
    }
}

/// How a user is named in messages: their email and id, or the id alone. The email came
/// from a provider, so it is made [`printable`] as table cells are.
pub(super) fn who(user: &entity::users::Model) -> String {
    match &user.email {
        Some(email) => format!("{} ({})", printable(email), user.id),
        None => user.id.to_string(),
    }
}
