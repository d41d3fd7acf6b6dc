//! Token mode's checks, apart from HTTP: what `GET /auth/{provider}/login?mode=token` must
//! carry, where the callback may send its one-time code, and the PKCE proof that
//! `POST /auth/token` verifies (docs/api.md, "Token mode").
//!
//! In token mode latchkey is the authorization server of an OAuth 2.0 flow for a native app
//! (the extension): the extension's PKCE challenge, not a cookie, binds the flow to it, and
//! the only places a code may go are the redirect URIs the operator registered.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest `state` an extension may pass through: enough for a nonce or a small JSON blob,
/// bounded so that it cannot bloat the stored flow or the redirect.
pub const MAX_CLIENT_STATE: usize = 512;

/// What the token-mode flow carries from its start to the callback, beside the provider's
/// own flow values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFlow {
    /// Exactly as registered: where the code (or the error) goes.
    pub redirect_uri: String,
    /// base64url(SHA-256(code_verifier)), the extension's.
    pub code_challenge: String,
    /// The extension's own `state`, given back beside the code.
    pub client_state: Option<String>,
}

/// What a token-mode start asks for, as it came.
pub struct TokenRequest<'a> {
    pub redirect_uri: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// Why a token-mode start is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRequestError {
    /// The redirect URI is missing or not exactly one of the allowed ones.
    InvalidRedirectUri,
    /// The challenge, its method or the client's `state` is missing or malformed.
    InvalidRequest(&'static str),
}

impl TokenRequest<'_> {
    /// Checks the request against `allowed` (the registered redirect URIs, and
    /// `{public_url}/auth/complete`): an exact string match, no prefix, no pattern, no
    /// normalisation, so that what was registered is the only place a code can go.
    pub fn check(&self, allowed: &[&str]) -> Result<TokenFlow, TokenRequestError> {
        let redirect_uri = self
            .redirect_uri
            .filter(|r| allowed.contains(r))
            .ok_or(TokenRequestError::InvalidRedirectUri)?;
        if self.code_challenge_method != Some("S256") {
            return Err(TokenRequestError::InvalidRequest(
                "code_challenge_method must be S256.",
            ));
        }
        let code_challenge =
            self.code_challenge
                .filter(|c| is_challenge(c))
                .ok_or(TokenRequestError::InvalidRequest(
                "code_challenge must be the base64url SHA-256 of a code verifier (43 characters).",
            ))?;
        if self.state.is_some_and(|s| !is_client_state(s)) {
            return Err(TokenRequestError::InvalidRequest(
                "state must be at most 512 printable ASCII characters.",
            ));
        }
        Ok(TokenFlow {
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: code_challenge.to_owned(),
            client_state: self.state.map(str::to_owned),
        })
    }
}

/// base64url without padding of 32 bytes: what SHA-256 of a verifier encodes to.
fn is_challenge(value: &str) -> bool {
    value.len() == 43
        && URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// RFC 7636's `code_verifier`: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn is_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn is_client_state(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CLIENT_STATE
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// Whether `verifier` is the one `challenge` was made from, compared in constant time.
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// `redirect_uri` with `params` appended to its query, URL-encoded. A registered URI may have
/// a query of its own (then `&` joins), never a fragment (configuration refuses one).
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let joint = match redirect_uri.rfind('?') {
        None => "?",
        Some(i) if i + 1 == redirect_uri.len() || redirect_uri.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{redirect_uri}{joint}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn request<'a>(r: &'a str, c: &'a str, m: &'a str, s: Option<&'a str>) -> TokenRequest<'a> {
        TokenRequest {
            redirect_uri: Some(r),
            code_challenge: Some(c),
            code_challenge_method: Some(m),
            state: s,
        }
    }

    #[test]
    fn rfc_7636s_example_verifies() {
        assert!(verifies(VERIFIER, CHALLENGE));
        assert!(!verifies(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(is_verifier(VERIFIER));
    }

    #[test]
    fn only_an_exact_registered_uri_is_allowed() {
        let allowed = ["https://abc.chromiumapp.org/"];
        let ok = request(allowed[0], CHALLENGE, "S256", Some("x y"));
        assert!(ok.check(&allowed).is_ok());
        for r in [
            "https://abc.chromiumapp.org",
            "https://ABC.chromiumapp.org/",
            "https://abc.chromiumapp.org/x",
            "https://abc.chromiumapp.org/?a=1",
            "https://abc.chromiumapp.org/#f",
            "http://abc.chromiumapp.org/",
            "https://abc.chromiumapp.org.evil.example/",
        ] {
            let bad = request(r, CHALLENGE, "S256", None);
            assert_eq!(
                bad.check(&allowed),
                Err(TokenRequestError::InvalidRedirectUri)
            );
        }
    }

    #[test]
    fn the_challenge_its_method_and_the_state_are_checked() {
        let allowed = ["https://a.example/"];
        for (c, m, s) in [
            (CHALLENGE, "plain", None),
            (CHALLENGE, "s256", None),
            (VERIFIER.get(..42).unwrap_or_default(), "S256", None),
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM", "S256", None),
            (CHALLENGE, "S256", Some("")),
            (CHALLENGE, "S256", Some("new\nline")),
        ] {
            let r = request(allowed[0], c, m, s);
            assert!(matches!(
                r.check(&allowed),
                Err(TokenRequestError::InvalidRequest(_))
            ));
        }
        let long = "s".repeat(MAX_CLIENT_STATE + 1);
        let r = request(allowed[0], CHALLENGE, "S256", Some(&long));
        assert!(r.check(&allowed).is_err());
    }

    #[test]
    fn the_code_is_appended_to_the_redirect_uri_encoded() {
        let params = [("code", "a-b_c"), ("state", "x y&z=1")];
        assert_eq!(
            redirect_to("https://a.example/", &params),
            "https://a.example/?code=a-b_c&state=x+y%26z%3D1"
        );
        assert_eq!(
            redirect_to("https://a.example/cb?app=1", &params[..1]),
            "https://a.example/cb?app=1&code=a-b_c"
        );
        assert_eq!(
            redirect_to("https://a.example/cb?", &params[..1]),
            "https://a.example/cb?code=a-b_c"
        );
    }
}
