//! Sign-in with external providers (docs/api.md: "Start signing in", "Finish signing in", "Identities and linking").
//!
//! A provider turns an authorization code into an [`Identity`]; the login flow in between
//! (state, PKCE verifier, nonce, browser binding) is kept in the session store by [`flow`].

pub mod code;
pub mod flow;
mod github;
mod id_token;
pub mod oauth_error;
mod oidc;
pub mod token_mode;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{ProviderKind, Settings};
use crate::http::error::error_chain;
use crate::text::loggable;

pub use github::GithubProvider;
pub use oauth_error::Misconfiguration;
pub use oidc::OidcProvider;

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    /// The provider's stable id: OIDC `sub`, GitHub's numeric `id`.
    pub subject: String,
    pub email: Option<String>,
    /// Only a verified email may join an existing account (docs/api.md, "Identities and linking").
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
}

/// What the login route needs to build `authUrl`.
pub struct AuthRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_challenge: oauth2::PkceCodeChallenge,
    /// Ask the provider to let the user pick the account (`prompt=select_account`), so the
    /// flow cannot complete without them. Token mode sets it: its flows are bound to no
    /// browser, and a provider that approves a returning user silently would otherwise let a
    /// flow someone else started finish in the user's browser with no click at all.
    pub select_account: bool,
}

/// The authorization request's parameter that asks for the account chooser (OpenID Connect
/// Core 3.1.2.1; GitHub reads the same).
pub(crate) const SELECT_ACCOUNT: (&str, &str) = ("prompt", "select_account");

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the code (expired, replayed, issued to another client or flow).
    #[error("the provider rejected the authorization code")]
    CodeRejected(#[source] anyhow::Error),
    /// The ID token failed verification: signature, issuer, audience, expiry or nonce.
    #[error("the identity token is invalid")]
    InvalidIdToken(#[source] anyhow::Error),
    /// The token endpoint refused latchkey's request for how latchkey is registered with it
    /// (`invalid_client`, GitHub's `incorrect_client_credentials` or `redirect_uri_mismatch`,
    /// …: [`oauth_error`]'s table). A configuration error.
    #[error("the provider refused latchkey's request as latchkey is registered with it")]
    Misconfigured(Misconfiguration, #[source] anyhow::Error),
    /// The account has no verified email the provider will vouch for.
    #[error("the account has no verified email address")]
    NoVerifiedEmail,
    /// The provider failed, answered garbage or did not answer in time.
    #[error("the provider failed")]
    Unavailable(#[source] anyhow::Error),
}

pub enum Provider {
    Oidc(Box<OidcProvider>),
    Github(Box<GithubProvider>),
}

impl Provider {
    pub async fn authorize_url(&self, req: AuthRequest<'_>) -> Result<url::Url, ProviderError> {
        match self {
            Self::Oidc(p) => p.authorize_url(req).await,
            Self::Github(p) => Ok(p.authorize_url(req)),
        }
    }

    /// `{public_url}/auth/{name}/callback`: what the provider must have registered.
    pub fn redirect_uri(&self) -> &str {
        match self {
            Self::Oidc(p) => p.redirect_uri(),
            Self::Github(p) => p.redirect_uri(),
        }
    }

    pub async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, ProviderError> {
        match self {
            Self::Oidc(p) => p.identify(code, pkce_verifier, nonce).await,
            Self::Github(p) => p.identify(code, pkce_verifier).await,
        }
    }
}

/// The enabled providers by route name. A configured provider without a client id is absent,
/// and its routes answer 404 `provider_not_configured`.
#[derive(Clone, Default)]
pub struct Providers(Arc<HashMap<String, Provider>>);

impl Providers {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let http = http_client(settings.login.provider_timeout)?;
        let mut providers = HashMap::new();
        for (name, p) in &settings.providers {
            if !p.is_enabled() {
                continue;
            }
            let redirect = redirect_uri(&settings.server.public_url, name)
                .with_context(|| format!("providers.{name}: cannot build the redirect URI"))?;
            let provider = match settings.provider_kind(name) {
                Some(ProviderKind::Oidc) => Provider::Oidc(Box::new(OidcProvider::new(
                    name,
                    p,
                    redirect,
                    http.clone(),
                )?)),
                Some(ProviderKind::Github) => Provider::Github(Box::new(GithubProvider::new(
                    name,
                    p,
                    redirect,
                    http.clone(),
                )?)),
                None => anyhow::bail!("providers.{name}.kind: unknown"),
            };
            providers.insert(name.clone(), provider);
        }
        Ok(Self(Arc::new(providers)))
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.0.get(name)
    }

    /// The redirect URI the provider `name` must have registered, if it is on.
    pub fn redirect_uri(&self, name: &str) -> Option<&str> {
        self.get(name).map(Provider::redirect_uri)
    }
}

/// `{public_url}/auth/{provider}/callback` (docs/providers.md), also when `public_url` has a path:
/// `Url::join` alone would replace the path's last segment instead of appending to it.
fn redirect_uri(public_url: &url::Url, provider: &str) -> Result<url::Url, url::ParseError> {
    let mut base = public_url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(&format!("auth/{provider}/callback"))
}

/// `{public_url}/auth/complete`: the page a token-mode sign-in may always end on.
pub fn complete_uri(public_url: &url::Url) -> String {
    let path = public_url.path().trim_end_matches('/');
    let mut base = public_url.clone();
    base.set_path(&format!("{path}/auth/complete"));
    base.set_query(None);
    base.set_fragment(None);
    base.to_string()
}

/// One client for every provider call: bounded in time, and never following redirects (a
/// token endpoint that redirects is either misconfigured or an attempt at SSRF).
fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client for providers")
}

/// A code exchange at a token endpoint, remembering the HTTP status of its answer: `oauth2`
/// turns a failed answer into an error that no longer has it, and the log wants it.
pub(crate) struct Exchange<'a> {
    http: &'a reqwest::Client,
    status: AtomicU16,
}

