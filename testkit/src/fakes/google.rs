//! A fake Google: an OpenID Connect provider with discovery, a consent page, a token endpoint
//! that checks PKCE and hands out RS256 ID tokens, JWKS and userinfo. Its knobs break exactly
//! one thing at a time (a failing or slow token endpoint, a forged ID token, another issuer,
//! rotated keys) so each test can show latchkey refuses that one thing.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    auto_approve, bad_request, bearer_token, consent_page, decision_redirect, drive_consent,
    http_client, injected_failure, lock, random_token, AuthorizeQuery, Codes, Decision, Grant,
    Listener, Running, TokenForm,
};

/// The client id latchkey must be configured with (`providers.google.client_id`).
pub const GOOGLE_CLIENT_ID: &str = "google-client-id";
/// The client secret latchkey must be configured with (`providers.google.client_secret`).
pub const GOOGLE_CLIENT_SECRET: &str = "google-client-secret";

const SCOPE: &str = "openid email profile";
const TOKEN_LIFETIME_SECS: i64 = 3600;

// ---------------------------------------------------------------------------------------------
// Signing keys

/// One of the two committed RSA key fixtures, with the id it is published under.
pub struct SigningKey {
    pub kid: &'static str,
    key: RsaPrivateKey,
}

/// Parsed once per test process: parsing and checking a 2048-bit key is slow in debug builds.
static KEYS: LazyLock<[SigningKey; 2]> = LazyLock::new(|| {
    let parse = |kid, pem| SigningKey {
        kid,
        key: RsaPrivateKey::from_pkcs8_pem(pem).expect("the key fixture is a PKCS#8 RSA key"),
    };
    [
        parse("fake-google-key-1", include_str!("keys/signing-key-1.pem")),
        parse("fake-google-key-2", include_str!("keys/signing-key-2.pem")),
    ]
});

impl SigningKey {
    /// RS256: RSASSA-PKCS1-v1_5 over SHA-256.
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        self.key
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input))
            .expect("RSA signing with a valid key")
    }

    /// The public half as a JWK (RFC 7517/7518): `n` and `e` as unsigned big-endian base64url.
    fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(self.key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(self.key.e().to_bytes_be()),
        })
    }

    /// The public key as SPKI PEM: what a key-confusion attacker feeds to HMAC.
    pub fn public_key_pem(&self) -> String {
        self.key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM-encode a public key")
    }
}

/// HMAC-SHA256 (RFC 2104), written out because only the `Hs256WithPublicKey` forgery needs it.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

// ---------------------------------------------------------------------------------------------
// Users and knobs

/// Who consents on the fake's page; the claims of the ID token and of `/userinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub picture: String,
}

impl Default for GoogleUser {
    fn default() -> Self {
        Self {
            sub: "108234567890123456789".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            name: "Alice Example".into(),
            picture: "https://lh3.example.com/a/alice.png".into(),
        }
    }
}

/// One defect to put into the next ID tokens; each is something latchkey must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tamper {
    #[default]
    None,
    /// `nonce` differs from the one in the authorization request.
    WrongNonce,
    /// No `nonce` claim at all.
    MissingNonce,
    /// `aud` names another client.
    WrongAudience,
    /// `iss` names another issuer.
    WrongIssuer,
    /// `iat` two hours and `exp` one hour in the past.
    Expired,
    /// A valid RS256 token with one byte of the signature flipped.
    BadSignature,
    /// Key confusion: `alg: HS256`, HMAC keyed with the published RSA public key's PEM.
    Hs256WithPublicKey,
    /// `alg: none` and an empty signature.
    AlgNone,
    /// Signed with the key that `/jwks` does not publish, under that key's `kid`.
    UnknownKid,
    /// No `iss` claim.
    MissingIssuer,
    /// No `exp` claim.
    MissingExpiry,
    /// No `aud` claim.
    MissingAudience,
    /// No `sub` claim.
    MissingSubject,
    /// No `iat` claim.
    MissingIssuedAt,
    /// `iss` as an array holding the right issuer.
    IssuerArray,
    /// `aud` names this client and another.
    ExtraAudience,
    /// `azp` names another client.
    ForeignAzp,
    /// `exp` five seconds in the past (no leeway is granted).
    JustExpired,
    /// A `crit` header naming an extension latchkey does not implement.
    CritHeader,
    /// Not a defect: no `kid` in the header, which is fine while one key is published.
    NoKid,
}

