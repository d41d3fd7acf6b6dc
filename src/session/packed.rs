//! The session record and the profile cache, each packed into one Redis string.
//!
//! Why strings and not hashes: Redis keeps a small hash compactly (a listpack) only while every
//! value is at most `hash-max-listpack-value` bytes, 64 by default. A browser's user agent
//! (~110 bytes) and a Google picture URL (~100 bytes) pass that, and the hash turns into a
//! hashtable of separately allocated fields, about twice the memory. One string holds the same
//! data with no per-field overhead, whatever Redis' settings (`docs/sessions.md`).
//!
//! Both formats are plain text so that a sliding refresh can rewrite `last seen` alone (and the
//! previous release's `touch.lua` read the three numbers at the start of a session record),
//! and so that `redis-cli GET` stays readable for operators.
//! Only this module encodes and decodes them whole.

use super::store::{Profile, SessionRecord, StoreError, Transport};

const SEP: char = '|';

/// `created|last seen|absolute expiry|transport|ip|user agent`, times in Unix milliseconds,
/// transport `cookie` or `bearer`.
///
/// The user agent is last because it is the one field the client chooses: it may contain the
/// separator, and being last it needs no escaping. An IP address in text never contains it;
/// should a caller pass one that does, the separators are dropped rather than letting them
/// shift the user agent. [`with_last_seen`] (and the previous release's `touch.lua`) rely on
/// the first three fields being decimal numbers.
///
/// Records written before sessions had a transport are `created|last seen|absolute
/// expiry|ip|user agent`; they read as cookie sessions. The two cannot be confused: the fourth
/// field of an old record is an address as `IpAddr` writes it (hex digits, `.` and `:`) or
/// empty, never `cookie` or `bearer`.
pub fn encode_record(r: &SessionRecord) -> String {
    let mut out = String::with_capacity(56 + r.ip.len() + r.user_agent.len());
    for n in [r.created_ms, r.last_seen_ms, r.absolute_expiry_ms] {
        out.push_str(&n.to_string());
        out.push(SEP);
    }
    out.push_str(r.transport.as_str());
    out.push(SEP);
    out.extend(r.ip.chars().filter(|&c| c != SEP));
    out.push(SEP);
    out.push_str(&r.user_agent);
    out
}

pub fn decode_record(packed: &str) -> Result<SessionRecord, StoreError> {
    let malformed = || StoreError::Malformed("a session record is not in the packed format".into());
    let mut fields = packed.splitn(5, SEP);
    let mut number = |name: &str| -> Result<i64, StoreError> {
        let raw = fields.next().ok_or_else(malformed)?;
        int(name, raw)
    };
    let created_ms = number("created")?;
    let last_seen_ms = number("last_seen")?;
    let absolute_expiry_ms = number("absolute_expiry")?;
    let fourth = fields.next().ok_or_else(malformed)?;
    let rest = fields.next().ok_or_else(malformed)?;
    let (transport, ip, user_agent) = match Transport::parse(fourth) {
        Some(transport) => {
            let (ip, user_agent) = rest.split_once(SEP).ok_or_else(malformed)?;
            (transport, ip, user_agent)
        }
        // The format before the transport: a cookie session.
        None => (Transport::Cookie, fourth, rest),
    };
    Ok(SessionRecord {
        created_ms,
        last_seen_ms,
        absolute_expiry_ms,
        user_agent: user_agent.to_owned(),
        ip: ip.to_owned(),
        transport,
    })
}

/// `packed` with its second field, `last seen`, replaced by `last_seen_ms` and every other
/// byte kept as it was (a record of the format before the transport stays in that format):
/// what a sliding refresh writes back. `None` when `packed` has no second field.
pub fn with_last_seen(packed: &str, last_seen_ms: i64) -> Option<String> {
    let (created, rest) = packed.split_once(SEP)?;
    let (_, after) = rest.split_once(SEP)?;
    let mut out = String::with_capacity(packed.len() + 2);
    out.push_str(created);
    out.push(SEP);
    out.push_str(&last_seen_ms.to_string());
    out.push(SEP);
    out.push_str(after);
    Some(out)
}

