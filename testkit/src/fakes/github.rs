//! A fake GitHub: plain OAuth 2 (no ID token) with GitHub's quirks, which latchkey's client must
//! cope with:
//!
//! - the token endpoint answers JSON only when asked with `Accept: application/json` (otherwise
//!   a form-encoded body), and reports a bad code with **200** and an `error` field;
//! - the REST API refuses requests without a `User-Agent` header with 403;
//! - `/user` has the numeric `id` (the subject latchkey keys identities on), a `name` that may be
//!   null and only the *public* email; verified addresses come from `/user/emails`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use url::Url;

use super::{
    auto_approve, bad_request, bearer_token, consent_page, decision_redirect, drive_consent,
    http_client, injected_failure, lock, random_token, AuthorizeQuery, Codes, Decision, Grant,
    Listener, Running, TokenForm,
};

/// The client id latchkey must be configured with (`providers.github.client_id`).
pub const GITHUB_CLIENT_ID: &str = "github-client-id";
/// The client secret latchkey must be configured with (`providers.github.client_secret`).
pub const GITHUB_CLIENT_SECRET: &str = "github-client-secret";

const SCOPE: &str = "read:user,user:email";
const AUTHORIZE_PATH: &str = "/login/oauth/authorize";
const TOKEN_PATH: &str = "/login/oauth/access_token";

/// Who consents on the fake's page, as GitHub's `/user` and `/user/emails` describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUser {
    pub id: u64,
    pub login: String,
    /// GitHub users need not set a display name: `/user` then has `"name": null`.
    pub name: Option<String>,
    pub avatar_url: String,
    /// The address `/user` shows as `email` (null when the user keeps every address private).
    pub public_email: Option<String>,
    pub emails: Vec<GitHubEmail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

impl GitHubEmail {
    pub fn new(email: &str, primary: bool, verified: bool) -> Self {
        Self {
            email: email.into(),
            primary,
            verified,
        }
    }
}

impl Default for GitHubUser {
    fn default() -> Self {
        Self {
            id: 583231,
            login: "octocat".into(),
            name: Some("The Octocat".into()),
            avatar_url: "https://avatars.example.com/u/583231".into(),
            public_email: Some("octocat@example.com".into()),
            emails: vec![
                GitHubEmail::new("octocat@example.com", true, true),
                GitHubEmail::new("octocat@users.noreply.example.com", false, true),
            ],
        }
    }
}

#[derive(Default)]
struct Knobs {
    /// Consent is given without showing the consent page (`make demo`).
    auto_approve: bool,
    user: GitHubUser,
    token_failure: Option<u16>,
    /// The `error` and `error_description` the token endpoint answers instead of a token.
    token_error: Option<(String, String)>,
    token_delay: Duration,
    api_failure: Option<u16>,
    token_requests: usize,
    codes: Codes<GitHubUser>,
    access_tokens: HashMap<String, GitHubUser>,
}

struct State {
    knobs: Mutex<Knobs>,
}

/// A running fake GitHub. Dropping it stops the server.
pub struct FakeGitHub {
    base_url: String,
    state: Arc<State>,
    http: reqwest::Client,
    _server: Running,
}