impl Tamper {
    pub const ALL: [Tamper; 21] = [
        Tamper::None,
        Tamper::WrongNonce,
        Tamper::MissingNonce,
        Tamper::WrongAudience,
        Tamper::WrongIssuer,
        Tamper::Expired,
        Tamper::BadSignature,
        Tamper::Hs256WithPublicKey,
        Tamper::AlgNone,
        Tamper::UnknownKid,
        Tamper::MissingIssuer,
        Tamper::MissingExpiry,
        Tamper::MissingAudience,
        Tamper::MissingSubject,
        Tamper::MissingIssuedAt,
        Tamper::IssuerArray,
        Tamper::ExtraAudience,
        Tamper::ForeignAzp,
        Tamper::JustExpired,
        Tamper::CritHeader,
        Tamper::NoKid,
    ];

    /// Whether latchkey must refuse a token with this tamper.
    pub fn is_defect(self) -> bool {
        !matches!(self, Tamper::None | Tamper::NoKid)
    }
}

/// The `iss` that [`Tamper::WrongIssuer`] puts into tokens.
pub const WRONG_ISSUER: &str = "https://issuer.invalid";
/// The `aud` that [`Tamper::WrongAudience`] puts into tokens.
pub const WRONG_AUDIENCE: &str = "someone-elses-client-id";

#[derive(Default)]
struct Knobs {
    /// Consent is given without showing the consent page (`make demo`).
    auto_approve: bool,
    user: GoogleUser,
    token_failure: Option<u16>,
    token_delay: Duration,
    tamper: Tamper,
    discovery_issuer: Option<String>,
    id_token_issuer: Option<String>,
    /// Index into [`KEYS`] of the key that signs and is published.
    current_key: usize,
    token_requests: usize,
    jwks_requests: usize,
    codes: Codes<GoogleUser>,
    access_tokens: HashMap<String, GoogleUser>,
}

struct State {
    issuer: String,
    knobs: Mutex<Knobs>,
}

// ---------------------------------------------------------------------------------------------
// The fake

/// A running fake Google. Dropping it stops the server.
pub struct FakeGoogle {
    state: Arc<State>,
    http: reqwest::Client,
    _server: Running,
}

impl FakeGoogle {
    pub async fn start() -> Self {
        let listener = Listener::bind();
        let state = Arc::new(State {
            issuer: listener.base_url.clone(),
            knobs: Mutex::new(Knobs::default()),
        });
        LazyLock::force(&KEYS);
        let server = listener.serve(Arc::clone(&state), routes);
        Self {
            state,
            http: http_client(),
            _server: server,
        }
    }

