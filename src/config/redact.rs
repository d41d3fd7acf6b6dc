//! Secrets as `latchkey config check` shows them. Every secret field names one of these
//! functions as its `serialize_with`: a `SecretString` cannot be serialized otherwise, so a
//! secret added later fails to compile until it says how it is shown, rather than leaking.
//!
//! URLs keep everything but their password (and query parameters named like one), so the
//! operator still sees which host and database they point at.

use secrecy::{ExposeSecret, SecretString};
use serde::ser::SerializeSeq;
use serde::Serializer;
use url::Url;

/// What a secret, or the password part of a URL, is shown as.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose value is a secret (`?password=…` in a PostgreSQL URL).
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token"].iter().any(|s| name.contains(s))
}

/// A URL with its password and secret query parameters replaced by [`REDACTED`]; a value
/// that is not a URL is redacted whole.
pub fn url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw.trim()) else {
        return REDACTED.to_owned();
    };
    if url.password().is_some() && url.set_password(Some(REDACTED)).is_err() {
        return REDACTED.to_owned();
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_parameter(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// The secret parts of a URL, as written and percent-decoded: what must never be printed.
pub fn url_secrets(raw: &str) -> Vec<String> {
    let Ok(url) = Url::parse(raw.trim()) else {
        return vec![raw.to_owned()];
    };
    let mut secrets: Vec<String> = url.password().map(str::to_owned).into_iter().collect();
    secrets.extend(
        url.query_pairs()
            .filter(|(k, _)| is_secret_parameter(k))
            .map(|(_, v)| v.into_owned()),
    );
    let decoded: Vec<String> = secrets.iter().filter_map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets
}

fn percent_decode(s: &str) -> Option<String> {
    let decoded = url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (decoded != s).then_some(decoded)
}

pub fn optional_secret<S: Serializer>(
    value: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str(REDACTED),
        None => s.serialize_none(),
    }
}

pub fn secret_url<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&url(value.expose_secret()))
}

pub fn secret_urls<S: Serializer>(values: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for value in values {
        seq.serialize_element(&url(value.expose_secret()))?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_where_they_point_but_not_their_password() {
        assert_eq!(
            url("postgres://latchkey:s3cret@db.internal:5432/latchkey?sslmode=require"),
            "postgres://latchkey:REDACTED@db.internal:5432/latchkey?sslmode=require"
        );
        assert_eq!(
            url("redis://:s3cret@cache:6379/0"),
            "redis://:REDACTED@cache:6379/0"
        );
        assert_eq!(
            url("postgres://db/latchkey?user=lk&password=s3cret"),
            "postgres://db/latchkey?user=lk&password=REDACTED"
        );
        assert_eq!(
            url("sqlite://data/latchkey.db?mode=rwc"),
            "sqlite://data/latchkey.db?mode=rwc"
        );
        assert_eq!(url("not a url s3cret"), REDACTED);
    }

    #[test]
    fn url_secrets_include_the_decoded_password() {
        let secrets = url_secrets("redis://:p%40ss@cache:6379?token=t0k");
        assert!(secrets.contains(&"p%40ss".to_owned()), "{secrets:?}");
        assert!(secrets.contains(&"p@ss".to_owned()), "{secrets:?}");
        assert!(secrets.contains(&"t0k".to_owned()), "{secrets:?}");
    }
}
