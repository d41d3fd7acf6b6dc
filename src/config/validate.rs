//! The rules a loaded configuration must keep; each broken one is a line that names the key.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::types::MAX_SESSIONS_PER_USER;
use super::{ConfigError, Environment, ProviderKind, Settings, StoreKind};

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;

        log_filter(&self.log.level).map_err(|e| ConfigError::key("log.level", e))?;
        for origin in &self.cors.allowed_origins {
            validate_origin(origin)?;
        }
        for uri in &self.extensions.redirect_uris {
            validate_redirect_uri(uri)?;
        }
        validate_database_url(self.database.url.expose_secret())?;
        validate_redis_url(self.redis.url.expose_secret())?;
        validate_cluster_nodes(&self.redis.cluster_nodes)?;
        if self.redis.key_prefix.contains(['{', '}']) {
            return Err(ConfigError::key(
                "redis.key_prefix",
                "must not contain `{` or `}` (they would change Redis Cluster hash slots)",
            ));
        }
        if self.redis.pool_size == 0 {
            return Err(ConfigError::key("redis.pool_size", "must be at least 1"));
        }
        self.validate_session()?;
        if self.audit.retention < Duration::from_secs(1) {
            return Err(ConfigError::key("audit.retention", "must be at least 1s"));
        }
        if !(1..=1_000_000).contains(&self.audit.queue) {
            return Err(ConfigError::key(
                "audit.queue",
                "must be between 1 and 1000000",
            ));
        }
        if self.limits.window < Duration::from_secs(1) {
            return Err(ConfigError::key("limits.window", "must be at least 1s"));
        }
        self.validate_providers()?;
        if self.environment == Environment::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    fn validate_session(&self) -> Result<(), ConfigError> {
        let s = &self.session;
        for (key, name) in [
            ("session.cookie_name", &s.cookie_name),
            ("session.csrf_cookie_name", &s.csrf_cookie_name),
        ] {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid {
                return Err(ConfigError::key(
                    key,
                    "letters, digits, `-`, `_` and `.` only",
                ));
            }
        }
        if s.cookie_name == s.csrf_cookie_name {
            return Err(ConfigError::key(
                "session.csrf_cookie_name",
                "must differ from session.cookie_name",
            ));
        }
        if s.idle_timeout < Duration::from_secs(1) {
            return Err(ConfigError::key(
                "session.idle_timeout",
                "must be at least 1s",
            ));
        }
        if s.absolute_timeout < s.idle_timeout {
            return Err(ConfigError::key(
                "session.absolute_timeout",
                "must not be shorter than session.idle_timeout",
            ));
        }
        if !(1..=MAX_SESSIONS_PER_USER).contains(&s.max_per_user) {
            return Err(ConfigError::key(
                "session.max_per_user",
                format!("must be between 1 and {MAX_SESSIONS_PER_USER}"),
            ));
        }
        Ok(())
    }

    fn validate_providers(&self) -> Result<(), ConfigError> {
        for (name, p) in &self.providers {
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid_name {
                return Err(ConfigError::key(
                    &format!("providers.{name}"),
                    "provider names are lowercase letters, digits and `-`",
                ));
            }
            if self.provider_kind(name).is_none() {
                return Err(ConfigError::key(
                    &format!("providers.{name}.kind"),
                    "must be \"oidc\" for a provider other than google and github",
                ));
            }
            if p.is_enabled() && p.client_secret.is_none() {
                return Err(ConfigError::key(
                    &format!("providers.{name}.client_secret"),
                    "is required when client_id is set",
                ));
            }
            let oidc = self.provider_kind(name) == Some(ProviderKind::Oidc);
            if p.is_enabled() && oidc {
                let issuer_ok = p.issuer.as_deref().is_some_and(|i| Url::parse(i).is_ok());
                if !issuer_ok {
                    return Err(ConfigError::key(
                        &format!("providers.{name}.issuer"),
                        "an OpenID Connect provider needs an issuer URL",
                    ));
                }
            }
            if p.is_enabled() && !oidc {
                for (key, url) in [
                    ("auth_url", &p.auth_url),
                    ("token_url", &p.token_url),
                    ("api_url", &p.api_url),
                ] {
                    if url.is_none() {
                        return Err(ConfigError::key(
                            &format!("providers.{name}.{key}"),
                            "is required",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Production refuses what is only safe on a developer's machine.
    fn validate_production(&self) -> Result<(), ConfigError> {
        if self.session.store == StoreKind::Memory {
            return Err(ConfigError::key(
                "session.store",
                "`memory` is for a single development process; production needs `redis`",
            ));
        }
        if self.server.public_url.scheme() != "https" {
            return Err(ConfigError::key(
                "server.public_url",
                "must be an https:// URL in production",
            ));
        }
        if self.vision.api_key.is_none() {
            return Err(ConfigError::key(
                "vision.api_key",
                "is required in production (set LATCHKEY__VISION__API_KEY)",
            ));
        }
        Ok(())
    }
}

/// An allowed CORS origin is exactly `scheme://host[:port]`: no wildcard, path or trailing
/// slash, because the browser compares the `Origin` header byte for byte.
fn validate_origin(origin: &str) -> Result<(), ConfigError> {
    let fail = |why: &str| ConfigError::key("cors.allowed_origins", format!("`{origin}` {why}"));
    if origin.contains('*') {
        return Err(fail("is a wildcard; list exact origins"));
    }
    let url =
        Url::parse(origin).map_err(|_| fail("is not an origin like https://app.example.com"))?;
    if url.host_str().is_none() || url.cannot_be_a_base() {
        return Err(fail("has no host"));
    }
    if url.origin().ascii_serialization() != origin
        && format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()) != origin
    {
        return Err(fail(
            "must be a bare origin: scheme://host[:port], no path or trailing slash",
        ));
    }
    Ok(())
}

/// A token-mode redirect URI is an absolute URL written as the extension will send it (it is
/// compared byte for byte), with no wildcard, whitespace or fragment: the code is appended to
/// its query, and a fragment would swallow it.
fn validate_redirect_uri(uri: &str) -> Result<(), ConfigError> {
    let fail = |why: &str| ConfigError::key("extensions.redirect_uris", format!("`{uri}` {why}"));
    if uri.contains('*') {
        return Err(fail("is a wildcard; list exact redirect URIs"));
    }
    if uri.contains('#') {
        return Err(fail("has a fragment"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail("contains whitespace"));
    }
    let url = Url::parse(uri).map_err(|_| fail("is not an absolute URL"))?;
    if url.cannot_be_a_base() {
        return Err(fail("is not a URL with a path"));
    }
    // The code travels in this URL: only over TLS, or to this machine itself.
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(fail("must be https (or http to localhost)")),
    }
    // A parameter latchkey appends must not be there already: a reader taking the first
    // `state` or `code` would read the registered one, not latchkey's.
    if url
        .query_pairs()
        .any(|(name, _)| ["code", "state", "error"].contains(&name.as_ref()))
    {
        return Err(fail("already has a code, state or error parameter"));
    }
    Ok(())
}

/// A URL whose password holds an unescaped `/`, `?` or `#` reads as one with no password and
/// a different host or path ([`super::redact::ambiguous_userinfo`]): refused, without
/// echoing it, rather than connecting somewhere unintended or printing the secret. An `@` in
/// the path or query (`?application_name=me@x`) reads the same way to us and is refused
/// too: written `%40`, it means the same to the database.
fn refuse_ambiguous_password(key: &'static str, raw: &str) -> Result<(), ConfigError> {
    match super::redact::ambiguous_userinfo(raw) {
        Some(_) => Err(ConfigError::key(
            key,
            "its user name or password holds a `/`, `?`, `#` or `\\` that ends the host part \
             early: percent-encode the password (`/` as %2F, `?` as %3F, `#` as %23, `\\` as \
             %5C), and any `@` after the host as %40",
        )),
        None => Ok(()),
    }
}

fn validate_database_url(raw: &str) -> Result<(), ConfigError> {
    refuse_ambiguous_password("database.url", raw)?;
    let url = Url::parse(raw).map_err(|_| ConfigError::key("database.url", "is not a URL"))?;
    match url.scheme() {
        "sqlite" | "postgres" | "postgresql" => Ok(()),
        other => Err(ConfigError::key(
            "database.url",
            format!("unsupported scheme `{other}` (sqlite or postgres)"),
        )),
    }
}

fn validate_redis_url(raw: &str) -> Result<(), ConfigError> {
    refuse_ambiguous_password("redis.url", raw)?;
    let url = Url::parse(raw).map_err(|_| ConfigError::key("redis.url", "is not a URL"))?;
    match url.scheme() {
        "redis" | "rediss" => Ok(()),
        other => Err(ConfigError::key(
            "redis.url",
            format!("unsupported scheme `{other}` (redis or rediss)"),
        )),
    }
}

/// Each node of a Redis Cluster is a `redis://` or `rediss://` URL of a host and port, all
/// with the same scheme, and no database but 0 (a cluster has only that one). The message
/// names the entry by position, never by value: a node URL may carry a password.
fn validate_cluster_nodes(nodes: &[SecretString]) -> Result<(), ConfigError> {
    use secrecy::ExposeSecret;

    const KEY: &str = "redis.cluster_nodes";
    let mut schemes = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let n = i + 1;
        if super::redact::ambiguous_userinfo(node.expose_secret()).is_some() {
            return Err(ConfigError::key(
                KEY,
                format!("entry {n}: its password holds a `/`, `?`, `#` or `\\` that ends the host part early: percent-encode it, and any `@` after the host as %40"),
            ));
        }
        let url = Url::parse(node.expose_secret().trim())
            .map_err(|_| ConfigError::key(KEY, format!("entry {n} is not a URL")))?;
        match url.scheme() {
            "redis" | "rediss" => {}
            other => {
                return Err(ConfigError::key(
                    KEY,
                    format!("entry {n}: unsupported scheme `{other}` (redis or rediss)"),
                ))
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::key(KEY, format!("entry {n} has no host")));
        }
        if !matches!(url.path(), "" | "/" | "/0") {
            return Err(ConfigError::key(
                KEY,
                format!("entry {n} names a database; a Redis Cluster has only database 0"),
            ));
        }
        schemes.push(url.scheme().to_owned());
    }
    if schemes.windows(2).any(|w| w[0] != w[1]) {
        return Err(ConfigError::key(
            KEY,
            "mixes redis:// and rediss://; every node of a cluster is reached the same way",
        ));
    }
    Ok(())
}

/// The filter a `log.level` names, in `EnvFilter` syntax (`info`, `warn,latchkey=debug`).
///
/// Stricter than `EnvFilter` alone: it reads a bare word that is not a level (`verbose`,
/// `warning`) as a target name, which would show that target only and silence every other
/// log. Such a word is refused; a target takes its level after `=`.
pub fn log_filter(level: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    let directives: Vec<&str> = level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Err("is empty; use a level such as info".to_owned());
    }
    for directive in &directives {
        let names_a_target = directive.contains(['=', '[']);
        if !names_a_target
            && directive
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .is_err()
        {
            return Err(format!(
                "`{directive}` is not a level (trace, debug, info, warn, error or off); \
                 a target takes its level after `=`, as in latchkey=debug"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| format!("`{level}` is not a log filter: {e}"))
}
