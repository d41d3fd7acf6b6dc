//! Layered configuration (contract §2).
//!
//! Layers, later wins: the embedded `config/default.toml`, `config/default.toml` on disk,
//! `config/<LATCHKEY_ENV>.toml` (embedded, then on disk), an optional `--config <file>`, then
//! `LATCHKEY__<SECTION>__<KEY>` environment variables. The files are embedded so that the
//! binary starts with nothing beside it; the copies on disk let an operator change a value
//! without rebuilding.
//!
//! Validation happens once, here, so that the rest of the program can trust every value and a
//! bad one stops start-up with a single line that names the key. That includes a key that
//! does not exist, in any layer ([`keys`]): a misspelt setting must not go unnoticed.
//!
//! The settings serialize for `latchkey config check`, every secret through [`redact`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::config::{Config, Environment as EnvSource, File, FileFormat};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

mod keys;
mod redact;

pub use redact::REDACTED;

const EMBEDDED: [(&str, &str); 4] = [
    ("default", include_str!("../config/default.toml")),
    ("development", include_str!("../config/development.toml")),
    ("test", include_str!("../config/test.toml")),
    ("production", include_str!("../config/production.toml")),
];

/// A configuration that cannot be used. The message is one line that names the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn key(key: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{key}: {problem}"))
    }
}

/// config-rs names the key at the end (`… for key `server.port` in the environment`); here
/// it comes first, as in every other message, and its origin last.
impl From<::config::ConfigError> for ConfigError {
    fn from(e: ::config::ConfigError) -> Self {
        use ::config::ConfigError as E;
        let (key, problem, origin) = match &e {
            E::Type {
                key: Some(key),
                unexpected,
                expected,
                origin,
            } => (
                key,
                format!("invalid type: {unexpected}, expected {expected}"),
                origin,
            ),
            E::At {
                key: Some(key),
                error,
                origin,
            } => (key, error.to_string(), origin),
            _ => return Self(one_line(&e.to_string())),
        };
        let problem = match origin {
            Some(origin) => format!("{problem} ({})", keys::describe_origin(key, origin)),
            None => problem,
        };
        Self::key(key, one_line(&problem))
    }
}

/// Which of the three shipped environments the process runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => Err(ConfigError::key(
                "LATCHKEY_ENV",
                format!("unknown environment `{other}` (development, test or production)"),
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// From `LATCHKEY_ENV`, not from a key: a file cannot set it.
    #[serde(skip_deserializing, default = "default_environment")]
    pub environment: Environment,
    pub log: LogSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub cors: CorsSettings,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    pub login: LoginSettings,
    pub vision: VisionSettings,
    pub plans: PlansSettings,
    #[serde(default)]
    pub billing: BillingSettings,
    pub limits: LimitSettings,
}

/// Request limits (see `config/default.toml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LimitSettings {
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    pub auth_per_ip: u64,
    pub vision_per_ip: u64,
    pub vision_per_session: u64,
    pub sessions_per_session: u64,
    #[serde(deserialize_with = "networks", serialize_with = "display_all")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// IP networks written as CIDRs (`10.0.0.0/8`) or single addresses (`10.1.2.3`).
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let raw: Vec<String> = Vec::deserialize(d)?;
    raw.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!("`{s}` is not an IP address or CIDR"))
                })
        })
        .collect()
}

/// A list of values written as their text (`10.0.0.0/8`), the way they are configured.
fn display_all<T: std::fmt::Display, S: serde::Serializer>(
    items: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(items.iter().map(ToString::to_string))
}

