//! GitHub: plain OAuth 2 with PKCE and `state`, then the REST API for the user and their
//! primary verified email (GitHub has no OpenID Connect for apps).

use anyhow::anyhow;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{AuthRequest, Exchange, Identity, ProviderError};
use crate::config::ProviderSettings;

pub struct GithubProvider {
    name: String,
    client_id: ClientId,
    client_secret: ClientSecret,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    api_url: url::Url,
    redirect: RedirectUrl,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    primary: bool,
    verified: bool,
}

impl GithubProvider {
    pub fn new(
        name: &str,
        settings: &ProviderSettings,
        redirect: url::Url,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let url = |key: &str, value: &Option<url::Url>| {
            value
                .clone()
                .ok_or_else(|| anyhow!("providers.{name}.{key} is required"))
        };
        let mut api_url = url("api_url", &settings.api_url)?;
        // `join` must append to the path, not replace its last segment.
        if !api_url.path().ends_with('/') {
            api_url.set_path(&format!("{}/", api_url.path()));
        }
        Ok(Self {
            name: name.to_owned(),
            client_id: ClientId::new(settings.client_id.clone().unwrap_or_default()),
            client_secret: ClientSecret::new(
                settings
                    .client_secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
                    .unwrap_or_default(),
            ),
            auth_url: AuthUrl::from_url(url("auth_url", &settings.auth_url)?),
            token_url: TokenUrl::from_url(url("token_url", &settings.token_url)?),
            api_url,
            redirect: RedirectUrl::from_url(redirect),
            http,
        })
    }

    fn client(
        &self,
    ) -> BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        BasicClient::new(self.client_id.clone())
            .set_client_secret(self.client_secret.clone())
            .set_auth_uri(self.auth_url.clone())
            .set_token_uri(self.token_url.clone())
            .set_redirect_uri(self.redirect.clone())
    }

    pub fn authorize_url(&self, req: AuthRequest<'_>) -> url::Url {
        let state = req.state.to_owned();
        let client = self.client();
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scope(Scope::new("read:user".into()))
            .add_scope(Scope::new("user:email".into()))
            .set_pkce_challenge(req.pkce_challenge);
        if req.select_account {
            request = request.add_extra_param(super::SELECT_ACCOUNT.0, super::SELECT_ACCOUNT.1);
        }
        let (url, _) = request.url();
        url
    }

    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    pub async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, ProviderError> {
        let exchange = Exchange::new(&self.http);
        let token = self
            .client()
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&|request| exchange.send(request))
            .await
            .map_err(|e| exchange.failure(&self.name, e))?;
        let access = token.access_token().secret();
        let user: User = self.api(access, "user").await?;
        let emails: Vec<Email> = self.api(access, "user/emails").await?;
        let email = emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .ok_or(ProviderError::NoVerifiedEmail)?;
        Ok(Identity {
            provider: self.name.clone(),
            subject: user.id.to_string(),
            email: Some(email.email),
            email_verified: true,
            name: user.name.filter(|n| !n.is_empty()).or(Some(user.login)),
            picture: user.avatar_url,
        })
    }

    async fn api<T: for<'de> Deserialize<'de>>(
        &self,
        token: &str,
        path: &str,
    ) -> Result<T, ProviderError> {
        let url = self
            .api_url
            .join(path)
            .map_err(|e| ProviderError::Unavailable(e.into()))?;
        let unavailable = |e: reqwest::Error| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            ProviderError::Unavailable(anyhow!("GitHub API {path} {what}"))
        };
        self.http
            .get(url)
            .bearer_auth(token)
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}
