//! An OpenID Connect provider (Google, or any `kind = "oidc"` provider): discovery, the
//! authorization code flow with PKCE and nonce, and full ID-token verification by the
//! `openidconnect` crate (signature against the issuer's JWKS, `iss`, `aud`, `exp`, nonce).

use std::time::{Duration, Instant};

use anyhow::anyhow;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeVerifier, RedirectUrl,
    Scope, SignatureVerificationError, TokenResponse,
};
use secrecy::ExposeSecret;
use tokio::sync::{Mutex, RwLock};

use super::{token_error, AuthRequest, Identity, ProviderError};
use crate::config::ProviderSettings;

/// The client `openidconnect` builds from a discovery document: authorization endpoint set,
/// token and userinfo endpoints as the document says.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long a discovery document is trusted before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// An ID token signed with a key we do not know triggers a JWKS refetch at most this often,
/// so that a stream of forged `kid`s cannot make us hammer the provider.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

pub struct OidcProvider {
    name: String,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: RwLock<Option<(CoreProviderMetadata, Instant)>>,
    last_jwks_refetch: Mutex<Option<Instant>>,
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
            metadata: RwLock::new(None),
            last_jwks_refetch: Mutex::new(None),
        })
    }

    /// The discovery document, fetched on first use and cached. `openidconnect` refuses a
    /// document whose `issuer` differs from the configured one.
    async fn metadata(&self) -> Result<CoreProviderMetadata, ProviderError> {
        if let Some((metadata, fetched)) = self.metadata.read().await.as_ref() {
            if fetched.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                ProviderError::Unavailable(anyhow!("{} discovery failed: {e}", self.name))
            })?;
        *self.metadata.write().await = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// Fetches the JWKS again after an ID token named a key we do not have (the provider
    /// rotated its keys), at most once per [`JWKS_REFETCH_INTERVAL`]. Returns whether new keys
    /// were fetched.
    async fn refetch_jwks(
        &self,
        metadata: &mut CoreProviderMetadata,
    ) -> Result<bool, ProviderError> {
        let mut last = self.last_jwks_refetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                ProviderError::Unavailable(anyhow!("{} JWKS fetch failed: {e}", self.name))
            })?;
        *metadata = metadata.clone().set_jwks(jwks);
        if let Some((cached, _)) = self.metadata.write().await.as_mut() {
            *cached = metadata.clone();
        }
        Ok(true)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Client {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    pub async fn authorize_url(&self, req: AuthRequest<'_>) -> Result<url::Url, ProviderError> {
        let client = self.client(self.metadata().await?);
        let (state, nonce) = (req.state.to_owned(), req.nonce.to_owned());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(req.pkce_challenge)
            .url();
        Ok(url)
    }

    pub async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, ProviderError> {
        let mut metadata = self.metadata().await?;
        let client = self.client(metadata.clone());
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Unavailable(e.into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(&self.name, e))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| ProviderError::InvalidIdToken(anyhow!("no id_token in the answer")))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match self.verify(&client, id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.refetch_jwks(&mut metadata).await? => {
                self.verify(&self.client(metadata), id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| ProviderError::InvalidIdToken(e.into()))?;
        Ok(self.identity(&claims))
    }

    fn verify(
        &self,
        client: &Client,
        id_token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        // `iss` must equal the configured issuer exactly. (Google also documents a scheme-less
        // `accounts.google.com`; openidconnect refuses it when parsing the claims, and Google's
        // code flow signs `https://accounts.google.com`. See docs/providers.md.)
        let verifier = client.id_token_verifier();
        Ok(id_token.claims(&verifier, nonce)?.clone())
    }

    fn identity(&self, claims: &CoreIdTokenClaims) -> Identity {
        Identity {
            provider: self.name.clone(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            picture: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_owned()),
        }
    }
}
