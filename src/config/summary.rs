//! The one start-up line that says what this server is: where it listens, what it stores in,
//! which sign-in providers are on, who may call it, and whether the vision proxy and the
//! Stripe webhook are on. A newcomer reads from it why nobody can sign in ("providers: google
//! off, github off"); an operator checks a deployment against it. Secrets never appear: URLs
//! are shown as [`redact::url`] shows them.

use secrecy::ExposeSecret;

use super::redact;
use super::{Settings, StoreKind};

/// What the start-up line says, each field ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub environment: &'static str,
    pub public_url: String,
    /// `redis redis://cache:6379/0`, `redis cluster (3 nodes)` or `memory (this process only)`.
    pub store: String,
    pub database: String,
    /// `google on, github off`; `none configured` when there is no provider section.
    pub providers: String,
    pub allowed_origins: String,
    /// Token mode's redirect URIs: the configured ones, then the page always allowed.
    pub redirect_uris: String,
    pub vision: String,
    pub webhook: String,
}

impl Settings {
    pub fn summary(&self) -> Summary {
        Summary {
            environment: self.environment.as_str(),
            public_url: self.server.public_url.to_string(),
            store: self.store_summary(),
            database: redact::url(self.database.url.expose_secret()),
            providers: self.providers_summary(),
            allowed_origins: list_or(
                &self.cors.allowed_origins,
                "none (cookie mode is refused to every origin; token mode still works)",
            ),
            redirect_uris: self.redirect_uris_summary(),
            vision: match self.vision.api_key {
                Some(_) => format!(
                    "on ({} at {})",
                    self.vision.model,
                    redact::shown(self.vision.base_url.as_str())
                ),
                None => "off (vision.api_key unset)".to_owned(),
            },
            webhook: match self.billing.stripe_webhook_secret {
                Some(_) => "on (POST /webhooks/stripe)".to_owned(),
                None => "off (billing.stripe_webhook_secret unset)".to_owned(),
            },
        }
    }

    fn store_summary(&self) -> String {
        match self.session.store {
            StoreKind::Memory => "memory (this process only)".to_owned(),
            StoreKind::Redis if self.redis.is_cluster() => {
                format!(
                    "redis cluster ({} seed nodes)",
                    self.redis.cluster_nodes.len()
                )
            }
            StoreKind::Redis => format!("redis {}", redact::url(self.redis.url.expose_secret())),
        }
    }

    fn providers_summary(&self) -> String {
        if self.providers.is_empty() {
            return "none configured".to_owned();
        }
        self.providers
            .iter()
            .map(|(name, p)| {
                let on = if p.is_enabled() {
                    "on"
                } else {
                    "off (no client_id)"
                };
                format!("{name} {on}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn redirect_uris_summary(&self) -> String {
        let mut uris = self.extensions.redirect_uris.clone();
        // Always allowed (the same URI `auth::complete_uri` builds).
        let public = self.server.public_url.as_str().trim_end_matches('/');
        uris.push(format!("{public}/auth/complete"));
        uris.join(", ")
    }
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}
