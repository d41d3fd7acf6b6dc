//! Text that came from outside (a query, a header, a provider's answer) made safe to write
//! where a person reads it: a log line, a terminal.

/// At most `max` characters of `text`, without control characters (which would let a crafted
/// value forge log lines on a terminal or in a pretty log): for a log field whose value
/// anyone can choose.
pub fn loggable(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}
