//! Access tokens: short-lived JWTs signed with keys Gatehouse generates, encrypts at rest and
//! publishes as a JWKS.
//!
//! A token names its session (`sid`), and checking one always checks that session too, so a token
//! stops working the moment its session is revoked. Private keys are stored encrypted with a key
//! derived from the master secret (HKDF-SHA256, then ChaCha20-Poly1305 with the key id as associated
//! data, so a blob cannot be moved to another key id). A retired key stays published until every
//! token it signed has expired.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
pub use crate::sealing::KeyEncryption;
#[cfg(test)]
use crate::secret::MasterSecret;
use crate::store::StoreError;

/// Accepted clock difference between Gatehouse instances and token consumers.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    Es256,
    EdDsa,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ES256" => Some(SigningAlgorithm::Es256),
            "EdDSA" => Some(SigningAlgorithm::EdDsa),
            _ => None,
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed, expired, or not signed by a current key")]
    Invalid,
    #[error("signing key error: {0}")]
    Key(String),
}

impl From<crate::sealing::SealError> for TokenError {
    fn from(error: crate::sealing::SealError) -> Self {
        TokenError::Key(format!("stored key: {error}"))
    }
}

/// A signing key as stored: the private key encrypted, the public key as a JWK.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub encrypted_private_key: Vec<u8>,
    pub public_jwk: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

#[async_trait::async_trait]
pub trait SigningKeyStore: Send + Sync + std::fmt::Debug {
    /// Every key not yet deleted, newest first.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Stores `key` as the new active key and retires every other active key at `key.created_at`,
    /// with the audit events, in one transaction.
    async fn rotate_signing_key(&self, key: &StoredSigningKey, events: &[AuditEvent]) -> Result<(), StoreError>;
}

/// A usable key: able to sign (when active) and verify.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub public_jwk: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

fn key_error(error: impl std::fmt::Display) -> TokenError {
    TokenError::Key(error.to_string())
}

/// Generates a key pair from 32 random bytes. Returns the stored form (encrypted).
pub fn generate_key(
    algorithm: SigningAlgorithm,
    random: [u8; 32],
    nonce: [u8; 12],
    now: OffsetDateTime,
    encryption: &KeyEncryption,
) -> Result<StoredSigningKey, TokenError> {
    let kid = format!("{}-{}", algorithm.as_str().to_ascii_lowercase(), Uuid::new_v4().simple());
    let (der, jwk) = match algorithm {
        SigningAlgorithm::Es256 => {
            use p256::pkcs8::EncodePrivateKey as _;
            let key = p256::ecdsa::SigningKey::from_bytes(&random.into()).map_err(key_error)?;
            let point = key.verifying_key().to_encoded_point(false);
            let (x, y) = (point.x().ok_or_else(|| key_error("no x"))?, point.y().ok_or_else(|| key_error("no y"))?);
            let jwk = serde_json::json!({
                "kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                "kid": kid, "alg": "ES256", "use": "sig",
            });
            (key.to_pkcs8_der().map_err(key_error)?.as_bytes().to_vec(), jwk)
        }
        SigningAlgorithm::EdDsa => {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            let key = ed25519_dalek::SigningKey::from_bytes(&random);
            let jwk = serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                "kid": kid, "alg": "EdDSA", "use": "sig",
            });
            (key.to_pkcs8_der().map_err(key_error)?.as_bytes().to_vec(), jwk)
        }
    };
    Ok(StoredSigningKey {
        encrypted_private_key: encryption.seal(&kid, &der, nonce)?,
        kid,
        algorithm,
        public_jwk: jwk,
        created_at: now,
        retired_at: None,
    })
}

