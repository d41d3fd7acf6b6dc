//! An OpenID Connect provider (Google, or any `kind = "oidc"` provider): discovery and the
//! authorization request by the `openidconnect` crate (PKCE S256, `state`, `nonce`), the code
//! exchange by `oauth2`, and ID-token verification in [`super::id_token`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::Algorithm;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::StandardRevocableToken;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeVerifier, RedirectUrl, Scope,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use super::id_token::{self, Claims, Expected, IdTokenError};
use super::{AuthRequest, Exchange, Identity, ProviderError};
use crate::config::ProviderSettings;

/// The client `openidconnect` builds from a discovery document, for the authorization request.
type AuthClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The token endpoint's answer with the ID token kept as the compact JWT it arrived in:
/// `openidconnect`'s own response type would parse (and refuse) it before we can verify it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    id_token: Option<String>,
}
impl oauth2::ExtraTokenFields for IdTokenField {}

type TokenResponse = oauth2::StandardTokenResponse<IdTokenField, BasicTokenType>;

/// A plain OAuth 2 client for the code exchange, token endpoint only.
type TokenClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How long a discovery document is trusted before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// An ID token signed with a key we do not know triggers a JWKS refetch at most this often,
/// so that a stream of forged `kid`s cannot make us hammer the provider.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// A discovery document, the signing keys it led to, and the algorithms it advertises for ID
/// tokens that latchkey accepts.
#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    keys: Arc<Vec<Jwk>>,
    algorithms: Arc<Vec<Algorithm>>,
}

pub struct OidcProvider {
    name: String,
    issuer: IssuerUrl,
    /// Every `iss` an ID token may carry: the configured issuer, and for Google also its
    /// scheme-less form (see [`accepted_issuers`]).
    accepted_issuers: Vec<String>,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: RwLock<Option<(Discovered, Instant)>>,
    last_jwks_refetch: Mutex<Option<Instant>>,
}

/// Google documents that its ID tokens carry `iss` as either `https://accounts.google.com`
/// or `accounts.google.com`. For the provider named `google` exactly those two forms of the
/// configured issuer are accepted; every other provider gets exactly its issuer.
fn accepted_issuers(name: &str, issuer: &str) -> Vec<String> {
    let mut issuers = vec![issuer.to_owned()];
    if name == "google" {
        if let Some((_, bare)) = issuer.split_once("://") {
            issuers.push(bare.to_owned());
        }
    }
    issuers
}

impl OidcProvider {
    pub fn new(
        name: &str,
        settings: &ProviderSettings,
        redirect: url::Url,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let issuer_text = settings
            .issuer
            .clone()
            .ok_or_else(|| anyhow!("providers.{name}.issuer is required"))?;
        Ok(Self {
            name: name.to_owned(),
            accepted_issuers: accepted_issuers(name, &issuer_text),
            issuer: IssuerUrl::new(issuer_text)?,
            client_id: ClientId::new(settings.client_id.clone().unwrap_or_default()),
            client_secret: ClientSecret::new(
                settings
                    .client_secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
                    .unwrap_or_default(),
            ),
            redirect: RedirectUrl::from_url(redirect),
            http,
            discovered: RwLock::new(None),
            last_jwks_refetch: Mutex::new(None),
        })
    }