/// `plan until|has subscription|len(plan)|len(name)|len(email)|` then plan, name, email and
/// picture URL back to back (lengths in bytes).
///
/// Names and addresses come from identity providers and may contain any character, so no
/// separator is safe between them: the header carries only numbers, and each string but the
/// last is cut by its length.
pub fn encode_profile(p: &Profile) -> String {
    let until = p.plan_until_ms.map(|t| t.to_string()).unwrap_or_default();
    let sub = if p.has_subscription { "1" } else { "0" };
    let mut out = format!(
        "{until}|{sub}|{}|{}|{}|",
        p.plan.len(),
        p.name.len(),
        p.email.len()
    );
    out.reserve(p.plan.len() + p.name.len() + p.email.len() + p.image.len());
    for s in [&p.plan, &p.name, &p.email, &p.image] {
        out.push_str(s);
    }
    out
}

/// Decodes a profile string: the packed profile, which the Redis store's compact layout may
/// put after the user's one index entry, `~hash~score~` (`redis/lua/index.lua`). A packed
/// profile starts with a digit or the separator, never `~`, and neither the hash nor the score
/// contains one.
pub fn decode_profile(packed: &str) -> Result<Profile, StoreError> {
    let malformed = || StoreError::Malformed("a profile is not in the packed format".into());
    let packed = match packed.strip_prefix('~') {
        Some(held) => held.splitn(3, '~').nth(2).ok_or_else(malformed)?,
        None => packed,
    };
    let mut header = packed.splitn(6, SEP);
    let mut next = || header.next().ok_or_else(malformed);
    let until = next()?;
    let sub = next()?;
    let mut len = |name: &str| -> Result<usize, StoreError> {
        next()?
            .parse()
            .map_err(|_| StoreError::Malformed(format!("the profile's {name} length")))
    };
    let (plan_len, name_len, email_len) = (len("plan")?, len("name")?, len("email")?);
    let body = header.next().ok_or_else(malformed)?;
    // `get` fails on a length that runs past the end or into the middle of a character.
    let mut at: usize = 0;
    let mut take = |n: usize| -> Result<String, StoreError> {
        let end = at.checked_add(n).ok_or_else(malformed)?;
        let s = body.get(at..end).ok_or_else(malformed)?;
        at = end;
        Ok(s.to_owned())
    };
    let plan = take(plan_len)?;
    let name = take(name_len)?;
    let email = take(email_len)?;
    let image = body.get(at..).ok_or_else(malformed)?.to_owned();
    let plan_until_ms = match until {
        "" => None,
        raw => Some(int("plan_until", raw)?),
    };
    let has_subscription = match sub {
        "1" => true,
        "0" => false,
        _ => return Err(malformed()),
    };
    Ok(Profile {
        name,
        email,
        image,
        plan,
        plan_until_ms,
        has_subscription,
    })
}

