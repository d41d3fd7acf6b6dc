//! Token mode as an extension without cookies drives it: a PKCE pair, `authUrl` with
//! `mode=token`, consent at the fake provider, the callback's redirect with a code, and the
//! exchange at `POST /auth/token`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, Response};
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

use super::browser::Browser;
use super::config::TestConfig;
use super::response::json;
use super::world::World;

/// Chromium's `identity.launchWebAuthFlow` redirect URI of an extension.
pub const CHROMIUM_REDIRECT: &str = "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/";
/// A registered redirect URI with a query of its own.
pub const QUERY_REDIRECT: &str = "https://app.example/signed-in?from=latchkey";
/// The page that is always allowed, for the tests' `server.public_url` (the default).
pub const COMPLETE_PAGE: &str = "http://localhost:8080/auth/complete";
/// A Firefox install's origin: random, on no allowlist.
pub const FIREFOX_ORIGIN: &str = "moz-extension://0b7e3c52-5f8e-4d1a-9c1e-1d2f3a4b5c6d";

/// The registered redirect URIs of [`token_world`].
pub fn with_redirect_uris(c: TestConfig) -> TestConfig {
    c.set(
        "LATCHKEY__EXTENSIONS__REDIRECT_URIS",
        &format!("{CHROMIUM_REDIRECT},{QUERY_REDIRECT}"),
    )
}

/// The app and the fake providers, with [`CHROMIUM_REDIRECT`] and [`QUERY_REDIRECT`]
/// registered.
pub async fn token_world() -> World {
    World::start_with(with_redirect_uris).await
}

/// A client of token mode: no cookie ever, a random extension origin.
pub fn firefox() -> Browser {
    Browser {
        origin: Some(FIREFOX_ORIGIN.into()),
        ..Browser::default()
    }
}

/// An RFC 7636 verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = format!("{}~{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// `GET /auth/{provider}/login?mode=token&…` with exactly `params` after `mode=token`.
pub async fn token_login(
    world: &World,
    client: &mut Browser,
    provider: &str,
    params: &[(&str, &str)],
) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("mode", "token");
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let path = format!("/auth/{provider}/login?{}", query.finish());
    world.app.send(client, Method::GET, &path, &[]).await
}

/// A whole token-mode sign-in up to the callback's answer (not followed).
pub async fn callback_for(
    world: &World,
    client: &mut Browser,
    provider: &str,
    redirect_uri: &str,
    pkce: &Pkce,
    state: Option<&str>,
) -> Response {
    let mut params = vec![
        ("redirect_uri", redirect_uri),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    let res = token_login(world, client, provider, &params).await;
    assert_eq!(res.status(), 200, "token-mode login for {provider}");
    let auth_url = json(res).await["authUrl"]
        .as_str()
        .expect("authUrl")
        .to_owned();
    let callback = match provider {
        "github" => world.github.approve(&auth_url).await,
        _ => world.google.approve(&auth_url).await,
    }
    .expect("consent");
    world.callback(client, &callback).await
}

/// The `Location` of a callback's 302, parsed.
pub fn location(res: &Response) -> Url {
    assert_eq!(res.status(), 302, "the callback redirects");
    let raw = res.headers()["location"].to_str().expect("Location");
    Url::parse(raw).expect("Location is a URL")
}

/// A query parameter of `url`.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A one-time code from a Google sign-in sent to [`CHROMIUM_REDIRECT`].
pub async fn code_for(world: &World, pkce: &Pkce) -> String {
    let res = callback_for(
        world,
        &mut firefox(),
        "google",
        CHROMIUM_REDIRECT,
        pkce,
        None,
    )
    .await;
    param(&location(&res), "code").expect("a code")
}

/// `POST /auth/token` with `body` as JSON, from `origin`.
pub async fn exchange_raw(world: &World, origin: Option<&str>, body: &str) -> Response {
    let mut req = testkit::http_client()
        .request(Method::POST, world.app.url("/auth/token"))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(origin) = origin {
        req = req.header("Origin", origin);
    }
    req.send().await.expect("request reaches the app")
}

/// `POST /auth/token` with `code` and `verifier`, from a Firefox extension.
pub async fn exchange(world: &World, code: &str, verifier: &str) -> Response {
    let body = serde_json::json!({"code": code, "code_verifier": verifier}).to_string();
    exchange_raw(world, Some(FIREFOX_ORIGIN), &body).await
}
