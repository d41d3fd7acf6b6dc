//! Session tokens: what the cookie carries, and what Redis keeps instead of it.
//!
//! A token is `<user id, 32 hex>.<256 random bits, base64url>`. The user id is not a secret;
//! it is there so that every key of one user lands in one Redis Cluster hash slot, which lets
//! one script read the session and the user's profile in a single round trip. Only the
//! SHA-256 of the whole token is stored, so a copy of Redis yields no usable cookie.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::SysRng;
use rand::TryRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SECRET_BYTES: usize = 32;
/// base64url of 32 bytes, unpadded: a secret, and a session hash.
const SECRET_CHARS: usize = 43;
const USER_CHARS: usize = 32; // a UUID in its simple (hyphen-less) form

/// 256 bits from the operating system's CSPRNG, base64url without padding.
///
/// Panics only if the OS has no working random source, in which case no secure session can be
/// issued at all.
pub fn random_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `value` has the shape of what [`random_secret`] draws and [`SessionHash::encode`]
/// writes: exactly 43 characters of the URL-safe base64 alphabet, no padding. Every value of
/// ours that a client sends back (session secret, CSRF token, login `state`, binding cookie)
/// is checked with this before anything is looked up, so a hostile value never reaches Redis.
pub fn is_well_formed_secret(value: &str) -> bool {
    value.len() == SECRET_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lowercase hex digits only, as a user id in its simple form and a public id are written.
fn is_lower_hex(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The secret value of a session cookie. Never logged, never stored.
pub struct SessionToken {
    user_id: Uuid,
    value: SecretString,
}

impl SessionToken {
    pub fn generate(user_id: Uuid) -> Self {
        let value = format!("{}.{}", user_id.simple(), random_secret());
        Self {
            user_id,
            value: value.into(),
        }
    }

    /// Parses a cookie value strictly: anything that is not exactly the shape we issue is
    /// rejected before it reaches Redis.
    pub fn parse(raw: &str) -> Option<Self> {
        let (user, secret) = raw.split_once('.')?;
        if user.len() != USER_CHARS || !is_lower_hex(user) || !is_well_formed_secret(secret) {
            return None;
        }
        let user_id = Uuid::try_parse(user).ok()?;
        Some(Self {
            user_id,
            value: raw.to_owned().into(),
        })
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn hash(&self) -> SessionHash {
        SessionHash(Sha256::digest(self.value.expose_secret().as_bytes()).into())
    }

    /// The cookie value, for the one place that writes the cookie.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionToken")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a session token: the session's identity at rest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHash([u8; 32]);

impl SessionHash {
    /// The length of [`SessionHash::encode`]'s answer: base64url of 32 bytes, unpadded.
    pub const ENCODED_LEN: usize = SECRET_CHARS;

    /// The form used in Redis keys and index entries: base64url without padding, 43
    /// characters where hex would take 64. Every session costs the hash twice (its key and
    /// its index entry), so the 21 characters count in the bytes per session.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// [`SessionHash::encode`] appended to `out`, for building a key in one allocation.
    pub fn encode_to(&self, out: &mut String) {
        URL_SAFE_NO_PAD.encode_string(self.0, out);
    }

    /// The inverse of [`SessionHash::encode`], and nothing else: exactly 43 characters of the
    /// URL-safe alphabet, no padding, and unused low bits zero, so that one hash has exactly
    /// one spelling and a key or index entry names at most one session.
    pub fn decode(encoded: &str) -> Option<Self> {
        if !is_well_formed_secret(encoded) {
            return None;
        }
        // The engine rejects non-zero trailing bits (a second spelling of the same bytes).
        let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The id shown to users and operators: the first 16 hex digits of the hash. It names a
    /// session without being usable as one, since the hash cannot be turned back into a token.
    pub fn public_id(&self) -> PublicId {
        PublicId(hex::encode(&self.0[..8]))
    }
}

impl std::fmt::Debug for SessionHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionHash({})", self.public_id().0)
    }
}

/// A session's public id (16 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PublicId(String);

impl PublicId {
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == 16 && is_lower_hex(raw);
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PublicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_differ() {
        let user = Uuid::new_v4();
        let a = SessionToken::generate(user);
        let b = SessionToken::generate(user);
        assert_ne!(a.expose(), b.expose());
        let parsed = SessionToken::parse(a.expose()).expect("own token parses");
        assert_eq!(parsed.user_id(), user);
        assert!(parsed.hash() == a.hash());
    }

    #[test]
    fn secret_carries_256_bits() {
        let token = SessionToken::generate(Uuid::new_v4());
        let secret = token
            .expose()
            .split_once('.')
            .map(|(_, s)| s)
            .unwrap_or_default();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(secret).map(|b| b.len()).ok(),
            Some(32)
        );
    }

    #[test]
    fn malformed_values_are_rejected() {
        let good = SessionToken::generate(Uuid::new_v4());
        let good = good.expose();
        for bad in [
            "",
            ".",
            "abc",
            &good[1..],
            &format!("{good}x"),
            &good.replace('.', "_"),
            &good.to_uppercase(),
            &format!("{}!{}", &good[..33], &good[34..]),
            "00000000000000000000000000000000.\u{fffd}\u{fffd}",
        ] {
            assert!(SessionToken::parse(bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn public_id_is_a_prefix_of_the_hash_not_of_the_token() {
        let token = SessionToken::generate(Uuid::new_v4());
        let id = token.hash().public_id();
        assert_eq!(id.as_str().len(), 16);
        assert!(!token.expose().contains(id.as_str()));
        assert!(PublicId::parse(id.as_str()).is_some());
        assert!(PublicId::parse("ABCDEF0123456789").is_none());
    }

    #[test]
    fn hashes_are_43_base64url_characters_and_decode_strictly() {
        let hash = SessionToken::generate(Uuid::new_v4()).hash();
        let encoded = hash.encode();
        assert_eq!(encoded.len(), 43);
        assert!(SessionHash::decode(&encoded) == Some(hash));
        // The public id does not depend on the encoding: the first 8 bytes in hex.
        assert_eq!(hash.public_id().as_str(), hex::encode(&hash.0[..8]));

        let zero = SessionHash([0; 32]).encode();
        assert_eq!(zero, "A".repeat(43));
        for bad in [
            String::new(),
            encoded[..42].to_owned(),
            format!("{encoded}A"),
            format!("{encoded}="),
            hex::encode(hash.0),
            format!("{}+", &encoded[..42]),
            format!("{}/", &encoded[..42]),
            format!("{} ", &encoded[..42]),
            format!("{}é", &encoded[..41]),
            // 43 characters carry 258 bits: a last character with a low bit set would be a
            // second spelling of some hash.
            format!("{}B", &zero[..42]),
        ] {
            assert!(SessionHash::decode(&bad).is_none(), "accepted {bad:?}");
        }
    }

    #[test]
    fn well_formed_secrets_are_exactly_what_we_draw_and_hash() {
        let secret = random_secret();
        assert!(is_well_formed_secret(&secret));
        assert!(is_well_formed_secret(
            &SessionToken::generate(Uuid::new_v4()).hash().encode()
        ));
        for bad in [
            String::new(),
            secret[..42].to_owned(),
            format!("{secret}A"),
            format!("{}=", &secret[..42]),
            format!("{}+", &secret[..42]),
            format!("{}/", &secret[..42]),
            format!("{}.", &secret[..42]),
            format!("{}é", &secret[..41]),
        ] {
            assert!(!is_well_formed_secret(&bad), "accepted {bad:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = SessionToken::generate(Uuid::new_v4());
        let secret = token
            .expose()
            .split_once('.')
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default();
        assert!(!format!("{token:?}").contains(&secret));
    }
}
