//! Fake identity providers for the sign-in tests: real HTTP servers on `127.0.0.1:0` inside the
//! test process, so latchkey talks to them exactly as it talks to Google and GitHub (discovery,
//! consent redirects, code exchange, JWKS, user APIs), while the tests turn knobs on them.
//!
//! - [`google::FakeGoogle`]: an OpenID Connect provider that signs RS256 ID tokens with the key
//!   fixtures in `keys/`, and can hand out tampered tokens on request.
//! - [`github::FakeGitHub`]: a plain OAuth 2 provider with GitHub's quirks.
//! - [`openai::FakeOpenAi`]: an OpenAI-compatible chat-completions API for the vision proxy.
//!
//! This module holds what both share: the server bootstrap, the consent page and its driver
//! (`approve`/`deny`), single-use codes with PKCE, client authentication, and small helpers the
//! tests use to play the client's part (PKCE pairs, JWT decoding).
//!
//! `examples/fakes.rs` serves all three as one process for the browser tests in `e2e/`.

// The fakes run inside a test: a fake that cannot bind a loopback port or sign with its own
// committed key is a broken test environment, and the `expect` message says which. The same
// holds for the assertion helpers (`decode_jwt`) and for knobs set to a value no test means.
#![allow(clippy::expect_used)]

pub mod github;
pub mod google;
pub mod openai;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, ContentType};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

pub use github::{FakeGitHub, GitHubEmail, GitHubUser};
pub use google::{FakeGoogle, GoogleUser, Tamper};
pub use openai::FakeOpenAi;

// ---------------------------------------------------------------------------------------------
// Server bootstrap

/// A fake's listening socket, bound before its state is built because the state needs the
/// base URL (the issuer names itself in every document it serves).
pub(crate) struct Listener {
    socket: TcpListener,
    pub base_url: String,
}

impl Listener {
    pub fn bind() -> Self {
        let socket = TcpListener::bind("127.0.0.1:0").expect("bind a port for a fake provider");
        let port = socket
            .local_addr()
            .expect("the fake's local address")
            .port();
        Self {
            socket,
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Serves `routes` with `state` as `web::Data<S>` on one worker (plenty for tests, and the
    /// machine is small), without signal handlers (the test process owns those), and spawns the
    /// server on the current tokio runtime.
    pub fn serve<S: Send + Sync + 'static>(
        self,
        state: Arc<S>,
        routes: fn(&mut web::ServiceConfig),
    ) -> Running {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(Arc::clone(&state)))
                .configure(routes)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(self.socket)
        .expect("a fake provider listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Running(handle)
    }
}

/// Stops the fake's server when the fake is dropped, so a test's ports and worker thread do
/// not outlive it.
pub(crate) struct Running(ServerHandle);

impl Drop for Running {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only waits for completion, which a
        // dropping test has no reason to wait for.
        let _completion = self.0.stop(false);
    }
}

/// Locks a fake's state. A panicking handler must not turn every later request into a second
/// panic, so a poisoned lock is simply taken over.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A failure a test injected into an endpoint: waits `delay`, then gives the status to answer
/// with instead of working, if any.
pub(crate) async fn injected_failure(
    delay: std::time::Duration,
    failure: Option<u16>,
) -> Option<actix_web::http::StatusCode> {
    tokio::time::sleep(delay).await;
    failure.map(|status| {
        actix_web::http::StatusCode::from_u16(status)
            .expect("a valid HTTP status for a failure knob")
    })
}

/// An unguessable value for codes and access tokens.
pub(crate) fn random_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// A client that, like latchkey's own, never follows redirects: the consent step must hand the
/// callback URL back to the test instead of calling latchkey itself, and a test sees latchkey's
/// own redirects as they are.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client for a fake provider")
}

// ---------------------------------------------------------------------------------------------
// The authorization request and the consent page

/// The query of an authorization request (and of the decision that follows it). Every field is
/// optional so that a missing one yields our own clear 400 rather than a deserializer message.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizeQuery {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub decision: Option<String>,
}

