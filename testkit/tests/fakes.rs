//! The fake providers checked on their own, driven with reqwest as a client would: if these fail,
//! a sign-in test's failure says nothing about latchkey.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Response, StatusCode};
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

use testkit::fakes::github::GITHUB_CLIENT_ID;
use testkit::fakes::google::{hmac_sha256, WRONG_AUDIENCE, WRONG_ISSUER};
use testkit::fakes::{
    decode_jwt, DecodedJwt, FakeGitHub, FakeGoogle, GitHubEmail, GitHubUser, GoogleUser, Pkce,
    Tamper,
};
use testkit::http_client as client;

const REDIRECT: &str = "http://127.0.0.1:9/auth/google/callback";
const NONCE: &str = "nonce-abc";

// ---------------------------------------------------------------------------------------------
// Google

/// The authorization URL latchkey would build for this fake.
fn google_auth_url(fake: &FakeGoogle, pkce: &Pkce, state: &str) -> String {
    let mut url = Url::parse(&fake.authorize_endpoint()).expect("authorize endpoint is a URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", fake.client_id())
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email profile")
        .append_pair("state", state)
        .append_pair("nonce", NONCE)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Approves a fresh authorization request and returns its code.
async fn google_code(fake: &FakeGoogle, pkce: &Pkce) -> String {
    let callback = fake
        .approve(&google_auth_url(fake, pkce, "st"))
        .await
        .expect("consent succeeds");
    query(&callback, "code").expect("callback carries a code")
}

/// Exchanges a code with client_secret_basic, as openidconnect does by default.
async fn google_exchange(fake: &FakeGoogle, code: &str, verifier: &str) -> Response {
    client()
        .post(fake.token_endpoint())
        .basic_auth(fake.client_id(), Some(fake.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request")
}

async fn json(res: Response) -> Value {
    res.json().await.expect("a JSON body")
}

async fn get_json(url: &str) -> Value {
    json(client().get(url).send().await.expect("GET")).await
}

/// A complete sign-in, returning the decoded ID token.
async fn google_id_token(fake: &FakeGoogle) -> DecodedJwt {
    let pkce = Pkce::new();
    let code = google_code(fake, &pkce).await;
    let res = google_exchange(fake, &code, &pkce.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    decode_jwt(json(res).await["id_token"].as_str().expect("an id_token"))
}

/// Checks an RS256 signature against the key `/jwks` publishes under the token's `kid`.
async fn verifies_against_jwks(fake: &FakeGoogle, jwt: &DecodedJwt) -> bool {
    let jwks = get_json(&format!("{}/jwks", fake.issuer())).await;
    let Some(jwk) = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| jwt.header.get("kid").is_none_or(|kid| k["kid"] == *kid))
    else {
        return false;
    };
    let int = |field: &str| {
        BigUint::from_bytes_be(
            &URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().expect("n, e"))
                .expect("base64url"),
        )
    };
    let key = RsaPublicKey::new(int("n"), int("e")).expect("a valid RSA public key");
    let digest = Sha256::digest(jwt.signing_input.as_bytes());
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &jwt.signature)
        .is_ok()
}

#[tokio::test]
async fn google_discovery_names_its_endpoints() {
    let fake = FakeGoogle::start().await;
    let issuer = fake.issuer();
    let doc = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(doc["code_challenge_methods_supported"][0], "S256");

    fake.set_discovery_issuer(Some("https://elsewhere.example".into()));
    let doc = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], "https://elsewhere.example");

    drop(fake);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let gone = client().get(format!("{issuer}/jwks")).send().await;
    assert!(gone.is_err(), "a dropped fake stops listening");
}

#[tokio::test]
async fn google_code_flow_checks_pkce_and_burns_codes() {
    let fake = FakeGoogle::start().await;
    let pkce = Pkce::new();

    let callback = fake
        .approve(&google_auth_url(&fake, &pkce, "state-1"))
        .await
        .expect("consent succeeds");
    assert!(callback.as_str().starts_with(REDIRECT));
    assert_eq!(query(&callback, "state").as_deref(), Some("state-1"));
    let code = query(&callback, "code").expect("a code");

    let res = google_exchange(
        &fake,
        &code,
        "a-wrong-verifier-that-is-long-enough-0123456789",
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(res).await["error"], "invalid_grant");

    let code = google_code(&fake, &pkce).await;
    let res = google_exchange(&fake, &code, &pkce.verifier).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["token_type"], "Bearer");
    let jwt = decode_jwt(body["id_token"].as_str().expect("an id_token"));
    assert_eq!(jwt.header["alg"], "RS256");
    assert_eq!(jwt.header["kid"], fake.current_kid());
    assert!(verifies_against_jwks(&fake, &jwt).await);
    let user = GoogleUser::default();
    assert_eq!(jwt.claims["iss"], fake.issuer().as_str());
    assert_eq!(jwt.claims["aud"], fake.client_id());
    assert_eq!(jwt.claims["sub"], user.sub.as_str());
    assert_eq!(jwt.claims["nonce"], NONCE);
    assert_eq!(jwt.claims["email_verified"], true);

    let userinfo = client()
        .get(format!("{}/userinfo", fake.issuer()))
        .bearer_auth(body["access_token"].as_str().expect("an access token"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(json(userinfo).await["email"], user.email.as_str());

    let replay = google_exchange(&fake, &code, &pkce.verifier).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(replay).await["error"], "invalid_grant");
    assert_eq!(fake.token_requests(), 3);
}