    /// The discovery document and keys, fetched on first use and cached. `openidconnect`
    /// refuses a document whose `issuer` differs from the configured one.
    async fn discovered(&self) -> Result<Discovered, ProviderError> {
        if let Some((discovered, fetched)) = self.discovered.read().await.as_ref() {
            if fetched.elapsed() < METADATA_TTL {
                return Ok(discovered.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                ProviderError::Unavailable(anyhow!("{} discovery failed: {e}", self.name))
            })?;
        let jwks = serde_json::to_value(metadata.jwks())
            .map_err(|e| ProviderError::Unavailable(e.into()))?;
        let advertised = serde_json::to_value(metadata.id_token_signing_alg_values_supported())
            .map_err(|e| ProviderError::Unavailable(e.into()))?;
        let advertised = advertised.as_array().into_iter().flatten();
        let discovered = Discovered {
            keys: Arc::new(id_token::keys_from_jwks(&jwks)),
            algorithms: Arc::new(id_token::accepted_algorithms(
                advertised.filter_map(serde_json::Value::as_str),
            )),
            metadata,
        };
        *self.discovered.write().await = Some((discovered.clone(), Instant::now()));
        Ok(discovered)
    }

    /// Fetches the JWKS again after an ID token named a key we do not have (the provider
    /// rotated its keys), at most once per [`JWKS_REFETCH_INTERVAL`]. Returns keys newer than
    /// the ones `discovered` holds, or `None` when there are none and a refetch is not allowed
    /// yet. Callbacks that meet the rotation together wait for the one refetch and then use
    /// its keys.
    async fn refetch_keys(
        &self,
        discovered: &Discovered,
    ) -> Result<Option<Arc<Vec<Jwk>>>, ProviderError> {
        let mut last = self.last_jwks_refetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            let cached = self.discovered.read().await;
            let newer = cached
                .as_ref()
                .map(|(current, _)| current.keys.clone())
                .filter(|keys| !Arc::ptr_eq(keys, &discovered.keys));
            return Ok(newer);
        }
        *last = Some(Instant::now());
        let failed =
            |what: &str| ProviderError::Unavailable(anyhow!("{} JWKS fetch {what}", self.name));
        let jwks: serde_json::Value = self
            .http
            .get(discovered.metadata.jwks_uri().url().clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|_| failed("failed"))?
            .json()
            .await
            .map_err(|_| failed("answered garbage"))?;
        let keys = Arc::new(id_token::keys_from_jwks(&jwks));
        if let Some((cached, _)) = self.discovered.write().await.as_mut() {
            cached.keys = keys.clone();
        }
        Ok(Some(keys))
    }

    pub async fn authorize_url(&self, req: AuthRequest<'_>) -> Result<url::Url, ProviderError> {
        let client: AuthClient = CoreClient::from_provider_metadata(
            self.discovered().await?.metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        let (state, nonce) = (req.state.to_owned(), req.nonce.to_owned());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(req.pkce_challenge);
        if req.select_account {
            request = request.add_extra_param(super::SELECT_ACCOUNT.0, super::SELECT_ACCOUNT.1);
        }
        let (url, _, _) = request.url();
        Ok(url)
    }

    fn token_client(&self, metadata: &CoreProviderMetadata) -> Result<TokenClient, ProviderError> {
        let token_url = metadata.token_endpoint().cloned().ok_or_else(|| {
            ProviderError::Unavailable(anyhow!("{} names no token endpoint", self.name))
        })?;
        Ok(oauth2::Client::new(self.client_id.clone())
            .set_client_secret(self.client_secret.clone())
            .set_token_uri(token_url)
            .set_redirect_uri(self.redirect.clone()))
    }

    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    pub async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, ProviderError> {
        let discovered = self.discovered().await?;
        let exchange = Exchange::new(&self.http);
        let token = self
            .token_client(&discovered.metadata)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&|request| exchange.send(request))
            .await
            .map_err(|e| exchange.failure(&self.name, e))?;
        let id_token =
            token.extra_fields().id_token.as_deref().ok_or_else(|| {
                ProviderError::InvalidIdToken(anyhow!("no id_token in the answer"))
            })?;
        let expected = Expected {
            issuers: &self.accepted_issuers,
            client_id: self.client_id.as_str(),
            nonce,
            algorithms: &discovered.algorithms,
        };
        let claims = match id_token::verify(id_token, &discovered.keys, &expected) {
            Err(IdTokenError::UnknownKey) => match self.refetch_keys(&discovered).await? {
                Some(keys) => id_token::verify(id_token, &keys, &expected),
                None => Err(IdTokenError::UnknownKey),
            },
            other => other,
        }
        .map_err(|e| ProviderError::InvalidIdToken(e.into()))?;
        Ok(self.identity(claims))
    }

    fn identity(&self, claims: Claims) -> Identity {
        Identity {
            provider: self.name.clone(),
            subject: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified,
            name: claims.name,
            picture: claims.picture,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::accepted_issuers;

    #[test]
    fn only_google_also_accepts_its_scheme_less_issuer() {
        assert_eq!(
            accepted_issuers("google", "https://accounts.google.com"),
            ["https://accounts.google.com", "accounts.google.com"]
        );
        assert_eq!(
            accepted_issuers("corp", "https://sso.example.com/realms/main"),
            ["https://sso.example.com/realms/main"]
        );
    }
}
