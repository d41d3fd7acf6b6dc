//! Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`, each
//! `v1` an HMAC-SHA256 with the endpoint's signing secret over `"{t}.{raw body}"`.
//!
//! Checked before the body is parsed at all. Any `v1` may match (Stripe sends several while a
//! secret is being rolled); other schemes (`v0`, test-mode extras) are ignored. The comparison
//! is constant-time, and the timestamp must be within [`TOLERANCE_SECS`] of our clock in either
//! direction, so a captured delivery cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the signed timestamp may be from our clock, either way: Stripe's own default.
pub const TOLERANCE_SECS: i64 = 300;

/// Longest header considered: a timestamp and a handful of signatures fit many times over.
const MAX_HEADER_LEN: usize = 4096;

/// Why a delivery's signature was refused. The message is safe to send back: it says what was
/// wrong with the header, never what the right signature would have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the Stripe-Signature timestamp is outside the tolerance of 300 seconds")]
    Stale,
    #[error("no signature in the Stripe-Signature header matches")]
    Mismatch,
}

/// Verifies `header` (the raw `Stripe-Signature` value, `None` when absent) for `body` with
/// the endpoint `secret`, at `now` (Unix seconds).
pub fn verify(
    header: Option<&[u8]>,
    body: &[u8],
    secret: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let parsed = Header::parse(header)?;
    if now.abs_diff(parsed.timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = compute(secret, parsed.timestamp_text, body);
    // Every candidate is compared in constant time; which one matched is not a secret.
    let matched = parsed.v1.iter().fold(0u8, |acc, candidate| {
        acc | expected.ct_eq(candidate).unwrap_u8()
    });
    if matched == 1 {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The raw HMAC-SHA256 of `"{timestamp}.{body}"`.
fn compute(secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The header as signed by Stripe (for tools that replay a stored event, and for tests):
/// `t=<timestamp>,v1=<hex>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    format!("t={t},v1={}", hex::encode(compute(secret, &t, body)))
}

struct Header<'a> {
    timestamp: i64,
    /// The timestamp exactly as sent: it is what was signed.
    timestamp_text: &'a str,
    /// The decoded `v1` signatures; entries that are not hex are dropped (they cannot match).
    v1: Vec<Vec<u8>>,
}

impl<'a> Header<'a> {
    fn parse(raw: &'a [u8]) -> Result<Self, SignatureError> {
        if raw.len() > MAX_HEADER_LEN {
            return Err(SignatureError::Malformed);
        }
        let text = std::str::from_utf8(raw).map_err(|_| SignatureError::Malformed)?;
        let mut timestamp = None;
        let mut v1 = Vec::new();
        let mut saw_v1 = false;
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').ok_or(SignatureError::Malformed)?;
            match key {
                "t" => {
                    // Exactly one timestamp, all digits (no sign, no spaces).
                    if timestamp.is_some()
                        || value.is_empty()
                        || !value.bytes().all(|b| b.is_ascii_digit())
                    {
                        return Err(SignatureError::Malformed);
                    }
                    let parsed: i64 = value.parse().map_err(|_| SignatureError::Malformed)?;
                    timestamp = Some((parsed, value));
                }
                "v1" => {
                    saw_v1 = true;
                    if let Ok(bytes) = hex::decode(value) {
                        v1.push(bytes);
                    }
                }
                _ => {}
            }
        }
        let (timestamp, timestamp_text) = timestamp.ok_or(SignatureError::Malformed)?;
        if !saw_v1 {
            return Err(SignatureError::Malformed);
        }
        Ok(Self {
            timestamp,
            timestamp_text,
            v1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"ping"}"#;
    const NOW: i64 = 1_800_000_000;

    fn check(header: &str) -> Result<(), SignatureError> {
        verify(Some(header.as_bytes()), BODY, SECRET, NOW)
    }

    #[test]
    fn a_correct_signature_passes() {
        assert_eq!(check(&sign(SECRET, NOW, BODY)), Ok(()));
    }

    #[test]
    fn matches_stripes_published_construction() {
        // HMAC-SHA256(key, "{t}.{body}") in hex, computed independently of `sign`.
        let header = sign(b"key", 1, b"x");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1.x");
        let hex = hex::encode(mac.finalize().into_bytes());
        assert_eq!(header, format!("t=1,v1={hex}"));
    }

    #[test]
    fn any_v1_may_match_and_other_schemes_are_ignored() {
        let good = sign(SECRET, NOW, BODY);
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v0=abc,v1={good_v1}", "0".repeat(64));
        assert_eq!(check(&header), Ok(()));
        let header = format!("t={NOW}, v1=nothex, v1={good_v1}");
        assert_eq!(check(&header), Ok(()));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            verify(None, BODY, SECRET, NOW),
            Err(SignatureError::Missing)
        );
        for malformed in [
            "",
            "garbage",
            "v1=abcd",
            &format!("t={NOW}"),
            &format!("t={NOW},v0=abcd"),
            &format!("t=-{NOW},v1=00"),
            &format!("t={NOW},t={NOW},v1=00"),
            "t=,v1=00",
            "t=99999999999999999999999,v1=00",
        ] {
            assert_eq!(
                check(malformed),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(
            check(&sign(b"another secret", NOW, BODY)),
            Err(SignatureError::Mismatch)
        );
        let other_body = sign(SECRET, NOW, b"{}");
        assert_eq!(check(&other_body), Err(SignatureError::Mismatch));
        assert_eq!(
            check(&sign(SECRET, NOW - 301, BODY)),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(&sign(SECRET, NOW + 301, BODY)),
            Err(SignatureError::Stale)
        );
        assert_eq!(check(&sign(SECRET, NOW - 300, BODY)), Ok(()));
        assert!(matches!(
            verify(Some(&[0xff, 0xfe]), BODY, SECRET, NOW),
            Err(SignatureError::Malformed)
        ));
    }

    #[test]
    fn a_truncated_signature_does_not_match() {
        let good = sign(SECRET, NOW, BODY);
        let truncated = &good[..good.len() - 2];
        assert_eq!(check(truncated), Err(SignatureError::Mismatch));
    }
}