#[tokio::test]
async fn google_deny_and_bad_requests() {
    let fake = FakeGoogle::start().await;
    let pkce = Pkce::new();
    let callback = fake
        .deny(&google_auth_url(&fake, &pkce, "state-2"))
        .await
        .expect("the deny link redirects");
    assert_eq!(query(&callback, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&callback, "state").as_deref(), Some("state-2"));
    assert_eq!(query(&callback, "code"), None);

    let plain = google_auth_url(&fake, &pkce, "s").replace("method=S256", "method=plain");
    let res = client().get(&plain).send().await.expect("authorize");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let wrong_client = google_auth_url(&fake, &pkce, "s").replace("google-client-id", "other");
    assert!(fake.approve(&wrong_client).await.is_err());
}

#[tokio::test]
async fn google_knobs_fail_and_delay_the_token_endpoint() {
    let fake = FakeGoogle::start().await;
    let pkce = Pkce::new();
    let code = google_code(&fake, &pkce).await;
    fake.set_token_failure(Some(500));
    fake.set_token_delay(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let res = google_exchange(&fake, &code, &pkce.verifier).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(started.elapsed() >= Duration::from_millis(300));

    fake.set_token_failure(None);
    fake.set_token_delay(Duration::ZERO);
    fake.set_id_token_issuer(Some("accounts.google.com".into()));
    assert_eq!(
        google_id_token(&fake).await.claims["iss"],
        "accounts.google.com"
    );
}

/// Each tamper produces exactly the defect it advertises.
#[tokio::test]
async fn google_tampers_forge_what_they_say() {
    let fake = FakeGoogle::start().await;
    for tamper in Tamper::ALL {
        fake.set_id_token_tamper(tamper);
        let jwt = google_id_token(&fake).await;
        let (claims, alg) = (&jwt.claims, jwt.header["alg"].as_str());
        let now = chrono::Utc::now().timestamp();
        let signed = alg == Some("RS256") && verifies_against_jwks(&fake, &jwt).await;
        match tamper {
            Tamper::None => assert!(signed && claims["nonce"] == NONCE),
            Tamper::WrongNonce => assert!(signed && claims["nonce"] != NONCE),
            Tamper::MissingNonce => assert!(signed && claims.get("nonce").is_none()),
            Tamper::WrongAudience => assert!(signed && claims["aud"] == WRONG_AUDIENCE),
            Tamper::WrongIssuer => assert!(signed && claims["iss"] == WRONG_ISSUER),
            Tamper::Expired => assert!(signed && claims["exp"].as_i64() < Some(now)),
            Tamper::BadSignature => assert!(alg == Some("RS256") && !signed),
            Tamper::Hs256WithPublicKey => {
                let mac = hmac_sha256(
                    fake.public_key_pem().as_bytes(),
                    jwt.signing_input.as_bytes(),
                );
                assert!(alg == Some("HS256") && jwt.signature == mac);
            }
            Tamper::AlgNone => assert!(alg == Some("none") && jwt.signature.is_empty()),
            Tamper::UnknownKid => {
                assert!(alg == Some("RS256") && jwt.header["kid"] != fake.current_kid() && !signed)
            }
            Tamper::MissingIssuer => assert!(signed && claims.get("iss").is_none()),
            Tamper::MissingExpiry => assert!(signed && claims.get("exp").is_none()),
            Tamper::MissingAudience => assert!(signed && claims.get("aud").is_none()),
            Tamper::MissingSubject => assert!(signed && claims.get("sub").is_none()),
            Tamper::MissingIssuedAt => assert!(signed && claims.get("iat").is_none()),
            Tamper::IssuerArray => assert!(signed && claims["iss"] == json!([fake.issuer()])),
            Tamper::ExtraAudience => {
                assert!(signed && claims["aud"] == json!([fake.client_id(), WRONG_AUDIENCE]))
            }
            Tamper::ForeignAzp => assert!(signed && claims["azp"] == WRONG_AUDIENCE),
            Tamper::JustExpired => {
                let exp = claims["exp"].as_i64().expect("exp");
                assert!(signed && exp < now && exp > now - 60)
            }
            Tamper::CritHeader => assert!(signed && jwt.header["crit"].is_array()),
            Tamper::NoKid => assert!(signed && jwt.header.get("kid").is_none()),
        }
    }
}

#[test]
fn hmac_matches_rfc_4231_test_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test]
async fn google_key_rotation_changes_kid_and_jwks() {
    let fake = FakeGoogle::start().await;
    let before = google_id_token(&fake).await;
    assert!(verifies_against_jwks(&fake, &before).await);
    assert_eq!(fake.jwks_requests(), 1);

    fake.rotate_keys();
    let after = google_id_token(&fake).await;
    assert_ne!(before.header["kid"], after.header["kid"]);
    assert!(verifies_against_jwks(&fake, &after).await);
    assert!(
        !verifies_against_jwks(&fake, &before).await,
        "the old key is no longer published"
    );
    assert_eq!(fake.jwks_requests(), 3);
}

