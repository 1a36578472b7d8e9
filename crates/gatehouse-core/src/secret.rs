//! Secrets: the master secret, and the random bearer tokens Gatehouse hands out.
//!
//! The master secret is the one root key from which Gatehouse derives its signing and encryption
//! keys. It is parsed once at the edge (config) from base64 or hex and is then only ever a
//! [`MasterSecret`]: its `Debug` shows no bytes, it has no `Display`, and it refuses values that
//! are too short or obviously not random, so a placeholder cannot reach production.
//!
//! A [`RandomToken`] is 256 bits from the OS CSPRNG, written as 43 characters of unpadded base64url:
//! a session cookie, or the body of an API key. The server keeps only its [`TokenHash`].

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The smallest accepted master secret, in bytes (256 bits).
pub const MIN_MASTER_SECRET_BYTES: usize = 32;

/// Random bytes have many distinct values; 32 random bytes have about 28 on average and fewer than
/// 16 with vanishing probability. A value below this is a pattern ("aaaa…", "0101…"), not a secret.
const MIN_DISTINCT_BYTES: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct MasterSecret(Vec<u8>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterSecretError {
    #[error("is neither base64 nor hex")]
    NotEncoded,
    #[error("decodes to {0} bytes; at least {MIN_MASTER_SECRET_BYTES} random bytes are required")]
    TooShort(usize),
    #[error("is not random (too few distinct bytes); generate one with `openssl rand -base64 32`")]
    NotRandom,
}

impl MasterSecret {
    /// Parses a secret written as hex or as base64 (standard or URL-safe, padded or not).
    pub fn parse(encoded: &str) -> Result<Self, MasterSecretError> {
        let encoded = encoded.trim();
        let bytes = decode(encoded).ok_or(MasterSecretError::NotEncoded)?;
        Self::from_bytes(bytes)
    }

    /// Accepts raw bytes, for secrets Gatehouse generated itself.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, MasterSecretError> {
        if bytes.len() < MIN_MASTER_SECRET_BYTES {
            return Err(MasterSecretError::TooShort(bytes.len()));
        }
        let mut seen = [false; 256];
        for byte in &bytes {
            seen[usize::from(*byte)] = true;
        }
        if seen.iter().filter(|seen| **seen).count() < MIN_DISTINCT_BYTES {
            return Err(MasterSecretError::NotRandom);
        }
        Ok(Self(bytes))
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A 256-bit key for one purpose, derived with HKDF-SHA256; `purpose` names it and its version
    /// (`"csrf token v1"`), so keys for different jobs never coincide.
    pub fn derive_key(&self, purpose: &[u8]) -> [u8; 32] {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(b"gatehouse"), &self.0);
        let mut key = [0_u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit; expand cannot fail here.
        let _ = hkdf.expand(purpose, &mut key);
        key
    }
}

fn decode(encoded: &str) -> Option<Vec<u8>> {
    let is_hex = encoded.len().is_multiple_of(2) && encoded.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        return hex::decode(encoded).ok();
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(encoded).ok())
}

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret(<redacted>)")
    }
}

/// 256 random bits handed to a client as a bearer secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RandomToken([u8; 32]);

impl std::fmt::Debug for RandomToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RandomToken(<redacted>)")
    }
}

impl RandomToken {
    /// Wraps 32 bytes from the OS CSPRNG.
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 43 characters of unpadded base64url; anything else is no token.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 43 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0).into())
    }
}

/// What the server stores in place of a [`RandomToken`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_round_trip_and_only_their_hash_is_kept() {
        let token = RandomToken::from_random([42; 32]);
        let encoded = token.encode();
        assert_eq!(encoded.len(), 43);
        assert_eq!(RandomToken::parse(&encoded), Some(token.clone()));
        assert_ne!(token.hash().0, [42; 32]);
        assert_eq!(RandomToken::parse("too-short"), None);
        assert_eq!(RandomToken::parse(&"!".repeat(43)), None);
        assert_eq!(format!("{token:?}"), "RandomToken(<redacted>)");
    }

    const RANDOM_B64: &str = "q4mFJvP0Xy3g8s9H1dZc7bK2LwRrTn6VxE5uAaOiYjM=";

    #[test]
    fn accepts_base64_and_hex_of_random_bytes() {
        let from_b64 = MasterSecret::parse(RANDOM_B64).expect("base64 secret");
        assert_eq!(from_b64.expose_bytes().len(), 32);
        let from_hex = MasterSecret::parse(&hex::encode(from_b64.expose_bytes())).expect("hex secret");
        assert_eq!(from_b64, from_hex);
    }

    #[test]
    fn refuses_short_patterned_and_garbage_values() {
        assert_eq!(MasterSecret::parse("c2hvcnQ="), Err(MasterSecretError::TooShort(5)));
        assert_eq!(MasterSecret::parse(&"ab".repeat(32)), Err(MasterSecretError::NotRandom));
        assert_eq!(MasterSecret::parse("not a secret!"), Err(MasterSecretError::NotEncoded));
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = MasterSecret::parse(RANDOM_B64).expect("secret");
        assert_eq!(format!("{secret:?}"), "MasterSecret(<redacted>)");
    }
}
