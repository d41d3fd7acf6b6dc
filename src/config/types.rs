//! The settings, as typed structs: what every part of the program reads.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::redact;
use super::ConfigError;

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
    pub audit: AuditSettings,
    pub cors: CorsSettings,
    #[serde(default)]
    pub extensions: ExtensionSettings,
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

/// IP networks written as CIDRs (`10.0.0.0/8`) or single addresses (`10.1.2.3`), each
/// [`unmapped`].
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let raw: Vec<String> = Vec::deserialize(d)?;
    raw.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(unmapped)
                .map_err(|_| {
                    serde::de::Error::custom(format!("`{s}` is not an IP address or CIDR"))
                })
        })
        .collect()
}

/// A network inside `::ffff:0:0/96` (IPv4-mapped IPv6) as the IPv4 network it is:
/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`. Addresses are compared in their canonical form, a
/// mapped peer as IPv4, so a network left in the mapped form would never contain one.
fn unmapped(net: ipnet::IpNet) -> ipnet::IpNet {
    let ipnet::IpNet::V6(v6) = net else {
        return net;
    };
    match (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96)) {
        (Some(v4), Some(len)) => ipnet::Ipv4Net::new(v4, len).map_or(net, ipnet::IpNet::V4),
        _ => net,
    }
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
    /// Where a user's index of sessions is kept: what the store writes (it reads both).
    pub layout: crate::session::RedisLayout,
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
pub(super) const MAX_SESSIONS_PER_USER: u32 = 1000;

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

/// Security events and the journal that writes them (docs/configuration.md, `audit`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuditSettings {
    /// Events older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// The most events and usage records that wait in memory for the database.
    pub queue: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

/// Token mode's settings (docs/configuration.md, `extensions`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtensionSettings {
    /// The exact redirect URIs a token-mode sign-in may send its one-time code to, besides
    /// `{server.public_url}/auth/complete`. Compared as strings, byte for byte.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
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
    /// Shown through [`redact::shown`], as every URL the operator may have put a credential
    /// in (a proxy's user and password, a `?key=` parameter).
    #[serde(serialize_with = "redact::optional_shown")]
    pub issuer: Option<String>,
    #[serde(serialize_with = "redact::optional_shown")]
    pub auth_url: Option<Url>,
    #[serde(serialize_with = "redact::optional_shown")]
    pub token_url: Option<Url>,
    #[serde(serialize_with = "redact::optional_shown")]
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
    /// Shown through [`redact::shown`]: an OpenAI-compatible gateway may take its key in the
    /// URL.
    #[serde(serialize_with = "redact::shown_url")]
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

impl Settings {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Proxies {
        #[serde(deserialize_with = "networks")]
        nets: Vec<ipnet::IpNet>,
    }

    fn parsed(nets: &[&str]) -> Vec<String> {
        let json = serde_json::json!({ "nets": nets });
        let proxies: Proxies = serde_json::from_value(json).expect("networks");
        proxies.nets.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ipv4_mapped_networks_become_ipv4_networks() {
        assert_eq!(
            parsed(&[
                "::ffff:127.0.0.1",
                "::ffff:10.0.0.0/104",
                "::ffff:192.168.1.0/120",
                "::ffff:0:0/96",
            ]),
            ["127.0.0.1/32", "10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0"]
        );
        // IPv4 and other IPv6 networks are kept as written.
        assert_eq!(
            parsed(&["10.0.0.0/8", "2001:db8::/32", "::1", "::ffff:0:0/95"]),
            [
                "10.0.0.0/8",
                "2001:db8::/32",
                "::1/128",
                "::ffff:0.0.0.0/95"
            ]
        );
    }
}