    /// The base URL, which is also the issuer: `http://127.0.0.1:PORT`, no trailing slash.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    pub fn client_id(&self) -> &'static str {
        GOOGLE_CLIENT_ID
    }

    pub fn client_secret(&self) -> &'static str {
        GOOGLE_CLIENT_SECRET
    }

    pub fn authorize_endpoint(&self) -> String {
        format!("{}/authorize", self.state.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.state.issuer)
    }

    /// The configuration that points latchkey at this fake, as `LATCHKEY__…` variables.
    pub fn config_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LATCHKEY__PROVIDERS__GOOGLE__ISSUER", self.issuer()),
            (
                "LATCHKEY__PROVIDERS__GOOGLE__CLIENT_ID",
                GOOGLE_CLIENT_ID.into(),
            ),
            (
                "LATCHKEY__PROVIDERS__GOOGLE__CLIENT_SECRET",
                GOOGLE_CLIENT_SECRET.into(),
            ),
        ]
    }

    /// The same fake as latchkey's generic OpenID Connect provider `name` (`kind = "oidc"`).
    pub fn config_vars_as_oidc(&self, name: &str) -> Vec<(String, String)> {
        let key = |k: &str| format!("LATCHKEY__PROVIDERS__{}__{k}", name.to_uppercase());
        vec![
            (key("KIND"), "oidc".into()),
            (key("ISSUER"), self.issuer()),
            (key("CLIENT_ID"), GOOGLE_CLIENT_ID.into()),
            (key("CLIENT_SECRET"), GOOGLE_CLIENT_SECRET.into()),
        ]
    }

    /// Consents as the current user to latchkey's `authUrl`; returns the callback URL (with
    /// `code` and `state`) that the provider redirects the browser to.
    pub async fn approve(&self, auth_url: &str) -> Result<Url, String> {
        drive_consent(
            &self.http,
            auth_url,
            &self.authorize_endpoint(),
            Decision::Allow,
        )
        .await
    }

    /// Refuses consent; returns the callback URL with `error=access_denied` and `state`.
    pub async fn deny(&self, auth_url: &str) -> Result<Url, String> {
        drive_consent(
            &self.http,
            auth_url,
            &self.authorize_endpoint(),
            Decision::Deny,
        )
        .await
    }

    /// `true`: every authorization request is approved at once, as the current user, without
    /// the consent page (the demo's fakes, for people and for clients without a browser).
    pub fn set_auto_approve(&self, on: bool) {
        lock(&self.state.knobs).auto_approve = on;
    }

    /// Chooses who consents next (codes already issued keep their user).
    pub fn set_user(&self, user: GoogleUser) {
        self.knobs().user = user;
    }

    pub fn user(&self) -> GoogleUser {
        self.knobs().user.clone()
    }

    /// `Some(status)`: `/token` answers that status; `None`: it works again.
    pub fn set_token_failure(&self, status: Option<u16>) {
        self.knobs().token_failure = status;
    }

    /// `/token` waits this long before answering (for latchkey's client timeout).
    pub fn set_token_delay(&self, delay: Duration) {
        self.knobs().token_delay = delay;
    }

    pub fn set_id_token_tamper(&self, tamper: Tamper) {
        self.knobs().tamper = tamper;
    }

    /// The `issuer` that the discovery document names (the endpoints stay on this fake).
    pub fn set_discovery_issuer(&self, issuer: Option<String>) {
        self.knobs().discovery_issuer = issuer;
    }

    /// The `iss` claim of ID tokens, e.g. `accounts.google.com` without a scheme, as real Google
    /// sometimes sends.
    pub fn set_id_token_issuer(&self, issuer: Option<String>) {
        self.knobs().id_token_issuer = issuer;
    }

    /// Swaps the signing key: from now on tokens are signed with the other fixture and `/jwks`
    /// publishes only that one (the first call moves from key 1 to key 2, a second one back).
    pub fn rotate_keys(&self) {
        let mut knobs = self.knobs();
        knobs.current_key = 1 - knobs.current_key;
    }

    /// The `kid` that signs now and that `/jwks` publishes.
    pub fn current_kid(&self) -> &'static str {
        KEYS[self.knobs().current_key].kid
    }

    /// The current key's public PEM (the HMAC key of [`Tamper::Hs256WithPublicKey`]).
    pub fn public_key_pem(&self) -> String {
        KEYS[self.knobs().current_key].public_key_pem()
    }

    /// How many requests `/jwks` has answered.
    pub fn jwks_requests(&self) -> usize {
        self.knobs().jwks_requests
    }

    /// How many requests reached `/token`, whatever their outcome.
    pub fn token_requests(&self) -> usize {
        self.knobs().token_requests
    }

    fn knobs(&self) -> std::sync::MutexGuard<'_, Knobs> {
        lock(&self.state.knobs)
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery),
    )
    .route("/authorize", web::get().to(authorize))
    .route("/authorize/decide", web::get().to(decide))
    .route("/token", web::post().to(token))
    .route("/jwks", web::get().to(jwks))
    .route("/userinfo", web::get().to(userinfo));
}