impl FakeGitHub {
    pub async fn start() -> Self {
        let listener = Listener::bind();
        let base_url = listener.base_url.clone();
        let state = Arc::new(State {
            knobs: Mutex::new(Knobs::default()),
        });
        let server = listener.serve(Arc::clone(&state), routes);
        Self {
            base_url,
            state,
            http: http_client(),
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn auth_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.base_url)
    }

    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url)
    }

    /// The REST API base: `{api_url}/user` and `{api_url}/user/emails`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url)
    }

    pub fn client_id(&self) -> &'static str {
        GITHUB_CLIENT_ID
    }

    pub fn client_secret(&self) -> &'static str {
        GITHUB_CLIENT_SECRET
    }

    /// The configuration that points latchkey at this fake, as `LATCHKEY__…` variables.
    pub fn config_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "LATCHKEY__PROVIDERS__GITHUB__CLIENT_ID",
                GITHUB_CLIENT_ID.into(),
            ),
            (
                "LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET",
                GITHUB_CLIENT_SECRET.into(),
            ),
            ("LATCHKEY__PROVIDERS__GITHUB__AUTH_URL", self.auth_url()),
            ("LATCHKEY__PROVIDERS__GITHUB__TOKEN_URL", self.token_url()),
            ("LATCHKEY__PROVIDERS__GITHUB__API_URL", self.api_url()),
        ]
    }

    /// Consents as the current user to latchkey's `authUrl`; returns the callback URL (with
    /// `code` and `state`) that GitHub redirects the browser to.
    pub async fn approve(&self, auth_url: &str) -> Result<Url, String> {
        drive_consent(&self.http, auth_url, &self.auth_url(), Decision::Allow).await
    }

    /// Refuses consent; returns the callback URL with `error=access_denied` and `state`.
    pub async fn deny(&self, auth_url: &str) -> Result<Url, String> {
        drive_consent(&self.http, auth_url, &self.auth_url(), Decision::Deny).await
    }

    /// `true`: every authorization request is approved at once, as the current user, without
    /// the consent page (the demo's fakes, for people and for clients without a browser).
    pub fn set_auto_approve(&self, on: bool) {
        lock(&self.state.knobs).auto_approve = on;
    }

    /// Chooses who consents next (codes and tokens already issued keep their user).
    pub fn set_user(&self, user: GitHubUser) {
        lock(&self.state.knobs).user = user;
    }

    pub fn user(&self) -> GitHubUser {
        lock(&self.state.knobs).user.clone()
    }

    /// `Some(status)`: the token endpoint answers that status; `None`: it works again.
    pub fn set_token_failure(&self, status: Option<u16>) {
        lock(&self.state.knobs).token_failure = status;
    }

    /// `Some((error, description))`: the token endpoint answers 200 with these, as GitHub
    /// answers a refused exchange; `None`: it works again.
    pub fn set_token_error(&self, error: Option<(&str, &str)>) {
        lock(&self.state.knobs).token_error = error.map(|(e, d)| (e.to_owned(), d.to_owned()));
    }

    /// The token endpoint waits this long before answering (for latchkey's client timeout).
    pub fn set_token_delay(&self, delay: Duration) {
        lock(&self.state.knobs).token_delay = delay;
    }

    /// `Some(status)`: `/api/user` and `/api/user/emails` answer that status.
    pub fn set_api_failure(&self, status: Option<u16>) {
        lock(&self.state.knobs).api_failure = status;
    }

    /// How many requests reached the token endpoint, whatever their outcome.
    pub fn token_requests(&self) -> usize {
        lock(&self.state.knobs).token_requests
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(AUTHORIZE_PATH, web::get().to(authorize))
        .route("/login/oauth/authorize/decide", web::get().to(decide))
        .route(TOKEN_PATH, web::post().to(access_token))
        .route("/api/user", web::get().to(api_user))
        .route("/api/user/emails", web::get().to(api_emails));
}

async fn authorize(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<AuthorizeQuery>,
) -> HttpResponse {
    if let Err(reason) = query.validate(GITHUB_CLIENT_ID) {
        return bad_request(&reason);
    }
    let (auto, who) = {
        let knobs = lock(&state.knobs);
        (knobs.auto_approve, knobs.user.login.clone())
    };
    if auto {
        return auto_approve("/login/oauth/authorize/decide", &req);
    }
    consent_page("GitHub", "/login/oauth/authorize/decide", &req, &who)
}

async fn decide(state: web::Data<State>, query: web::Query<AuthorizeQuery>) -> HttpResponse {
    let valid = match query.validate(GITHUB_CLIENT_ID) {
        Ok(valid) => valid,
        Err(reason) => return bad_request(&reason),
    };
    if query.decision.as_deref() != Some("allow") {
        return decision_redirect(&valid, Err(()));
    }
    let code = random_token()[..20].to_owned();
    let mut knobs = lock(&state.knobs);
    let grant = Grant {
        client_id: valid.client_id.clone(),
        redirect_uri: valid.redirect_uri.to_string(),
        code_challenge: valid.code_challenge.clone(),
        nonce: None,
        user: knobs.user.clone(),
    };
    knobs.codes.issue(code.clone(), grant);
    decision_redirect(&valid, Ok(&code))
}

