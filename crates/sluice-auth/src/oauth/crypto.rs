//! The few cryptographic operations the authorization server needs: random tokens,
//! SHA-256 hashes (tokens are stored only as hashes; PKCE S256), HMAC-SHA-256
//! signatures (cookies, consent forms) and constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in every token, code, state and key: 256 bits.
pub(crate) const TOKEN_BYTES: usize = 32;

/// `n` random bytes from the operating system.
///
/// # Errors
///
/// When the operating system has no randomness to give (then nothing is issued).
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, RandomError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(bytes)
}

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub(crate) struct RandomError;

/// A fresh token: `prefix` then 256 random bits, base64url. The prefix tells a person
/// (and secret scanners) what a leaked string is.
pub(crate) fn new_token(prefix: &str) -> Result<String, RandomError> {
    let bytes = random_bytes(TOKEN_BYTES)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// SHA-256 of `text`, lower-case hex: what the store keeps instead of a token.
pub(crate) fn hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The server's signing key (from `COOKIE_ENCRYPTION_KEY`, or generated and kept in the
/// token store). Never printed: its `Debug` says only that it is there.
#[derive(Clone)]
pub struct SigningKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// A key from a configured secret. Any text works; it is hashed into the key, so a
    /// long random value (`openssl rand -base64 32`) is what makes it strong.
    ///
    /// # Errors
    ///
    /// When `secret` is shorter than 16 bytes: too short to be a key.
    pub fn from_secret(secret: &str) -> Result<Self, KeyTooShort> {
        if secret.len() < 16 {
            return Err(KeyTooShort);
        }
        Ok(SigningKey {
            bytes: Sha256::digest(secret.as_bytes()).to_vec(),
        })
    }

    /// A key from raw bytes (as kept in the token store).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        SigningKey { bytes }
    }

    /// The signature of `purpose` and `data`, base64url. The purpose keeps a signature
    /// made for one use (a cookie) from being accepted for another (a form).
    pub(crate) fn sign(&self, purpose: &str, data: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, data))
    }

    /// True when `signature` is `sign(purpose, data)`, compared in constant time.
    pub(crate) fn verify(&self, purpose: &str, data: &str, signature: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        bool::from(self.mac(purpose, data).as_slice().ct_eq(&given))
    }

    /// `data` and its signature, joined by `.`.
    pub(crate) fn seal(&self, purpose: &str, data: &str) -> String {
        format!("{data}.{}", self.sign(purpose, data))
    }

    /// The data of a [`seal`](Self::seal)ed value whose signature holds.
    pub(crate) fn open<'a>(&self, purpose: &str, sealed: &'a str) -> Option<&'a str> {
        let (data, signature) = sealed.rsplit_once('.')?;
        self.verify(purpose, data, signature).then_some(data)
    }

    fn mac(&self, purpose: &str, data: &str) -> Vec<u8> {
        // new_from_slice accepts keys of any length for HMAC.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.bytes) else {
            return Vec::new();
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// A configured key is too short.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the cookie encryption key must be at least 16 bytes (use e.g. `openssl rand -base64 32`)")]
pub struct KeyTooShort;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn tokens_are_long_distinct_and_hashed() {
        let a = new_token("slc_at_").unwrap();
        let b = new_token("slc_at_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "slc_at_".len() + 43);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn seals_hold_only_for_their_purpose_and_key() {
        let key = SigningKey::from_secret("0123456789abcdef-a-test-key").unwrap();
        let other = SigningKey::from_secret("another key of enough length").unwrap();
        let sealed = key.seal("state", "abc");
        assert_eq!(key.open("state", &sealed), Some("abc"));
        assert_eq!(key.open("csrf", &sealed), None);
        assert_eq!(other.open("state", &sealed), None);
        assert_eq!(key.open("state", "abc.AAAA"), None);
        assert_eq!(key.open("state", "no-dot"), None);
        assert!(SigningKey::from_secret("short").is_err());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
