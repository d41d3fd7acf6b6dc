//! Tables that fit where they are printed. On a terminal a table is as wide as the terminal at
//! most: the columns marked flexible (a user agent, a name) are cut short with `…` first,
//! then whole columns are hidden, least useful first, and a last line says which ones
//! (`--json` has every field). Piped, a table is plain text: every column and every value
//! whole, no rule and no box drawing, columns two spaces apart.
//!
//! Every cell goes through [`printable`]: names, emails and user agents come from providers
//! and browsers, and a control sequence in one must be shown, not obeyed by the terminal.

use std::fmt::Write as _;
use std::io::IsTerminal;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::output::printable;

/// Space between two columns.
const GAP: usize = 2;
/// A flexible column is not cut shorter than this (or its header, if longer).
const MIN_FLEXIBLE: usize = 12;
/// A terminal whose width cannot be read is taken to be this wide.
const DEFAULT_WIDTH: usize = 80;

/// Where a table is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// A terminal this many columns wide.
    Terminal(usize),
    /// A pipe or a file: nothing is cut.
    Piped,
}

impl Layout {
    /// stdout's: a terminal's width is `COLUMNS` when set (a shell's own variable, and how a
    /// width is forced), else what the terminal says, else 80.
    pub(super) fn of_stdout() -> Self {
        if !std::io::stdout().is_terminal() {
            return Self::Piped;
        }
        let from_env = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|c| *c > 0);
        let from_terminal = rustix::termios::tcgetwinsize(std::io::stdout())
            .ok()
            .map(|size| usize::from(size.ws_col))
            .filter(|c| *c > 0);
        Self::Terminal(from_env.or(from_terminal).unwrap_or(DEFAULT_WIDTH))
    }
}

/// A column: its header, whether its values may be cut short, and how readily it is hidden
/// when the table does not fit (higher goes first; 0 is never hidden).
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub header: &'static str,
    pub flexible: bool,
    pub hide_rank: u8,
}

impl Column {
    /// A column that is never cut nor hidden (an id).
    pub(super) const fn fixed(header: &'static str) -> Self {
        Self {
            header,
            flexible: false,
            hide_rank: 0,
        }
    }

    /// A column whose values are cut short with `…` first when the table is too wide.
    pub(super) const fn flexible(header: &'static str) -> Self {
        Self {
            header,
            flexible: true,
            hide_rank: 0,
        }
    }

    /// This column is hidden at `rank` (higher first) when cutting is not enough.
    pub(super) const fn hidden_at(mut self, rank: u8) -> Self {
        self.hide_rank = rank;
        self
    }
}

pub(super) struct Table {
    columns: Vec<Column>,
    header: bool,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(columns: &[Column]) -> Self {
        Self {
            columns: columns.to_vec(),
            header: true,
            rows: Vec::new(),
        }
    }

    /// Key and value pairs (`users show`): no header, the value cut short if need be.
    pub(super) fn pairs() -> Self {
        Self {
            columns: vec![Column::fixed(""), Column::flexible("")],
            header: false,
            rows: Vec::new(),
        }
    }

