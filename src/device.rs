//! A short, human name for the device behind a user agent ("Chrome 131 on Windows"), for
//! session listings and security events: what a person recognises as "my laptop's browser",
//! not the full header (which listings in `--json` keep beside it).
//!
//! The reading is woothee's (a table of patterns compiled into the binary: no network and no
//! data file at run time, a few microseconds a string). It is computed when a session is read,
//! from the user agent the session record keeps, so a better table in a later release names
//! old sessions better too.

/// What a user agent that names neither a browser nor a system reads as.
pub const UNKNOWN: &str = "Unknown device";

/// Longest user agent looked at: the session store keeps 256 bytes, and nothing past the first
/// few hundred names a browser; a hostile header is not scanned further.
const MAX_SCANNED: usize = 512;

/// The device name of `user_agent`: "Firefox 153 on Linux", "Safari 18 on macOS", "curl",
/// or [`UNKNOWN`].
pub fn name(user_agent: &str) -> String {
    let Some(read) = woothee::parser::Parser::new().parse(prefix(user_agent)) else {
        return UNKNOWN.to_owned();
    };
    let browser = browser(read.name, read.version);
    let system = system(read.os);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b,
        (None, Some(s)) => format!("Unknown browser on {s}"),
        (None, None) => UNKNOWN.to_owned(),
    }
}

/// The browser and its major version ("Chrome 131"), or the program ("curl").
fn browser(name: &str, version: &str) -> Option<String> {
    match name {
        "UNKNOWN" | "" => None,
        // Woothee puts the library's name in the version of its "HTTP Library" entry.
        "HTTP Library" => Some(version)
            .filter(|v| !v.is_empty() && *v != "UNKNOWN")
            .map(str::to_owned),
        _ => {
            let major: String = version
                .chars()
                .take_while(char::is_ascii_digit)
                .take(6)
                .collect();
            Some(if major.is_empty() {
                name.to_owned()
            } else {
                format!("{name} {major}")
            })
        }
    }
}

/// The operating system, by the name its users call it.
fn system(os: &str) -> Option<&str> {
    Some(match os {
        "UNKNOWN" | "" => return None,
        os if os.starts_with("Windows") => "Windows",
        "Mac OSX" | "Mac OS" => "macOS",
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        other => other,
    })
}

fn prefix(s: &str) -> &str {
    let mut end = s.len().min(MAX_SCANNED);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real user agents of the browsers latchkey's extensions run in, and what is not one.
    const TABLE: &[(&str, &str)] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.0.0 Safari/537.36",
            "Chrome 131 on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 on Windows",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0",
            "Firefox 153 on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Safari 18 on macOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
             (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome 131 on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari 18 on iOS",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome 131 on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.6778.81 Mobile Safari/537.36",
            "Chrome 131 on Android",
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
            "Firefox 133 on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox 133 on Windows",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.0.0 Safari/537.36",
            "Chrome 131 on ChromeOS",
        ),
        ("curl/8.5.0", "curl"),
        ("", UNKNOWN),
        ("garbage %%% \u{0} ☃", UNKNOWN),
        ("Mozilla/5.0", UNKNOWN),
    ];

    #[test]
    fn real_user_agents_read_as_short_device_names() {
        for (ua, want) in TABLE {
            assert_eq!(name(ua), *want, "for {ua:?}");
        }
    }

    #[test]
    fn a_very_long_user_agent_is_read_by_its_start_only() {
        let long = format!(
            "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0 {}",
            "é".repeat(100_000)
        );
        assert_eq!(name(&long), "Firefox 153 on Linux");
        assert_eq!(name(&"A".repeat(1_000_000)), UNKNOWN);
    }
}
