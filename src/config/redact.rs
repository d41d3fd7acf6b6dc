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

use super::Settings;

/// What a secret, or the password part of a URL, is shown as.
pub const REDACTED: &str = "REDACTED";

/// Query parameters whose value is a secret: `?password=…` in a PostgreSQL URL, `?key=…`,
/// `?api-key=…` or `?auth=…` at an API gateway, a signature, a credential, a code.
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "key",
        "auth",
        "sig",
        "credential",
        "code",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// A URL that is not a secret as a whole (a provider's endpoint, the vision API's base) but
/// may carry one: as written when it holds nothing to redact (an OpenID Connect issuer is
/// compared as written, and a parser would add a slash), else as [`url`] shows it.
pub fn shown(raw: &str) -> String {
    if url_secrets(raw).is_empty() {
        raw.to_owned()
    } else {
        url(raw)
    }
}

pub fn shown_url<S: Serializer>(value: &Url, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&shown(value.as_str()))
}

pub fn optional_shown<S: Serializer, U: AsRef<str>>(
    value: &Option<U>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(u) => s.serialize_str(&shown(u.as_ref())),
        None => s.serialize_none(),
    }
}

/// The user-info part a person meant to write: everything between `scheme://` and the last
/// `@`, when that differs from what a URL parser reads. A password with an unescaped `/`, `?`
/// or `#` (`postgres://app:/Xy9@db/app`) ends the parser's authority early: it then reads a
/// host, a path, a query or a fragment, and no password at all, so redacting "the password"
/// would print the secret. Such a URL is ambiguous and is shown, and accepted, never.
pub fn ambiguous_userinfo(raw: &str) -> Option<&str> {
    let (_, rest) = raw.trim().split_once("://")?;
    let (userinfo, _) = rest.rsplit_once('@')?;
    userinfo.contains(['/', '?', '#', '\\']).then_some(userinfo)
}

/// A URL with its password and secret query parameters replaced by [`REDACTED`], and no
/// fragment; a value that is not a URL, or whose password cannot be told apart
/// ([`ambiguous_userinfo`]), is redacted whole.
pub fn url(raw: &str) -> String {
    if ambiguous_userinfo(raw).is_some() {
        return REDACTED.to_owned();
    }
    let Ok(mut url) = Url::parse(raw.trim()) else {
        return REDACTED.to_owned();
    };
    url.set_fragment(None);
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
    if let Some(userinfo) = ambiguous_userinfo(raw) {
        // Whatever follows the user name may be the password: all of it is secret.
        let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
        return vec![raw.to_owned(), password.to_owned()];
    }
    let Ok(url) = Url::parse(raw.trim()) else {
        return vec![raw.to_owned()];
    };
    let mut secrets: Vec<String> = url.password().map(str::to_owned).into_iter().collect();
    secrets.extend(url.fragment().map(str::to_owned));
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

impl Settings {
    /// The effective settings as `(dotted key, value)` pairs in key order, every secret shown
    /// as [`REDACTED`] (a URL keeps all but its password, so it still says where it points).
    /// Values are written as in TOML (strings quoted, lists in brackets); an optional key
    /// with no value reads `unset`.
    pub fn redacted_listing(&self) -> Result<Vec<(String, String)>, serde_json::Error> {
        let tree = serde_json::to_value(self)?;
        let mut listing = Vec::new();
        flatten("", &tree, &mut listing);
        Ok(listing)
    }

    /// `text` with every secret of this configuration replaced by [`REDACTED`]: for a message
    /// that quotes what a library said, which might echo a URL or a key.
    pub fn redact_text(&self, text: &str) -> String {
        let mut secrets = self.secret_values();
        secrets.retain(|s| !s.is_empty());
        // Longest first, so that a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret, REDACTED)
        })
    }

    /// The secret values, as written: the same fields that serialize through [`redact`].
    fn secret_values(&self) -> Vec<String> {
        use secrecy::ExposeSecret;

        let mut urls = vec![
            self.database.url.expose_secret(),
            self.redis.url.expose_secret(),
        ];
        urls.extend(self.redis.cluster_nodes.iter().map(|n| n.expose_secret()));
        let others = self
            .providers
            .values()
            .filter_map(|p| p.client_secret.as_ref())
            .chain(&self.vision.api_key)
            .chain(&self.billing.stripe_webhook_secret)
            .map(|s| s.expose_secret().to_owned());
        urls.into_iter()
            .flat_map(url_secrets)
            .chain(others)
            .collect()
    }
}

/// Writes a serialized tree as dotted keys. An empty table is one entry, `{}`, so that a
/// section with nothing in it (no providers) still shows.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(table) if !table.is_empty() => {
            for (key, inner) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, inner, out);
            }
        }
        Value::Null => out.push((prefix.to_owned(), "unset".to_owned())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
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

    /// A password with an unescaped `/`, `?` or `#` makes a parser read no password at all:
    /// such a URL is never shown, not even in part.
    #[test]
    fn a_password_with_unescaped_delimiters_redacts_the_whole_url() {
        for (raw, secret) in [
            ("postgres://app:/Xy9secret@db:5432/app", "Xy9secret"),
            ("postgres://app:2024/Spring!@db/app", "Spring!"),
            ("postgres://app:#Xy9@db/app", "Xy9"),
            ("postgres://app:pa?ss@db/app", "pa?ss"),
            ("redis://:s3/cret@cache:6379/0", "s3/cret"),
        ] {
            let shown = url(raw);
            assert_eq!(shown, REDACTED, "{raw}");
            let secrets = url_secrets(raw);
            assert!(
                secrets.iter().any(|s| s.contains(secret)),
                "{raw}: {secrets:?}"
            );
            assert!(ambiguous_userinfo(raw).is_some(), "{raw}");
        }
        // An `@` only in the query, or a password with an `@` (the last one ends it), is not.
        assert_eq!(ambiguous_userinfo("postgres://app:p@ss@db/app"), None);
        assert_eq!(
            url("postgres://app:p@ss@db/app"),
            "postgres://app:REDACTED@db/app"
        );
    }

    #[test]
    fn parameters_named_like_a_credential_are_masked() {
        for name in [
            "key",
            "api-key",
            "auth",
            "sig",
            "X-Amz-Signature",
            "credential",
            "code",
        ] {
            let raw = format!("https://gw.example/v1?{name}=s3cret&model=m");
            let shown = shown(&raw);
            assert!(!shown.contains("s3cret"), "{name}: {shown}");
            assert!(shown.contains("model=m"), "{name}: {shown}");
        }
        // Nothing to redact: kept exactly as written, without a slash a parser would add.
        assert_eq!(
            shown("https://accounts.google.com"),
            "https://accounts.google.com"
        );
        assert_eq!(
            shown("https://user:pw@gw.example/v1"),
            "https://user:REDACTED@gw.example/v1"
        );
    }

    #[test]
    fn a_fragment_is_never_shown() {
        assert_eq!(url("redis://cache:6379/0#s3cret"), "redis://cache:6379/0");
        assert!(url_secrets("redis://cache:6379/0#s3cret").contains(&"s3cret".to_owned()));
    }

    #[test]
    fn url_secrets_include_the_decoded_password() {
        let secrets = url_secrets("redis://:p%40ss@cache:6379?token=t0k");
        assert!(secrets.contains(&"p%40ss".to_owned()), "{secrets:?}");
        assert!(secrets.contains(&"p@ss".to_owned()), "{secrets:?}");
        assert!(secrets.contains(&"t0k".to_owned()), "{secrets:?}");
    }
}