/// An authorization request that passed the checks both providers make.
pub(crate) struct ValidAuthorize {
    pub client_id: String,
    pub redirect_uri: Url,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

impl AuthorizeQuery {
    /// The checks both fakes make: our client id, an absolute redirect URI, and PKCE with S256
    /// (latchkey always sends S256; `plain` would let a stolen code be redeemed).
    pub fn validate(&self, client_id: &str) -> Result<ValidAuthorize, String> {
        if self.client_id.as_deref() != Some(client_id) {
            return Err(format!("unknown client_id {:?}", self.client_id));
        }
        let redirect_uri = self
            .redirect_uri
            .as_deref()
            .ok_or("redirect_uri is missing")?;
        let redirect_uri = Url::parse(redirect_uri)
            .map_err(|e| format!("redirect_uri {redirect_uri:?} is not an absolute URL: {e}"))?;
        if self.code_challenge_method.as_deref() != Some("S256") {
            return Err(format!(
                "code_challenge_method must be S256, got {:?}",
                self.code_challenge_method
            ));
        }
        let code_challenge = match self.code_challenge.as_deref() {
            Some(c) if !c.is_empty() => c.to_owned(),
            _ => return Err("code_challenge is missing".into()),
        };
        Ok(ValidAuthorize {
            client_id: client_id.to_owned(),
            redirect_uri,
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            code_challenge,
        })
    }
}

/// What the user chose on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// The consent page: two links (`#allow`, `#deny`) to `decide_path` carrying the original query
/// plus `decision`, so a browser test can click them and [`drive_consent`] can follow them.
pub(crate) fn consent_page(
    provider: &str,
    decide_path: &str,
    req: &HttpRequest,
    who: &str,
) -> HttpResponse {
    let link = |d: Decision| {
        let href = format!(
            "{decide_path}?{}&decision={}",
            req.query_string(),
            d.as_str()
        );
        format!(
            r#"<a id="{id}" role="button" href="{href}">{label}</a>"#,
            id = d.as_str(),
            href = html_escape(&href),
            label = if d == Decision::Allow {
                "Allow"
            } else {
                "Deny"
            },
        )
    };
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Sign in with {provider}</title></head>\n\
         <body><h1>Sign in with {provider} (fake)</h1>\n\
         <p>latchkey wants to know who you are: <strong>{who}</strong>.</p>\n\
         <p>{allow} {deny}</p></body></html>\n",
        provider = html_escape(provider),
        who = html_escape(who),
        allow = link(Decision::Allow),
        deny = link(Decision::Deny),
    );
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(body)
}

/// The answer to an authorization request when the fake approves by itself (`make demo`): a
/// redirect straight to the decision "allow", as if the user had clicked it at once.
pub(crate) fn auto_approve(decide_path: &str, req: &HttpRequest) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("{decide_path}?{}&decision=allow", req.query_string()),
        ))
        .finish()
}

/// The answer to a decision: back to the client's redirect URI with either the code or
/// `error=access_denied`, and the client's `state` in both cases.
pub(crate) fn decision_redirect(valid: &ValidAuthorize, outcome: Result<&str, ()>) -> HttpResponse {
    let mut target = valid.redirect_uri.clone();
    {
        let mut query = target.query_pairs_mut();
        match outcome {
            Ok(code) => query.append_pair("code", code),
            Err(()) => query.append_pair("error", "access_denied"),
        };
        if let Some(state) = &valid.state {
            query.append_pair("state", state);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.as_str()))
        .finish()
}

/// A plain-text 400 for a bad authorization request. Per RFC 6749 §4.1.2.1 an invalid client or
/// redirect URI must not be redirected to, so the fakes show the error instead.
pub(crate) fn bad_request(reason: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type(ContentType::plaintext())
        .body(format!("invalid authorization request: {reason}\n"))
}