// ---------------------------------------------------------------------------------------------
// GitHub

const GH_REDIRECT: &str = "http://127.0.0.1:9/auth/github/callback";

fn github_auth_url(fake: &FakeGitHub, pkce: &Pkce) -> String {
    let mut url = Url::parse(&fake.auth_url()).expect("auth URL is a URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", GITHUB_CLIENT_ID)
        .append_pair("redirect_uri", GH_REDIRECT)
        .append_pair("scope", "read:user user:email")
        .append_pair("state", "gh-state")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

/// Exchanges a code with client_secret_post and `Accept: application/json`.
async fn github_exchange(fake: &FakeGitHub, code: &str, verifier: &str) -> Value {
    let res = client()
        .post(fake.token_url())
        .header("Accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", fake.client_id()),
            ("client_secret", fake.client_secret()),
            ("code", code),
            ("redirect_uri", GH_REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "GitHub answers 200 even to a bad code"
    );
    json(res).await
}

async fn github_api(fake: &FakeGitHub, path: &str, token: Option<&str>, agent: bool) -> Response {
    let mut req = client().get(format!("{}{path}", fake.api_url()));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if agent {
        req = req.header("User-Agent", "latchkey-selftest");
    }
    req.send().await.expect("API request")
}

#[tokio::test]
async fn github_code_flow_and_user_api() {
    let fake = FakeGitHub::start().await;
    let user = GitHubUser {
        id: 42,
        name: None,
        public_email: None,
        emails: vec![GitHubEmail::new("dev@example.com", true, false)],
        ..GitHubUser::default()
    };
    fake.set_user(user);
    let pkce = Pkce::new();
    let callback = fake
        .approve(&github_auth_url(&fake, &pkce))
        .await
        .expect("consent");
    assert_eq!(query(&callback, "state").as_deref(), Some("gh-state"));
    let code = query(&callback, "code").expect("a code");

    let body = github_exchange(&fake, &code, &pkce.verifier).await;
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let replay = github_exchange(&fake, &code, &pkce.verifier).await;
    assert_eq!(replay["error"], "bad_verification_code");

    let me = json(github_api(&fake, "/user", Some(&token), true).await).await;
    assert_eq!(
        (me["id"].as_u64(), &me["name"], &me["email"]),
        (Some(42), &Value::Null, &Value::Null)
    );
    let emails = json(github_api(&fake, "/user/emails", Some(&token), true).await).await;
    assert_eq!(emails[0]["email"], "dev@example.com");
    assert_eq!(
        (&emails[0]["primary"], &emails[0]["verified"]),
        (&Value::Bool(true), &Value::Bool(false))
    );

    let no_agent = github_api(&fake, "/user", Some(&token), false).await;
    assert_eq!(no_agent.status(), StatusCode::FORBIDDEN);
    let no_token = github_api(&fake, "/user", None, true).await;
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    fake.set_api_failure(Some(502));
    let down = github_api(&fake, "/user/emails", Some(&token), true).await;
    assert_eq!(down.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn github_checks_pkce_and_denies() {
    let fake = FakeGitHub::start().await;
    let pkce = Pkce::new();
    let callback = fake
        .approve(&github_auth_url(&fake, &pkce))
        .await
        .expect("consent");
    let code = query(&callback, "code").expect("a code");
    let body = github_exchange(&fake, &code, &Pkce::new().verifier).await;
    assert_eq!(body["error"], "bad_verification_code");

    let denied = fake
        .deny(&github_auth_url(&fake, &pkce))
        .await
        .expect("the deny link redirects");
    assert_eq!(query(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&denied, "state").as_deref(), Some("gh-state"));
}