async fn discovery(state: web::Data<State>) -> HttpResponse {
    let base = &state.issuer;
    let issuer = lock(&state.knobs).discovery_issuer.clone();
    HttpResponse::Ok().json(json!({
        "issuer": issuer.as_deref().unwrap_or(base),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "iat", "iss", "name", "nonce", "picture", "sub"
        ],
    }))
}

/// Google's own checks on top of the shared ones: the code flow, and an `openid` scope (without
/// it there is no ID token to verify).
fn validate(query: &AuthorizeQuery) -> Result<super::ValidAuthorize, String> {
    if query.response_type.as_deref() != Some("code") {
        return Err(format!(
            "response_type must be code, got {:?}",
            query.response_type
        ));
    }
    let scopes = query.scope.as_deref().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(format!("scope must include openid, got {scopes:?}"));
    }
    query.validate(GOOGLE_CLIENT_ID)
}

async fn authorize(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<AuthorizeQuery>,
) -> HttpResponse {
    if let Err(reason) = validate(&query) {
        return bad_request(&reason);
    }
    let (auto, who) = {
        let knobs = lock(&state.knobs);
        (knobs.auto_approve, knobs.user.email.clone())
    };
    if auto {
        return auto_approve("/authorize/decide", &req);
    }
    consent_page("Google", "/authorize/decide", &req, &who)
}

async fn decide(state: web::Data<State>, query: web::Query<AuthorizeQuery>) -> HttpResponse {
    let valid = match validate(&query) {
        Ok(valid) => valid,
        Err(reason) => return bad_request(&reason),
    };
    if query.decision.as_deref() != Some("allow") {
        return decision_redirect(&valid, Err(()));
    }
    // Real Google codes contain a `/`, which the client must URL-encode correctly.
    let code = format!("4/0{}", random_token());
    let mut knobs = lock(&state.knobs);
    let grant = Grant {
        client_id: valid.client_id.clone(),
        redirect_uri: valid.redirect_uri.to_string(),
        code_challenge: valid.code_challenge.clone(),
        nonce: valid.nonce.clone(),
        user: knobs.user.clone(),
    };
    knobs.codes.issue(code.clone(), grant);
    decision_redirect(&valid, Ok(&code))
}

fn token_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": error, "error_description": description }))
}

async fn token(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let (delay, failure) = {
        let mut knobs = lock(&state.knobs);
        knobs.token_requests += 1;
        (knobs.token_delay, knobs.token_failure)
    };
    if let Some(status) = injected_failure(delay, failure).await {
        return token_error(status, "server_error", "failure injected by the test");
    }
    if !form.authenticates(&req, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET) {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        );
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "code flow only",
        );
    }

    let mut knobs = lock(&state.knobs);
    let grant = match knobs.codes.redeem(
        form.code.as_deref(),
        GOOGLE_CLIENT_ID,
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
    ) {
        Ok(grant) => grant,
        Err(why) => return token_error(StatusCode::BAD_REQUEST, "invalid_grant", why),
    };
    let access_token = format!("ya29.{}", random_token());
    knobs
        .access_tokens
        .insert(access_token.clone(), grant.user.clone());
    let id_token = id_token(&state.issuer, &knobs, &grant);
    HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "scope": SCOPE,
        "id_token": id_token,
    }))
}

async fn jwks(state: web::Data<State>) -> HttpResponse {
    let mut knobs = lock(&state.knobs);
    knobs.jwks_requests += 1;
    HttpResponse::Ok().json(json!({ "keys": [KEYS[knobs.current_key].jwk()] }))
}

async fn userinfo(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    let user = bearer_token(&req).and_then(|t| lock(&state.knobs).access_tokens.get(&t).cloned());
    match user {
        Some(user) => HttpResponse::Ok().json(user_claims(&user)),
        None => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
            .finish(),
    }
}

// ---------------------------------------------------------------------------------------------
// ID tokens

