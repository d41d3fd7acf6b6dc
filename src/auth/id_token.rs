//! ID-token verification (OpenID Connect Core §3.1.3.7), by the `jsonwebtoken` crate.
//!
//! The `openidconnect` crate still does discovery and builds the authorization request, but
//! its ID-token type parses `iss` as a URL, so a token carrying the scheme-less issuer that
//! Google documents (`accounts.google.com`) cannot even be read (ADR 0003). Here `iss` is
//! compared as a string against an explicit set, and everything else the specification asks
//! is checked: the signature against the provider's published keys, `aud` and `azp`, `exp`,
//! `iat` present, and the `nonce` of this flow. `jsonwebtoken` verifies signatures and the
//! registered claims; the OIDC policy around it is here, each rule with a test.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve as Curve, Jwk, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Asymmetric algorithms only. A symmetric one would turn the client secret, or worse a
/// published public key, into the verification key (key confusion); `none` is not an
/// algorithm `jsonwebtoken` can even parse.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The signing algorithms to accept from a provider: those its discovery document advertises
/// (`id_token_signing_alg_values_supported`) that are also in [`ALGORITHMS`].
pub fn accepted_algorithms<'a>(advertised: impl IntoIterator<Item = &'a str>) -> Vec<Algorithm> {
    advertised
        .into_iter()
        .filter_map(|name| Algorithm::from_str(name).ok())
        .filter(|alg| ALGORITHMS.contains(alg))
        .collect()
}

/// What this flow expects of the token.
pub struct Expected<'a> {
    /// Every accepted `iss`, compared exactly: no normalisation, no trailing-slash leniency.
    pub issuers: &'a [String],
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// From [`accepted_algorithms`].
    pub algorithms: &'a [Algorithm],
}

#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    /// No published key has the token's `kid`: the provider may have rotated its keys, which
    /// is worth one (rate-limited) JWKS refetch, and never a fallback to no check.
    #[error("no published key matches the ID token")]
    UnknownKey,
    #[error("the ID token is invalid: {0}")]
    Invalid(String),
}