fn default_environment() -> Environment {
    Environment::Development
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub public_url: Url,
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// Kept secret: a PostgreSQL URL usually carries a password.
    #[serde(serialize_with = "redact::secret_url")]
    pub url: SecretString,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RedisSettings {
    /// Kept secret: a Redis URL may carry a password.
    #[serde(serialize_with = "redact::secret_url")]
    pub url: SecretString,
    /// Nodes of a Redis Cluster (any of them; the rest are discovered). When this list is not
    /// empty the store connects to that cluster and `url` is not used. Secret like `url`.
    #[serde(default, serialize_with = "redact::secret_urls")]
    pub cluster_nodes: Vec<SecretString>,
    pub key_prefix: String,
    pub pool_size: usize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl RedisSettings {
    /// Whether the store is a Redis Cluster (`cluster_nodes` is not empty).
    pub fn is_cluster(&self) -> bool {
        !self.cluster_nodes.is_empty()
    }

    /// The cluster's node URLs, as the client wants them.
    pub fn cluster_node_urls(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        self.cluster_nodes
            .iter()
            .map(|n| n.expose_secret().to_owned())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Redis,
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    None,
    Lax,
    Strict,
}

/// The highest `session.max_per_user` accepted: the cap bounds the Redis work of a login, a
/// listing or a revocation, so it must stay small enough for one script to walk.
const MAX_SESSIONS_PER_USER: u32 = 1000;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionSettings {
    pub store: StoreKind,
    pub cookie_name: String,
    pub csrf_cookie_name: String,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub absolute_timeout: Duration,
    pub same_site: SameSite,
    pub partitioned: bool,
    /// The most live sessions one user may have (at least 1).
    pub max_per_user: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Oidc,
    Github,
}

/// One sign-in provider. `google` is OpenID Connect and `github` plain OAuth 2 unless `kind`
/// says otherwise; any other name must say `kind = "oidc"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProviderSettings {
    pub kind: Option<ProviderKind>,
    pub client_id: Option<String>,
    #[serde(serialize_with = "redact::optional_secret")]
    pub client_secret: Option<SecretString>,
    /// Kept as written: OpenID Connect compares issuers as exact strings, and a parsed URL
    /// would gain a trailing slash.
    pub issuer: Option<String>,
    pub auth_url: Option<Url>,
    pub token_url: Option<Url>,
    pub api_url: Option<Url>,
}

impl ProviderSettings {
    /// A provider without a client id is off (its routes answer 404).
    pub fn is_enabled(&self) -> bool {
        self.client_id.as_deref().is_some_and(|id| !id.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LoginSettings {
    pub success_redirect: Option<Url>,
    /// Bound on each call to a provider (discovery, token exchange, user API).
    #[serde(with = "humantime_serde")]
    pub provider_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VisionSettings {
    pub base_url: Url,
    #[serde(serialize_with = "redact::optional_secret")]
    pub api_key: Option<SecretString>,
    pub model: String,
    pub prompt: String,
    pub max_image_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PlansSettings {
    pub free: FreePlanSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FreePlanSettings {
    pub daily_ocr_limit: u32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BillingSettings {
    #[serde(serialize_with = "redact::optional_secret")]
    pub stripe_webhook_secret: Option<SecretString>,
}

/// Where the layers come from. `Default` reads the process environment, which is what the
/// binary wants; tests build one by hand so they never depend on the variables of the shell
/// that runs them.
#[derive(Debug, Clone)]
pub struct Sources {
    pub environment: Option<String>,
    pub config_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    pub env_vars: BTreeMap<String, String>,
}

impl Sources {
    /// The layers as the process sees them: `LATCHKEY_ENV`, `LATCHKEY_CONFIG_DIR` (default
    /// `config`) and every `LATCHKEY__*` variable.
    pub fn from_process(config_file: Option<PathBuf>) -> Self {
        Self {
            environment: std::env::var("LATCHKEY_ENV").ok(),
            config_dir: std::env::var_os("LATCHKEY_CONFIG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("config")),
            config_file,
            env_vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("LATCHKEY__"))
                .collect(),
        }
    }
}

impl Settings {
    /// Reads every layer and validates the result.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let environment: Environment = sources
            .environment
            .as_deref()
            .unwrap_or("development")
            .parse()?;
        let mut builder = Config::builder();
        for name in ["default", environment.as_str()] {
            builder = add_layer(builder, name, &sources.config_dir);
        }
        if let Some(file) = &sources.config_file {
            if !file.is_file() {
                return Err(ConfigError::key(
                    "--config",
                    format!("cannot read {}", file.display()),
                ));
            }
            builder = builder.add_source(File::from(file.as_path()).format(FileFormat::Toml));
        }
        let env = EnvSource::with_prefix("LATCHKEY")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("cors.allowed_origins")
            .with_list_parse_key("limits.trusted_proxies")
            .with_list_parse_key("redis.cluster_nodes")
            .try_parsing(true)
            .source(Some(sources.env_vars.clone().into_iter().collect()));
        let config = builder.add_source(env).build().map_err(ConfigError::from)?;
        refuse_unknown_keys(&config)?;
        let mut settings: Settings = config.try_deserialize().map_err(ConfigError::from)?;
        settings.environment = environment;
        // `LATCHKEY__REDIS__CLUSTER_NODES=` (empty) means no cluster, as `[]` does.
        settings
            .redis
            .cluster_nodes
            .retain(|n| !secrecy::ExposeSecret::expose_secret(n).trim().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;

        log_filter(&self.log.level).map_err(|e| ConfigError::key("log.level", e))?;
        for origin in &self.cors.allowed_origins {
            validate_origin(origin)?;
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
            .flat_map(redact::url_secrets)
            .chain(others)
            .collect()
    }

    /// The kind of a configured provider: explicit, or implied by the two built-in names.
    pub fn provider_kind(&self, name: &str) -> Option<ProviderKind> {
        let provider = self.providers.get(name)?;
        provider.kind.or(match name {
            "google" => Some(ProviderKind::Oidc),
            "github" => Some(ProviderKind::Github),
            _ => None,
        })
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

/// A key no setting reads is refused, at any depth and from any layer: left alone it would
/// be ignored, and the setting it was meant to change would keep its value unseen.
fn refuse_unknown_keys(config: &Config) -> Result<(), ConfigError> {
    let merged = ::config::Source::collect(config).map_err(ConfigError::from)?;
    let unknown = keys::unknown_keys::<Settings>(&merged);
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let more = match &unknown[1..] {
        [] => String::new(),
        rest => format!(
            "; also unknown: {}",
            rest.iter()
                .map(|u| u.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(ConfigError(format!("{first}{more}")))
}

fn add_layer(
    mut builder: ::config::ConfigBuilder<::config::builder::DefaultState>,
    name: &str,
    dir: &Path,
) -> ::config::ConfigBuilder<::config::builder::DefaultState> {
    if let Some((_, text)) = EMBEDDED.iter().find(|(n, _)| *n == name) {
        builder = builder.add_source(File::from_str(text, FileFormat::Toml));
    }
    let on_disk = dir.join(format!("{name}.toml"));
    builder.add_source(File::from(on_disk).format(FileFormat::Toml).required(false))
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

fn validate_database_url(raw: &str) -> Result<(), ConfigError> {
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

/// config-rs errors can span lines (TOML parse errors quote the source); the contract asks
/// for one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
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