    pub(super) fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| printable(c.as_ref()).into_owned())
                .collect(),
        );
    }

    /// The table as lines of text for `layout`, each ending in a newline.
    pub(super) fn render(&self, layout: Layout) -> String {
        let natural = self.natural_widths();
        let all: Vec<usize> = (0..self.columns.len()).collect();
        let (shown, widths) = match layout {
            Layout::Piped => (all, natural),
            Layout::Terminal(width) => self.fit(width, natural),
        };
        let mut out = String::new();
        if self.header {
            let headers: Vec<&str> = shown.iter().map(|&i| self.columns[i].header).collect();
            line(&mut out, &headers, &shown, &widths);
            if let Layout::Terminal(_) = layout {
                let total = total_width(&shown, &widths);
                out.push_str(&"─".repeat(total));
                out.push('\n');
            }
        }
        for row in &self.rows {
            let cells: Vec<&str> = shown
                .iter()
                .map(|&i| row.get(i).map_or("", String::as_str))
                .collect();
            line(&mut out, &cells, &shown, &widths);
        }
        let hidden: Vec<&str> = (0..self.columns.len())
            .filter(|i| !shown.contains(i))
            .map(|i| self.columns[i].header)
            .collect();
        if let (Layout::Terminal(width), false) = (layout, hidden.is_empty()) {
            let note = format!(
                "(hidden to fit {width} columns: {}; see --json)",
                hidden.join(", ")
            );
            out.push_str(&cut(&note, width));
            out.push('\n');
        }
        out
    }

    /// Each column's width with nothing cut: its widest value, or its header.
    fn natural_widths(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let header = if self.header {
                    column.header.width()
                } else {
                    0
                };
                self.rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|cell| cell.width())
                    .max()
                    .unwrap_or(0)
                    .max(header)
            })
            .collect()
    }

    /// Which columns to show, and how wide each is, within `width`: with the flexible columns
    /// at their least, columns are hidden by rank until the rest fits, and those that fit
    /// again come back; the room left goes back to the flexible columns; if one column alone
    /// is still too wide, it is cut.
    fn fit(&self, width: usize, natural: Vec<usize>) -> (Vec<usize>, Vec<usize>) {
        let mut widths: Vec<usize> = natural
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                if self.columns[i].flexible {
                    w.min(self.floor(i))
                } else {
                    w
                }
            })
            .collect();
        let mut shown: Vec<usize> = (0..self.columns.len()).collect();
        while total_width(&shown, &widths) > width {
            let next_hidden = shown
                .iter()
                .copied()
                .filter(|&i| self.columns[i].hide_rank > 0)
                .max_by_key(|&i| self.columns[i].hide_rank);
            match next_hidden {
                Some(i) => shown.retain(|&s| s != i),
                None => break,
            }
        }
        // Hiding went by rank alone: a column hidden early may fit again now that a wide one
        // is gone. The most useful come back first, each only if it fits whole.
        let mut hidden: Vec<usize> = (0..self.columns.len())
            .filter(|i| !shown.contains(i))
            .collect();
        hidden.sort_by_key(|&i| self.columns[i].hide_rank);
        for i in hidden {
            let mut with = shown.clone();
            with.push(i);
            with.sort_unstable();
            if total_width(&with, &widths) <= width {
                shown = with;
            }
        }
        let mut room = width.saturating_sub(total_width(&shown, &widths));
        for &i in &shown {
            let more = natural[i].saturating_sub(widths[i]).min(room);
            widths[i] += more;
            room -= more;
        }
        // Still too wide with every column that may go gone: the widest are cut, one after the
        // other, down to a single column of text each if need be.
        loop {
            let excess = total_width(&shown, &widths).saturating_sub(width);
            let Some(&widest) = shown.iter().max_by_key(|&&i| widths[i]) else {
                break;
            };
            if excess == 0 || widths[widest] <= 1 {
                break;
            }
            widths[widest] = widths[widest].saturating_sub(excess).max(1);
        }
        (shown, widths)
    }

    /// How narrow a flexible column may be cut: [`MIN_FLEXIBLE`], or its header.
    fn floor(&self, i: usize) -> usize {
        let header = if self.header {
            self.columns[i].header.width()
        } else {
            0
        };
        MIN_FLEXIBLE.max(header)
    }
}

fn total_width(shown: &[usize], widths: &[usize]) -> usize {
    shown.iter().map(|&i| widths[i]).sum::<usize>() + GAP * shown.len().saturating_sub(1)
}

/// One line: each cell cut to its column's width and padded, no trailing space.
fn line(out: &mut String, cells: &[&str], shown: &[usize], widths: &[usize]) {
    let mut text = String::new();
    for (n, (&i, cell)) in shown.iter().zip(cells).enumerate() {
        if n > 0 {
            text.push_str(&" ".repeat(GAP));
        }
        let cell = cut(cell, widths[i]);
        let pad = widths[i].saturating_sub(cell.width());
        let _ = write!(text, "{cell}{}", " ".repeat(pad));
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

/// `text` in at most `width` columns of the terminal, ending in `…` when it was cut.
pub(super) fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    if width > 0 {
        kept.push('…');
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[
            Column::fixed("ID"),
            Column::fixed("CREATED").hidden_at(2),
            Column::fixed("TRANSPORT").hidden_at(1),
            Column::flexible("USER AGENT"),
        ]);
        t.row([
            "3f2a9c0d41b7e855",
            "2026-12-06T22:31:26Z",
            "cookie",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ]);
        t.row([
            "0000000000000001",
            "2026-12-06T22:31:27Z",
            "bearer",
            "curl/8.5.0",
        ]);
        t
    }

    #[test]
    fn a_terminal_table_is_never_wider_than_the_terminal() {
        for width in [12, 20, 30, 40, 60, 80, 120, 200] {
            let text = sample().render(Layout::Terminal(width));
            for line in text.lines() {
                assert!(line.width() <= width, "{width}: {line:?}\n{text}");
            }
        }
    }

    #[test]
    fn the_user_agent_is_cut_before_a_column_is_hidden() {
        let text = sample().render(Layout::Terminal(80));
        assert!(text.contains("CREATED"), "{text}");
        assert!(text.contains("Mozilla/5.0"), "{text}");
        assert!(text.contains('…'), "{text}");
        assert!(!text.contains("hidden"), "{text}");
        let narrow = sample().render(Layout::Terminal(50));
        let header = narrow.lines().next().unwrap_or_default();
        assert!(!header.contains("CREATED"), "{narrow}");
        assert!(
            narrow.contains("hidden to fit 50 columns: CREATED"),
            "{narrow}"
        );
    }

    #[test]
    fn piped_is_plain_and_whole() {
        let text = sample().render(Layout::Piped);
        assert!(text.contains("Safari/537.36"), "{text}");
        assert!(!text.contains('…'));
        assert!(!text.chars().any(|c| ('\u{2500}'..='\u{257f}').contains(&c)));
        assert!(text.lines().all(|l| l == l.trim_end()));
    }

    #[test]
    fn cut_counts_terminal_columns() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("日本語テキスト", 5), "日本…");
        assert_eq!(cut("short", 10), "short");
    }
}