fn user_claims(user: &GoogleUser) -> Value {
    json!({
        "sub": user.sub,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
        "picture": user.picture,
    })
}

/// The ID token for a redeemed code, with whatever defect the tamper knob asks for.
fn id_token(issuer: &str, knobs: &Knobs, grant: &Grant<GoogleUser>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = user_claims(&grant.user);
    claims["iss"] = json!(knobs.id_token_issuer.as_deref().unwrap_or(issuer));
    claims["aud"] = json!(grant.client_id);
    claims["azp"] = json!(grant.client_id);
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + TOKEN_LIFETIME_SECS);
    if let Some(nonce) = &grant.nonce {
        claims["nonce"] = json!(nonce);
    }
    tamper_claims(knobs.tamper, &mut claims, now);
    sign(knobs.tamper, knobs.current_key, &claims)
}

fn tamper_claims(tamper: Tamper, claims: &mut Value, now: i64) {
    match tamper {
        Tamper::WrongNonce => {
            let nonce = claims["nonce"].as_str().unwrap_or("none");
            claims["nonce"] = json!(format!("not-{nonce}"));
        }
        Tamper::MissingNonce => remove(claims, "nonce"),
        Tamper::WrongAudience => claims["aud"] = json!(WRONG_AUDIENCE),
        Tamper::WrongIssuer => claims["iss"] = json!(WRONG_ISSUER),
        Tamper::Expired => {
            claims["iat"] = json!(now - 2 * TOKEN_LIFETIME_SECS);
            claims["exp"] = json!(now - TOKEN_LIFETIME_SECS);
        }
        Tamper::JustExpired => {
            claims["iat"] = json!(now - TOKEN_LIFETIME_SECS);
            claims["exp"] = json!(now - 5);
        }
        Tamper::MissingIssuer => remove(claims, "iss"),
        Tamper::MissingExpiry => remove(claims, "exp"),
        Tamper::MissingAudience => remove(claims, "aud"),
        Tamper::MissingSubject => remove(claims, "sub"),
        Tamper::MissingIssuedAt => remove(claims, "iat"),
        Tamper::IssuerArray => claims["iss"] = json!([claims["iss"].clone()]),
        Tamper::ExtraAudience => claims["aud"] = json!([claims["aud"].clone(), WRONG_AUDIENCE]),
        Tamper::ForeignAzp => claims["azp"] = json!(WRONG_AUDIENCE),
        _ => {}
    }
}

fn remove(claims: &mut Value, name: &str) {
    claims
        .as_object_mut()
        .expect("claims are an object")
        .remove(name);
}

/// Encodes and signs `claims` with the current key, or forges the signature as `tamper` says.
fn sign(tamper: Tamper, current_key: usize, claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let key = match tamper {
        Tamper::UnknownKid => &KEYS[1 - current_key],
        _ => &KEYS[current_key],
    };
    let header = match tamper {
        Tamper::AlgNone => json!({ "alg": "none", "typ": "JWT" }),
        Tamper::Hs256WithPublicKey => json!({ "alg": "HS256", "typ": "JWT", "kid": key.kid }),
        Tamper::CritHeader => {
            json!({ "alg": "RS256", "typ": "JWT", "kid": key.kid, "crit": ["urn:example:must"], "urn:example:must": true })
        }
        Tamper::NoKid => json!({ "alg": "RS256", "typ": "JWT" }),
        _ => json!({ "alg": "RS256", "typ": "JWT", "kid": key.kid }),
    };
    let input = format!("{}.{}", b64(&header), b64(claims));
    let signature = match tamper {
        Tamper::AlgNone => Vec::new(),
        Tamper::Hs256WithPublicKey => {
            hmac_sha256(key.public_key_pem().as_bytes(), input.as_bytes()).to_vec()
        }
        Tamper::BadSignature => {
            let mut signature = key.sign(input.as_bytes());
            signature[10] ^= 0x01;
            signature
        }
        _ => key.sign(input.as_bytes()),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