impl<'a> Exchange<'a> {
    pub(crate) fn new(http: &'a reqwest::Client) -> Self {
        Self {
            http,
            status: AtomicU16::new(0),
        }
    }

    /// Sends one request, as `oauth2`'s client for reqwest does, and keeps the status.
    pub(crate) async fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, oauth2::HttpClientError<reqwest::Error>> {
        let answer = oauth2::AsyncHttpClient::call(self.http, request).await;
        if let Ok(response) = &answer {
            self.status
                .store(response.status().as_u16(), Ordering::Relaxed);
        }
        answer
    }

    /// How the token endpoint answered, for the log: `HTTP 401`, or that it did not.
    fn answered(&self) -> String {
        match self.status.load(Ordering::Relaxed) {
            0 => "no HTTP answer".to_owned(),
            status => format!("HTTP {status}"),
        }
    }

    /// Maps the exchange's failure: only `invalid_grant` (a code that is expired, used,
    /// issued to another client, or whose PKCE verifier does not match) is the client's
    /// fault; a refused client is our configuration's; anything else is the provider's.
    /// Every message names the endpoint's HTTP status and the provider's `error` and
    /// `error_description` where it sent them, never the code or a token.
    pub(crate) fn failure<RE, T>(
        &self,
        provider: &str,
        e: oauth2::RequestTokenError<RE, oauth2::StandardErrorResponse<T>>,
    ) -> ProviderError
    where
        RE: std::error::Error + 'static,
        T: oauth2::ErrorResponseType + std::fmt::Display,
    {
        use oauth2::RequestTokenError;
        let answered = self.answered();
        // The provider's words go to the log: shortened and cleaned like any outside text.
        let said = |error: &str, description: Option<&str>| {
            let error = loggable(error, 200);
            let description = description
                .map(|d| format!(" ({})", loggable(d, 200)))
                .unwrap_or_default();
            anyhow::anyhow!("{provider} token endpoint answered {answered}: {error}{description}")
        };
        match e {
            RequestTokenError::ServerResponse(r) => {
                let error = r.error().to_string();
                let message = said(&error, r.error_description().map(String::as_str));
                classify(&error, message)
            }
            // GitHub answers a refused exchange with 200 and an `error` field, which does not
            // parse as a token.
            RequestTokenError::Parse(_, body) if error_field(&body, "error").is_some() => {
                let error = error_field(&body, "error").unwrap_or_default();
                let description = error_field(&body, "error_description");
                let message = said(&error, description.as_deref());
                classify(&error, message)
            }
            other if is_timeout(&other) => {
                ProviderError::Unavailable(anyhow::anyhow!("{provider} token endpoint timed out"))
            }
            other => ProviderError::Unavailable(anyhow::anyhow!(
                "{provider} token endpoint answered {answered}: {}",
                error_chain(&other)
            )),
        }
    }
}

/// A token endpoint's `error` as one of [`ProviderError`]'s kinds, by the table the callback
/// reads too ([`oauth_error::classify`]).
fn classify(error: &str, message: anyhow::Error) -> ProviderError {
    use oauth_error::ErrorKind;
    match oauth_error::classify(error) {
        ErrorKind::CodeRejected => ProviderError::CodeRejected(message),
        ErrorKind::Misconfigured(what) => ProviderError::Misconfigured(what, message),
        ErrorKind::Cancelled | ErrorKind::ProviderFailed | ErrorKind::Unknown => {
            ProviderError::Unavailable(message)
        }
    }
}

/// A string field of a JSON body.
fn error_field(body: &[u8], name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

/// `true` when the error chain contains a reqwest timeout.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::redirect_uri;

    #[test]
    fn the_redirect_uri_extends_the_public_url() {
        let uri = |base: &str| {
            redirect_uri(&url::Url::parse(base).expect("a URL"), "google")
                .expect("a redirect URI")
                .to_string()
        };
        assert_eq!(
            uri("https://auth.example.com"),
            "https://auth.example.com/auth/google/callback"
        );
        assert_eq!(
            uri("https://auth.example.com/"),
            "https://auth.example.com/auth/google/callback"
        );
        assert_eq!(
            uri("https://example.com/latchkey"),
            "https://example.com/latchkey/auth/google/callback"
        );
        assert_eq!(
            uri("https://example.com/latchkey/"),
            "https://example.com/latchkey/auth/google/callback"
        );
    }
}
