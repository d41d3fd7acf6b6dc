//! Text that came from outside (a query, a header, a provider's answer, a name) made safe to
//! write where a person reads it: a log line, a terminal. One rule for the log and the command
//! line, so that what one of them hides the other cannot show.

/// The characters that change how the text after them is shown rather than being shown: the
/// controls (`Cc`: C0, DEL and C1, among them CR, LF and ESC, which forge lines and colours),
/// the bidirectional overrides and isolates ([`reorders`]), and the line and paragraph
/// separators ([`breaks_lines`]).
pub fn is_unsafe_to_show(c: char) -> bool {
    c.is_control() || reorders(c) || breaks_lines(c)
}

/// The bidirectional overrides and isolates (`U+202A`–`U+202E`, `U+2066`–`U+2069`): they
/// reorder the text shown after them.
pub fn reorders(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The line and paragraph separators (`U+2028`, `U+2029`), on which some log viewers and
/// editors start a new line.
pub fn breaks_lines(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// At most `max` characters of `text`, without the characters of [`is_unsafe_to_show`]: for
/// a log field whose value anyone can choose.
pub fn loggable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !is_unsafe_to_show(*c))
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_controls_and_separators_are_dropped_and_the_text_is_cut() {
        let hostile = "a\r\nb\u{1b}[31mc\u{202e}d\u{2066}e\u{2028}f\u{2029}g\u{85}h\u{7f}i";
        assert_eq!(loggable(hostile, 200), "ab[31mcdefghi");
        assert_eq!(loggable(&"x".repeat(10_000), 200).len(), 200);
        assert_eq!(loggable("日本語", 2), "日本");
    }
}