/// The claims latchkey uses. Unknown claims are ignored; a required one missing, or of another
/// type (an array `iss`, a string `iat`), fails the token.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// A string, compared exactly here: `jsonwebtoken` alone would also take an array with one
    /// matching element.
    iss: String,
    /// Required by OIDC Core §2; its value is not otherwise checked.
    #[serde(rename = "iat")]
    _issued_at: f64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "strict_true")]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub picture: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verifies `token` against `keys` (the provider's JWKS) and returns its claims.
pub fn verify(token: &str, keys: &[Jwk], expected: &Expected<'_>) -> Result<Claims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
    check_header(&header, expected.algorithms)?;
    let jwk = signing_key(keys, header.kid.as_deref(), header.alg)?;
    let key = DecodingKey::from_jwk(jwk).map_err(invalid)?;

    // The crate checks the signature and `exp`. `iss`, `aud`, `sub` and `iat` are required by
    // `Claims` and their values checked below, once, more strictly than the crate would (an
    // `iss` array, an extra audience).
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    // The code was exchanged a moment ago for a token valid for minutes to hours: no leeway.
    validation.leeway = 0;
    let claims: Claims = jsonwebtoken::decode(token, &key, &validation)
        .map_err(invalid)?
        .claims;

    claims.check_issuer(expected.issuers)?;
    claims.check_audience(expected.client_id)?;
    claims.check_nonce(expected.nonce)?;
    Ok(claims)
}

/// An algorithm this provider signs with, and a plain signed JWT: no `crit` extension we would
/// have to understand (RFC 7515 §4.1.11), no nested or encrypted content.
fn check_header(header: &Header, algorithms: &[Algorithm]) -> Result<(), IdTokenError> {
    if !algorithms.contains(&header.alg) {
        return Err(IdTokenError::Invalid(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let plain_jwt = header
        .typ
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("application/jwt"));
    if header.crit.is_some()
        || header.cty.is_some()
        || header.enc.is_some()
        || header.zip.is_some()
        || !plain_jwt
    {
        return Err(IdTokenError::Invalid(
            "the header asks for processing latchkey does not do".into(),
        ));
    }
    Ok(())
}

impl Claims {
    fn check_issuer(&self, issuers: &[String]) -> Result<(), IdTokenError> {
        if issuers.contains(&self.iss) {
            Ok(())
        } else {
            Err(IdTokenError::Invalid("another issuer".into()))
        }
    }

    /// `jsonwebtoken` accepts a token when *any* audience matches; OIDC Core also rejects one
    /// that names audiences the client does not trust, and an `azp` naming another party.
    fn check_audience(&self, client_id: &str) -> Result<(), IdTokenError> {
        let only_us = match &self.aud {
            Audience::One(aud) => aud == client_id,
            Audience::Many(auds) => !auds.is_empty() && auds.iter().all(|a| a == client_id),
        };
        let azp_ok = self.azp.as_deref().is_none_or(|azp| azp == client_id);
        if only_us && azp_ok {
            Ok(())
        } else {
            Err(IdTokenError::Invalid(
                "the token is meant for another party".into(),
            ))
        }
    }

    /// The nonce binds the token to the flow this browser started; compared in constant time.
    fn check_nonce(&self, expected: &str) -> Result<(), IdTokenError> {
        let matches = self
            .nonce
            .as_deref()
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(expected.as_bytes())));
        if matches {
            Ok(())
        } else {
            Err(IdTokenError::Invalid("nonce missing or wrong".into()))
        }
    }
}

/// The one published key that may have signed a token with this `kid` and algorithm: meant
/// for signatures, of the algorithm's family, and declaring no other algorithm. Without a
/// `kid` the provider must publish exactly one such key.
fn signing_key<'k>(
    keys: &'k [Jwk],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'k Jwk, IdTokenError> {
    let mut candidates = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .filter(|k| can_sign_with(k, alg));
    match (candidates.next(), candidates.next()) {
        (Some(key), None) => Ok(key),
        (None, _) => Err(IdTokenError::UnknownKey),
        (Some(_), Some(_)) => Err(IdTokenError::Invalid(
            "several published keys match the token".into(),
        )),
    }
}

/// Also guards `jsonwebtoken` itself: its Ed25519 verifier slices the key to 32 bytes and
/// would panic on a shorter one from a provider's JWKS.
fn can_sign_with(key: &Jwk, alg: Algorithm) -> bool {
    let for_signing = key
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|u| *u == PublicKeyUse::Signature);
    let same_alg = key
        .common
        .key_algorithm
        .is_none_or(|a| a == KeyAlgorithm::from(alg));
    let fits = match (&key.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == Curve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == Curve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == Curve::Ed25519 && URL_SAFE_NO_PAD.decode(&p.x).is_ok_and(|x| x.len() == 32)
        }
        _ => false,
    };
    for_signing && same_alg && fits
}