impl SigningKey {
    pub fn load(stored: &StoredSigningKey, encryption: &KeyEncryption) -> Result<Self, TokenError> {
        let der = encryption.open(&stored.kid, &stored.encrypted_private_key)?;
        let component = |name: &str| {
            stored.public_jwk[name].as_str().map(str::to_owned).ok_or_else(|| key_error(format!("JWK lacks {name}")))
        };
        let (encoding, decoding) = match stored.algorithm {
            SigningAlgorithm::Es256 => (
                EncodingKey::from_ec_der(&der),
                DecodingKey::from_ec_components(&component("x")?, &component("y")?).map_err(key_error)?,
            ),
            SigningAlgorithm::EdDsa => {
                (EncodingKey::from_ed_der(&der), DecodingKey::from_ed_components(&component("x")?).map_err(key_error)?)
            }
        };
        Ok(Self {
            kid: stored.kid.clone(),
            algorithm: stored.algorithm,
            encoding,
            decoding,
            public_jwk: stored.public_jwk.clone(),
            created_at: stored.created_at,
            retired_at: stored.retired_at,
        })
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// The session the token was issued from.
    pub sid: Uuid,
    /// The session's active workspace when the token was issued, and the user's role in it. For
    /// the token's consumers; Gatehouse itself reads the role afresh from the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::workspaces::Role>,
    /// How the session was established (RFC 8176 values, as `GET /v1/session` says).
    #[serde(default)]
    pub amr: Vec<crate::sessions::AuthMethod>,
    /// When the person last proved who they are in the session (Unix seconds, as in OpenID
    /// Connect). Absent in tokens issued before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// The keys in use: the newest unretired one signs, every published one verifies.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// Builds a ring from stored keys, newest first.
    pub fn load(stored: &[StoredSigningKey], encryption: &KeyEncryption) -> Result<Self, TokenError> {
        let mut keys = stored.iter().map(|key| SigningKey::load(key, encryption)).collect::<Result<Vec<_>, _>>()?;
        keys.sort_by_key(|key| std::cmp::Reverse(key.created_at));
        Ok(Self { keys })
    }

    pub fn active(&self) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.retired_at.is_none())
    }

    /// Keys still needed to verify tokens: active ones, and retired ones whose last token may not
    /// have expired yet.
    pub fn published(&self, now: OffsetDateTime, token_ttl: Duration) -> impl Iterator<Item = &SigningKey> {
        let horizon =
            time::Duration::try_from(token_ttl + Duration::from_secs(LEEWAY_SECS)).unwrap_or(time::Duration::MAX);
        self.keys.iter().filter(move |key| key.retired_at.is_none_or(|retired| retired + horizon > now))
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        let key = self.active().ok_or_else(|| key_error("no active signing key"))?;
        let mut header = Header::new(key.algorithm.jwt());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(key_error)
    }

    /// Checks signature, expiry, issuer and audience. Only keys still published verify.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: OffsetDateTime,
        token_ttl: Duration,
    ) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.published(now, token_ttl).find(|key| key.kid == kid).ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(key.algorithm.jwt());
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|_| TokenError::Invalid)?;
        // jsonwebtoken checks `exp` against the system clock; check it against ours as well.
        if data.claims.exp + i64::try_from(LEEWAY_SECS).unwrap_or(0) < now.unix_timestamp() {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }

    pub fn jwks(&self, now: OffsetDateTime, token_ttl: Duration) -> serde_json::Value {
        let keys: Vec<&serde_json::Value> = self.published(now, token_ttl).map(|key| &key.public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encryption() -> KeyEncryption {
        KeyEncryption::new(&MasterSecret::from_bytes((0..32).collect()).expect("secret"))
    }

    fn claims(now: OffsetDateTime) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example.com".into(),
            sub: Uuid::new_v4(),
            aud: "https://auth.example.com".into(),
            exp: now.unix_timestamp() + 600,
            iat: now.unix_timestamp(),
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            wid: None,
            role: None,
            amr: vec![crate::sessions::AuthMethod::Pwd, crate::sessions::AuthMethod::Otp],
            auth_time: Some(now.unix_timestamp()),
        }
    }

    const TTL: Duration = Duration::from_secs(600);

    #[test]
    fn both_algorithms_sign_and_verify_and_reject_tampering() {
        let now = OffsetDateTime::now_utc();
        for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let stored = generate_key(algorithm, [7; 32], [1; 12], now, &encryption()).expect("key");
            let ring = KeyRing::load(&[stored], &encryption()).expect("ring");
            let claims = claims(now);
            let token = ring.sign(&claims).expect("sign");
            let verified = ring.verify(&token, &claims.iss, &claims.aud, now, TTL).expect("verify");
            assert_eq!(verified, claims);
            assert!(ring.verify(&token, "https://other", &claims.aud, now, TTL).is_err(), "issuer is checked");
            assert!(ring.verify(&token, &claims.iss, "other", now, TTL).is_err(), "audience is checked");
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"00000000-0000-0000-0000-000000000000"}"#);
            parts[1] = &forged_payload;
            assert!(ring.verify(&parts.join("."), &claims.iss, &claims.aud, now, TTL).is_err());
            let late = now + time::Duration::seconds(600 + 31);
            assert!(ring.verify(&token, &claims.iss, &claims.aud, late, TTL).is_err(), "expired");
        }
    }

    #[test]
    fn private_keys_are_bound_to_their_kid_and_the_master_secret() {
        let stored = generate_key(SigningAlgorithm::Es256, [9; 32], [2; 12], OffsetDateTime::now_utc(), &encryption())
            .expect("key");
        assert!(!stored.public_jwk.to_string().contains("\"d\""), "the JWK has no private part");
        let mut moved = stored.clone();
        moved.kid = "another-kid".into();
        assert!(SigningKey::load(&moved, &encryption()).is_err());
        let other = KeyEncryption::new(&MasterSecret::from_bytes((100..132).collect()).expect("secret"));
        assert!(SigningKey::load(&stored, &other).is_err());
    }

    #[test]
    fn retired_keys_stay_published_until_their_tokens_expire() {
        let now = OffsetDateTime::now_utc();
        let old_claims = claims(now);
        let mut old = generate_key(SigningAlgorithm::Es256, [3; 32], [3; 12], now, &encryption()).expect("key");
        let old_token =
            KeyRing::load(std::slice::from_ref(&old), &encryption()).expect("ring").sign(&old_claims).expect("sign");
        let rotated_at = now + time::Duration::seconds(1);
        old.retired_at = Some(rotated_at);
        let new = generate_key(SigningAlgorithm::Es256, [4; 32], [4; 12], rotated_at, &encryption()).expect("key");
        let ring = KeyRing::load(&[old.clone(), new.clone()], &encryption()).expect("ring");
        assert_eq!(ring.active().map(|k| k.kid.as_str()), Some(new.kid.as_str()));
        assert_eq!(ring.jwks(rotated_at, TTL)["keys"].as_array().map(Vec::len), Some(2));
        assert!(ring.verify(&old_token, &old_claims.iss, &old_claims.aud, rotated_at, TTL).is_ok());
        let after = rotated_at + time::Duration::seconds(600 + 31);
        assert_eq!(ring.jwks(after, TTL)["keys"].as_array().map(Vec::len), Some(1));
    }
}