/// Plays the user on the consent page: opens `auth_url` (which must point at `authorize_endpoint`),
/// follows the `#allow` or `#deny` link, and returns the callback URL from the final redirect
/// without following it, so the test can decide when and with which cookies to call latchkey.
pub(crate) async fn drive_consent(
    http: &reqwest::Client,
    auth_url: &str,
    authorize_endpoint: &str,
    decision: Decision,
) -> Result<Url, String> {
    let auth_url =
        Url::parse(auth_url).map_err(|e| format!("authUrl {auth_url:?} is not a URL: {e}"))?;
    let mut endpoint = auth_url.clone();
    endpoint.set_query(None);
    endpoint.set_fragment(None);
    if endpoint.as_str() != authorize_endpoint {
        return Err(format!(
            "authUrl {endpoint} is not the fake's {authorize_endpoint}"
        ));
    }

    let page = http
        .get(auth_url.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = page.status();
    let body = page.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("the consent page answered {status}: {body}"));
    }
    let href = link_href(&body, decision.as_str())
        .ok_or_else(|| format!("the consent page has no #{} link", decision.as_str()))?;
    let decide = auth_url.join(&href).map_err(|e| e.to_string())?;

    let res = http.get(decide).send().await.map_err(|e| e.to_string())?;
    if res.status() != reqwest::StatusCode::FOUND {
        let status = res.status();
        return Err(format!(
            "the decision answered {status}: {}",
            res.text().await.unwrap_or_default()
        ));
    }
    let location = res
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("the decision redirect has no Location")?;
    Url::parse(location).map_err(|e| format!("Location {location:?} is not a URL: {e}"))
}

/// The `href` of the link with `id` on a page rendered by [`consent_page`].
fn link_href(html: &str, id: &str) -> Option<String> {
    let marker = format!(r#"id="{id}" role="button" href=""#);
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html_unescape(&html[start..start + len]))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html_unescape(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------------
// Codes, PKCE and the token request

/// What a code was issued for; redeeming it must present the same client, redirect URI and
/// the verifier of the challenge. `user` is whoever the test had chosen when consent was given.
#[derive(Debug, Clone)]
pub(crate) struct Grant<U> {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub user: U,
}

/// Outstanding authorization codes.
#[derive(Debug)]
pub(crate) struct Codes<U>(HashMap<String, Grant<U>>);

impl<U> Default for Codes<U> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<U> Codes<U> {
    pub fn issue(&mut self, code: String, grant: Grant<U>) {
        self.0.insert(code, grant);
    }

    /// Redeems a code. Any attempt burns it, right or wrong, as a strict provider does: a code
    /// is good for one try only, so a replay after a failed guess fails too.
    pub fn redeem(
        &mut self,
        code: Option<&str>,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<Grant<U>, &'static str> {
        let grant = code
            .and_then(|c| self.0.remove(c))
            .ok_or("the code is unknown or was already used")?;
        if grant.client_id != client_id {
            return Err("the code was issued to another client");
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err("redirect_uri does not match the authorization request");
        }
        match code_verifier {
            Some(v) if pkce_challenge(v) == grant.code_challenge => Ok(grant),
            Some(_) => Err("code_verifier does not match the code_challenge"),
            None => Err("code_verifier is missing"),
        }
    }
}

/// The form of a token request (RFC 6749 §4.1.3 plus PKCE's `code_verifier`).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl TokenForm {
    /// True when the request authenticates as `id`/`secret`, by HTTP Basic
    /// (`client_secret_basic`) or in the form (`client_secret_post`): clients pick either.
    pub fn authenticates(&self, req: &HttpRequest, id: &str, secret: &str) -> bool {
        let in_form =
            self.client_id.as_deref() == Some(id) && self.client_secret.as_deref() == Some(secret);
        in_form || basic_credentials(req).is_some_and(|(u, p)| u == id && p == secret)
    }
}

/// The user and password of an `Authorization: Basic` header. RFC 6749 §2.3.1 has both
/// form-urlencoded before base64; the fakes' ids and secrets need no encoding, so this decodes
/// them anyway only to accept clients that encode and clients that do not.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(user), unescape(password)))
}

/// The access token of an `Authorization: Bearer …` (or GitHub's `token …`) header.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    known.then(|| token.trim().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Helpers for tests that play the client

/// `BASE64URL(SHA256(verifier))`, the S256 code challenge (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE verifier and its S256 challenge, for tests that drive a fake without latchkey.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = random_token(); // 64 characters of [0-9a-f]: a valid verifier.
        let challenge = pkce_challenge(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// A compact JWS taken apart, without any verification: for asserting what a token says.
#[derive(Debug, Clone)]
pub struct DecodedJwt {
    pub header: Value,
    pub claims: Value,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

pub fn decode_jwt(token: &str) -> DecodedJwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three parts: {token}");
    let json = |part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(part).expect("JWT part is base64url");
        serde_json::from_slice(&bytes).expect("JWT part is JSON")
    };
    DecodedJwt {
        header: json(parts[0]),
        claims: json(parts[1]),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("JWT signature is base64url"),
    }
}