/// The provider's JWKS as `jsonwebtoken` keys. A key this crate cannot represent (another
/// key type, an encryption key in an odd shape) is skipped rather than failing the whole set:
/// it could not have verified anything anyway.
pub fn keys_from_jwks(jwks: &serde_json::Value) -> Vec<Jwk> {
    jwks.get("keys")
        .and_then(serde_json::Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value(k.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Error kinds only: a message that quoted the token's contents could put claims in the log.
fn invalid(e: jsonwebtoken::errors::Error) -> IdTokenError {
    use jsonwebtoken::errors::ErrorKind;
    let what = match e.kind() {
        ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "it does not parse".to_owned()
        }
        other => format!("{other:?}"),
    };
    IdTokenError::Invalid(what)
}

/// `email_verified` decides whether a sign-in may join an existing account (docs/api.md, "Identities and linking"), so
/// only the specification's boolean `true` counts. Anything else (some providers send the
/// string `"true"`) reads as not verified: the sign-in still works, it just links nothing.
fn strict_true<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(serde_json::Value::deserialize(d)? == serde_json::Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_key(kid: &str, extra: serde_json::Value) -> Jwk {
        let mut key = json!({"kty": "RSA", "kid": kid, "n": "sXch", "e": "AQAB"});
        if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
            key.extend(extra.clone());
        }
        serde_json::from_value(key).expect("a JWK")
    }

    #[test]
    fn a_key_is_chosen_by_kid_use_algorithm_and_family() {
        let keys = [
            rsa_key("enc", json!({"use": "enc"})),
            rsa_key("ps", json!({"alg": "PS256"})),
            rsa_key("rs", json!({"use": "sig", "alg": "RS256"})),
        ];
        let kid = |k: &Jwk| k.common.key_id.clone();
        let pick = |kid: Option<&str>, alg| signing_key(&keys, kid, alg);
        assert_eq!(
            pick(Some("rs"), Algorithm::RS256).map(kid).ok(),
            Some(Some("rs".into()))
        );
        assert!(matches!(
            pick(Some("enc"), Algorithm::RS256),
            Err(IdTokenError::UnknownKey)
        ));
        assert!(matches!(
            pick(Some("ps"), Algorithm::RS256),
            Err(IdTokenError::UnknownKey)
        ));
        assert!(matches!(
            pick(Some("rs"), Algorithm::ES256),
            Err(IdTokenError::UnknownKey)
        ));
        // No kid: RS256 fits only "rs"; PS256 fits "ps" and nothing else.
        assert_eq!(
            pick(None, Algorithm::RS256).map(kid).ok(),
            Some(Some("rs".into()))
        );
        assert_eq!(
            pick(None, Algorithm::PS256).map(kid).ok(),
            Some(Some("ps".into()))
        );
    }

    #[test]
    fn without_a_kid_two_fitting_keys_are_ambiguous() {
        let keys = [rsa_key("a", json!({})), rsa_key("b", json!({}))];
        assert!(matches!(
            signing_key(&keys, None, Algorithm::RS256),
            Err(IdTokenError::Invalid(_))
        ));
    }

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "good", "n": "sXch", "e": "AQAB"},
            "not a key",
            42,
        ]});
        let keys = keys_from_jwks(&jwks);
        assert_eq!(keys.len(), 1);
        assert!(keys_from_jwks(&json!({"nothing": []})).is_empty());
    }

    /// Valid claims for client `me`, with `overrides` merged in (`null` removes a claim).
    fn claims_json(overrides: serde_json::Value) -> serde_json::Value {
        let mut claims =
            json!({"sub": "s", "iss": "https://issuer.example", "iat": 1, "aud": "me"});
        if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        claims
    }

    fn claims(overrides: serde_json::Value) -> Claims {
        serde_json::from_value(claims_json(overrides)).expect("claims")
    }

    #[test]
    fn required_claims_must_be_present_and_of_their_type() {
        let parses =
            |o: serde_json::Value| serde_json::from_value::<Claims>(claims_json(o)).is_ok();
        assert!(parses(json!({})));
        assert!(parses(json!({"iat": 1.5})));
        for broken in [
            json!({"iss": null}),
            json!({"iat": null}),
            json!({"sub": null}),
            json!({"aud": null}),
            json!({"iss": ["https://issuer.example"]}),
            json!({"iat": "1"}),
            json!({"aud": 1}),
        ] {
            assert!(!parses(broken.clone()), "{broken}");
        }
    }

    #[test]
    fn the_issuer_is_compared_exactly() {
        let issuers = [
            "https://issuer.example".to_owned(),
            "issuer.example".to_owned(),
        ];
        let ok = |iss: &str| claims(json!({"iss": iss})).check_issuer(&issuers).is_ok();
        assert!(ok("https://issuer.example"));
        assert!(ok("issuer.example"));
        for wrong in [
            "https://issuer.example/",
            "HTTPS://issuer.example",
            "http://issuer.example",
            "",
        ] {
            assert!(!ok(wrong), "{wrong}");
        }
    }

    #[test]
    fn every_audience_must_be_this_client() {
        let ok = |c: serde_json::Value| claims(c).check_audience("me").is_ok();
        assert!(ok(json!({})));
        assert!(ok(json!({"aud": ["me"], "azp": "me"})));
        assert!(!ok(json!({"aud": ["me", "them"]})));
        assert!(!ok(json!({"aud": []})));
        assert!(!ok(json!({"azp": "them"})));
    }

    #[test]
    fn the_nonce_must_be_present_and_equal() {
        let check = |c: serde_json::Value| claims(c).check_nonce("n-1").is_ok();
        assert!(check(json!({"nonce": "n-1"})));
        assert!(!check(json!({"nonce": "n-2"})));
        assert!(!check(json!({})));
    }

    #[test]
    fn only_a_boolean_true_verifies_an_email() {
        let verified = |v: serde_json::Value| claims(json!({"email_verified": v})).email_verified;
        assert!(verified(json!(true)));
        assert!(!verified(json!(false)));
        assert!(!verified(json!("true")));
        assert!(!verified(json!(1)));
        assert!(!claims(json!({})).email_verified);
    }

    #[test]
    fn only_advertised_asymmetric_algorithms_are_accepted() {
        assert_eq!(accepted_algorithms(["RS256"]), [Algorithm::RS256]);
        assert_eq!(
            accepted_algorithms(["HS256", "none", "RS256", "ES256", "nonsense"]),
            [Algorithm::RS256, Algorithm::ES256]
        );
        assert!(accepted_algorithms([]).is_empty());
    }

    #[test]
    fn headers_asking_for_more_than_a_signed_jwt_are_refused() {
        let ok = |h: serde_json::Value| {
            let header: Header = serde_json::from_value(h).expect("a header");
            check_header(&header, &[Algorithm::RS256]).is_ok()
        };
        assert!(ok(json!({"alg": "RS256"})));
        assert!(ok(json!({"alg": "RS256", "typ": "JWT"})));
        assert!(ok(json!({"alg": "RS256", "typ": "application/jwt"})));
        assert!(!ok(json!({"alg": "RS384"})));
        assert!(!ok(json!({"alg": "RS256", "typ": "at+jwt"})));
        assert!(!ok(json!({"alg": "RS256", "cty": "JWT"})));
        assert!(!ok(json!({"alg": "RS256", "crit": ["exp"]})));
    }

    #[test]
    fn curve_keys_must_match_the_algorithm_and_have_their_size() {
        let key = |v: serde_json::Value| serde_json::from_value::<Jwk>(v).expect("a JWK");
        let x32 = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let ed = |x: &str| key(json!({"kty": "OKP", "crv": "Ed25519", "x": x}));
        assert!(can_sign_with(&ed(&x32), Algorithm::EdDSA));
        assert!(
            !can_sign_with(&ed("AAAA"), Algorithm::EdDSA),
            "short: would panic"
        );
        let ec = |crv: &str| key(json!({"kty": "EC", "crv": crv, "x": x32, "y": x32}));
        assert!(can_sign_with(&ec("P-256"), Algorithm::ES256));
        assert!(!can_sign_with(&ec("P-256"), Algorithm::ES384));
        assert!(can_sign_with(&ec("P-384"), Algorithm::ES384));
        assert!(!can_sign_with(&ec("P-256"), Algorithm::RS256));
    }

    /// Throwaway PKCS#8 keys (`openssl genpkey … | openssl pkcs8 -topk8 -nocrypt -outform
    /// DER | base64`), for the curve algorithms no fake provider signs with. RS256 is signed
    /// for real by the fake Google of the integration tests.
    const P256_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg49QqqInJ6uzcrBGllYiZg2W+83quMMcC2Fzg0XR0OQWhRANCAAQEaYjEyLqj23xkmeaWgn83MUO3DAgTvMX6T44GRZLYEV6MMK4w3EbRpBsziNK77AkKRVP1ll5UFVdUjuyZlm0e";
    const P384_KEY: &str = "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAscvOvLVCn73hcvmnbKKFrj0qN3gWRugn/oPCEOJIGnLOiVTy/ql2Nhpa/WqoH9RKhZANiAATu81ykF4nFh4m4UrVGVcGvWHbuGP/Q9TffWonGJZcNAinEx2y0BUTN8C7YhS7PM69eDkfvwhSKU0gV3DmoTd/0jDNIf6xI63DbjgftgPEMN8Fh5+M0GA5zCG02evpsEDM=";
    const ED25519_KEY: &str = "MC4CAQAwBQYDK2VwBCIEIOS27YU+H+1AfWjkFqq0+cPRp4jzYKonLAbj/1jW2BIB";
    const ED25519_OTHER_KEY: &str =
        "MC4CAQAwBQYDK2VwBCIEIJHCMrDvR2hnegwmAm66h258AoWWd47P3upJ0jbbfvXh";

    fn signing(alg: Algorithm, pkcs8: &str) -> jsonwebtoken::EncodingKey {
        let der = base64::engine::general_purpose::STANDARD
            .decode(pkcs8)
            .expect("base64");
        match alg {
            Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_der(&der),
            _ => jsonwebtoken::EncodingKey::from_ec_der(&der),
        }
    }

    /// The JWK a provider would publish for `key`, under `kid`.
    fn published(key: &jsonwebtoken::EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(key, alg).expect("a public JWK");
        jwk.common.key_id = Some(kid.into());
        jwk
    }

    fn signed(key: &jsonwebtoken::EncodingKey, alg: Algorithm, kid: &str) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        let exp = chrono::Utc::now().timestamp() + 600;
        let claims = json!({"sub": "s", "iss": "https://issuer.example", "iat": 1,
            "exp": exp, "aud": "me", "nonce": "n"});
        jsonwebtoken::encode(&header, &claims, key).expect("a signed token")
    }

    #[test]
    fn curve_signatures_verify_with_the_published_key_and_no_other() {
        let expected = Expected {
            issuers: &["https://issuer.example".into()],
            client_id: "me",
            nonce: "n",
            algorithms: &ALGORITHMS,
        };
        let p256 = signing(Algorithm::ES256, P256_KEY);
        let p384 = signing(Algorithm::ES384, P384_KEY);
        let ed = signing(Algorithm::EdDSA, ED25519_KEY);
        let keys = [
            published(&p256, Algorithm::ES256, "p256"),
            published(&p384, Algorithm::ES384, "p384"),
            published(&ed, Algorithm::EdDSA, "ed"),
        ];
        for (key, alg, kid) in [
            (&p256, Algorithm::ES256, "p256"),
            (&p384, Algorithm::ES384, "p384"),
            (&ed, Algorithm::EdDSA, "ed"),
        ] {
            let claims = verify(&signed(key, alg, kid), &keys, &expected);
            assert_eq!(claims.map(|c| c.sub).ok().as_deref(), Some("s"), "{alg:?}");
        }

        // Another party's key under a published kid: the signature does not verify.
        let other = signing(Algorithm::EdDSA, ED25519_OTHER_KEY);
        let forged = verify(&signed(&other, Algorithm::EdDSA, "ed"), &keys, &expected);
        assert!(
            matches!(forged, Err(IdTokenError::Invalid(_))),
            "{forged:?}"
        );
        // A kid naming a key of another curve is no key for this algorithm.
        let crossed = verify(&signed(&p256, Algorithm::ES256, "p384"), &keys, &expected);
        assert!(
            matches!(crossed, Err(IdTokenError::UnknownKey)),
            "{crossed:?}"
        );
        // Only the advertised algorithms: ES256 is refused where only RS256 is accepted.
        let rs256_only = Expected {
            algorithms: &[Algorithm::RS256],
            ..expected
        };
        let refused = verify(&signed(&p256, Algorithm::ES256, "p256"), &keys, &rs256_only);
        assert!(
            matches!(refused, Err(IdTokenError::Invalid(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn alg_none_and_symmetric_algorithms_are_refused_before_any_key_lookup() {
        let token = |header: serde_json::Value| {
            use base64::Engine;
            let b64 = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            format!("{}.{}.c2ln", b64(&header), b64(&json!({"sub": "s"})))
        };
        let expected = Expected {
            issuers: &["https://issuer.example".into()],
            client_id: "me",
            nonce: "n",
            algorithms: &ALGORITHMS,
        };
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "HS256"}),
            json!({"alg": "HS512", "kid": "k"}),
        ] {
            let result = verify(&token(header.clone()), &[], &expected);
            assert!(
                matches!(result, Err(IdTokenError::Invalid(_))),
                "{header}: {result:?}"
            );
        }
    }
}