/// GitHub's token endpoint. Note that, as real GitHub does, a refused exchange (bad or reused
/// code, wrong verifier, wrong client) is answered **200** with an `error` field, so a client
/// that only checks the status will not notice; only an injected failure changes the status.
async fn access_token(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let (delay, failure, error) = {
        let mut knobs = lock(&state.knobs);
        knobs.token_requests += 1;
        (
            knobs.token_delay,
            knobs.token_failure,
            knobs.token_error.clone(),
        )
    };
    if let Some(status) = injected_failure(delay, failure).await {
        return HttpResponse::build(status).json(json!({ "message": "Server Error" }));
    }

    let wants_json = accepts_json(&req);
    if let Some((error, description)) = &error {
        return token_answer(
            wants_json,
            &[("error", error), ("error_description", description)],
        );
    }
    if !form.authenticates(&req, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET) {
        let why = "The client_id and/or client_secret passed are incorrect.";
        return token_answer(
            wants_json,
            &[
                ("error", "incorrect_client_credentials"),
                ("error_description", why),
            ],
        );
    }
    let mut knobs = lock(&state.knobs);
    let redeemed = knobs.codes.redeem(
        form.code.as_deref(),
        GITHUB_CLIENT_ID,
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
    );
    let grant = match redeemed {
        Ok(grant) => grant,
        Err(why) => {
            return token_answer(
                wants_json,
                &[
                    ("error", "bad_verification_code"),
                    ("error_description", why),
                ],
            )
        }
    };
    let token = format!("gho_{}", random_token());
    knobs.access_tokens.insert(token.clone(), grant.user);
    token_answer(
        wants_json,
        &[
            ("access_token", &token),
            ("token_type", "bearer"),
            ("scope", SCOPE),
        ],
    )
}

fn accepts_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A token-endpoint answer, always 200: JSON if asked for, else form-encoded like GitHub.
fn token_answer(json: bool, fields: &[(&str, &str)]) -> HttpResponse {
    if json {
        let object: serde_json::Map<_, _> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        return HttpResponse::Ok().json(object);
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    HttpResponse::Ok()
        .content_type(ContentType::form_url_encoded())
        .body(body)
}

/// The REST API's gatekeeping, in GitHub's order: a `User-Agent` (403 without one), then the
/// injected failure, then a known access token (401 `Bad credentials`).
// A handler helper: the error is the response to send, as actix handlers return.
#[allow(clippy::result_large_err)]
fn api_caller(state: &State, req: &HttpRequest) -> Result<GitHubUser, HttpResponse> {
    if !req.headers().contains_key(header::USER_AGENT) {
        return Err(HttpResponse::Forbidden().json(json!({
            "message": "Request forbidden by administrative rules. \
                        Please make sure your request has a User-Agent header."
        })));
    }
    let knobs = lock(&state.knobs);
    if let Some(status) = knobs.api_failure {
        let status = StatusCode::from_u16(status).expect("a valid HTTP status for the API knob");
        return Err(HttpResponse::build(status).json(json!({ "message": "Server Error" })));
    }
    bearer_token(req)
        .and_then(|t| knobs.access_tokens.get(&t).cloned())
        .ok_or_else(|| HttpResponse::Unauthorized().json(json!({ "message": "Bad credentials" })))
}

async fn api_user(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    match api_caller(&state, &req) {
        Ok(user) => HttpResponse::Ok().json(json!({
            "id": user.id,
            "login": user.login,
            "name": user.name,
            "avatar_url": user.avatar_url,
            "email": user.public_email,
        })),
        Err(refusal) => refusal,
    }
}

async fn api_emails(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    let user = match api_caller(&state, &req) {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let emails: Vec<_> = user
        .emails
        .iter()
        .map(|e| {
            let public = user.public_email.as_deref() == Some(e.email.as_str());
            let visibility = match (public, e.primary) {
                (true, _) => json!("public"),
                (false, true) => json!("private"),
                (false, false) => json!(null),
            };
            json!({
                "email": e.email,
                "primary": e.primary,
                "verified": e.verified,
                "visibility": visibility,
            })
        })
        .collect();
    HttpResponse::Ok().json(emails)
}