fn int(field: &str, raw: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Malformed(format!("{field} is not a number: {raw:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ua: &str, ip: &str) -> SessionRecord {
        SessionRecord {
            created_ms: 1_790_000_000_000,
            last_seen_ms: 1_790_000_060_000,
            absolute_expiry_ms: 1_792_592_000_000,
            user_agent: ua.into(),
            ip: ip.into(),
            transport: Transport::Cookie,
        }
    }

    #[test]
    fn a_record_round_trips_with_the_separator_in_its_user_agent() {
        for ua in ["", "Mozilla/5.0", "a|b||c|", "|", "ünïcødé | ☃", "bearer|x"] {
            for ip in ["", "203.0.113.7", "2001:db8::1"] {
                for transport in [Transport::Cookie, Transport::Bearer] {
                    let r = SessionRecord {
                        transport,
                        ..record(ua, ip)
                    };
                    assert_eq!(decode_record(&encode_record(&r)).ok(), Some(r));
                }
            }
        }
    }

    #[test]
    fn a_record_of_the_format_before_the_transport_reads_as_a_cookie_session() {
        for (packed, ip, ua) in [
            ("1|2|3|192.0.2.1|Mozilla/5.0", "192.0.2.1", "Mozilla/5.0"),
            ("1|2|3||", "", ""),
            ("1|2|3|2001:db8::1|a|bearer|b", "2001:db8::1", "a|bearer|b"),
        ] {
            let r = decode_record(packed).ok();
            assert_eq!(
                r.map(|r| (r.transport, r.ip, r.user_agent)),
                Some((Transport::Cookie, ip.into(), ua.into())),
                "{packed:?}"
            );
        }
    }

    #[test]
    fn the_record_format_is_what_the_previous_release_reads() {
        let r = record("UA|x", "192.0.2.1");
        assert_eq!(
            encode_record(&r),
            "1790000000000|1790000060000|1792592000000|cookie|192.0.2.1|UA|x"
        );
        let bearer = SessionRecord {
            transport: Transport::Bearer,
            ..r
        };
        assert_eq!(
            encode_record(&bearer),
            "1790000000000|1790000060000|1792592000000|bearer|192.0.2.1|UA|x"
        );
    }

    #[test]
    fn a_separator_in_the_ip_cannot_shift_the_user_agent() {
        let decoded = decode_record(&encode_record(&record("ua", "1|2"))).ok();
        assert_eq!(
            decoded.map(|r| (r.ip, r.user_agent)),
            Some(("12".into(), "ua".into()))
        );
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        for bad in [
            "",
            "1|2|3|ip",
            "x|2|3|ip|ua",
            "1|2|3",
            "1||3|ip|ua",
            "c|s|a|ua|ip",
            // a transport with no room for the address and the user agent
            "1|2|3|bearer|ip",
            "1|2|3|cookie",
        ] {
            assert!(decode_record(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn a_refresh_rewrites_last_seen_alone() {
        let r = record("UA|x", "192.0.2.1");
        let refreshed = with_last_seen(&encode_record(&r), 1_790_000_120_000);
        assert_eq!(
            refreshed.as_deref(),
            Some("1790000000000|1790000120000|1792592000000|cookie|192.0.2.1|UA|x")
        );
        // A record of the format before the transport keeps its format.
        assert_eq!(
            with_last_seen("1|2|3|192.0.2.1|ua", 9).as_deref(),
            Some("1|9|3|192.0.2.1|ua")
        );
        assert_eq!(with_last_seen("1", 9), None);
    }

    fn profile(name: &str, email: &str, image: &str) -> Profile {
        Profile {
            name: name.into(),
            email: email.into(),
            image: image.into(),
            plan: "pro".into(),
            plan_until_ms: Some(1_790_000_000_000),
            has_subscription: true,
        }
    }

    #[test]
    fn a_profile_round_trips_whatever_its_strings_contain() {
        let odd = ["", "|", "1|2|3|", "Zoë «|» 李", "a\nb\0c"];
        for name in odd {
            for email in odd {
                for image in odd {
                    let p = profile(name, email, image);
                    assert_eq!(decode_profile(&encode_profile(&p)).ok(), Some(p));
                }
            }
        }
        let free = Profile {
            plan: "free".into(),
            plan_until_ms: None,
            has_subscription: false,
            ..profile("Ada", "ada@example.com", "https://example.com/a.png")
        };
        let packed = encode_profile(&free);
        assert_eq!(
            packed,
            "|0|4|3|15|freeAdaada@example.comhttps://example.com/a.png"
        );
        assert_eq!(decode_profile(&packed).ok(), Some(free.clone()));
        // The compact layout's index entry before it is not part of the profile.
        for entry in ["~h~1797800000000~", "~h~-14382400000000005~"] {
            let held = format!("{entry}{packed}");
            assert_eq!(decode_profile(&held).ok(), Some(free.clone()), "{held}");
        }
    }

    #[test]
    fn malformed_profiles_are_errors_not_panics() {
        for bad in [
            "",
            "|0|4|3|15|free",
            "|0|4|3|99|freeAdaada@example.com",
            "|2|4|3|0|freeAda",
            "x|0|0|0|0|",
            "|0|-1|0|0|",
            // a length that ends inside a multi-byte character
            "|0|1|0|0|é",
            // lengths whose sum overflows
            "|0|1|18446744073709551615|0|x",
            // an index entry with no profile after it, or not closed
            "~h~1~",
            "~h~1",
            "~h",
            "~",
        ] {
            assert!(decode_profile(bad).is_err(), "accepted {bad:?}");
        }
    }
}
