//! ID token validation (OpenID Connect Core 1.0, section 3.1.3.7).
//!
//! The signature is checked against the provider's JWKS with the algorithm the key names (never
//! `none` or an HMAC secret, which would let anyone holding the client secret forge tokens);
//! then `iss`, `aud`, `azp`, `exp`, `iat` (each with [`SKEW_SECS`] of clock skew) and `nonce`.
//! Time comes from the caller, so expiry is tested without waiting.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

/// Accepted difference between the provider's clock and ours.
pub const SKEW_SECS: i64 = 60;

/// Algorithms an ID token may be signed with: asymmetric ones only.
const ALLOWED: &[Algorithm] = &[
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is malformed")]
    Malformed,
    /// No key in the JWKS has the token's `kid`: the provider may have rotated its keys, so the
    /// caller refetches the JWKS (at most once a minute) and tries again.
    #[error("the ID token is signed by a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature does not verify")]
    BadSignature,
    #[error("the ID token's {0} is wrong")]
    Claim(&'static str),
}

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Some providers send `"email_verified": "true"`.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::Bool(value)) => Some(value),
        Some(serde_json::Value::String(text)) => Some(text == "true"),
        _ => None,
    })
}

/// The `kid` a token names, to decide whether a JWKS refetch could help.
pub fn key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Validates `token` against the keys of `jwks` (a JWKS document) and `expected`.
pub fn validate(token: &str, jwks: &serde_json::Value, expected: &Expected<'_>) -> Result<IdClaims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !ALLOWED.contains(&header.alg) {
        return Err(IdTokenError::BadSignature);
    }
    let key = find_key(jwks, header.kid.as_deref(), header.alg).ok_or(IdTokenError::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    // Time and audience are checked below against our clock and rules.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            _ => IdTokenError::Malformed,
        })?
        .claims;
    check_claims(&claims, expected)?;
    Ok(claims)
}

fn find_key(jwks: &serde_json::Value, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let keys = jwks.get("keys")?.as_array()?;
    // Keys of kinds this library does not know are skipped, not fatal.
    let candidates = keys.iter().filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok()).filter(|jwk| {
        let is_signing =
            jwk.common.public_key_use.as_ref().is_none_or(|usage| *usage == jsonwebtoken::jwk::PublicKeyUse::Signature);
        let alg_fits = jwk.common.key_algorithm.is_none_or(|key_alg| format!("{key_alg:?}") == format!("{alg:?}"));
        is_signing && alg_fits
    });
    let mut candidates: Vec<Jwk> = match kid {
        Some(kid) => candidates.filter(|jwk| jwk.common.key_id.as_deref() == Some(kid)).collect(),
        None => candidates.collect(),
    };
    // Without a `kid`, only a JWKS with a single fitting key is unambiguous.
    if kid.is_none() && candidates.len() != 1 {
        return None;
    }
    DecodingKey::from_jwk(&candidates.pop()?).ok()
}

fn check_claims(claims: &IdClaims, expected: &Expected<'_>) -> Result<(), IdTokenError> {
    let now = expected.now.unix_timestamp();
    if claims.iss != expected.issuer {
        return Err(IdTokenError::Claim("issuer"));
    }
    if !claims.aud.iter().any(|aud| aud == expected.client_id) {
        return Err(IdTokenError::Claim("audience"));
    }
    // With several audiences the authorized party must be us; when present it must be us anyway.
    match &claims.azp {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::Claim("authorized party")),
        None if claims.aud.len() > 1 => return Err(IdTokenError::Claim("authorized party")),
        _ => {}
    }
    if claims.exp + SKEW_SECS < now {
        return Err(IdTokenError::Claim("expiry"));
    }
    if claims.iat - SKEW_SECS > now || claims.nbf.is_some_and(|nbf| nbf - SKEW_SECS > now) {
        return Err(IdTokenError::Claim("issue time"));
    }
    let nonce_matches =
        claims.nonce.as_deref().is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_matches {
        return Err(IdTokenError::Claim("nonce"));
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(IdTokenError::Claim("subject"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeyEncryption, SigningAlgorithm, generate_key};
    use jsonwebtoken::{EncodingKey, Header};

    const ISSUER: &str = "https://login.example.com";
    const CLIENT: &str = "gatehouse";

    /// A P-256 key pair: its encoding key and its public JWK.
    fn key(seed: u8) -> (EncodingKey, serde_json::Value) {
        use p256::pkcs8::EncodePrivateKey as _;
        let master = crate::secret::MasterSecret::from_bytes((0..32).collect()).expect("secret");
        let stored = generate_key(
            SigningAlgorithm::Es256,
            [seed; 32],
            [1; 12],
            OffsetDateTime::now_utc(),
            &KeyEncryption::new(&master),
        )
        .expect("key");
        let signing = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).expect("p256");
        let der = signing.to_pkcs8_der().expect("der");
        (EncodingKey::from_ec_der(der.as_bytes()), stored.public_jwk)
    }

    fn sign(encoding: &EncodingKey, kid: &str, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, encoding).expect("sign")
    }

    fn claims(now: OffsetDateTime) -> serde_json::Value {
        serde_json::json!({
            "iss": ISSUER, "sub": "user-1", "aud": CLIENT, "exp": now.unix_timestamp() + 300,
            "iat": now.unix_timestamp(), "nonce": "n-1", "email": "ada@example.com", "email_verified": true,
        })
    }

    fn expected(now: OffsetDateTime) -> Expected<'static> {
        Expected { issuer: ISSUER, client_id: CLIENT, nonce: "n-1", now }
    }

    #[test]
    fn a_good_token_validates_and_each_wrong_claim_is_refused() {
        let now = OffsetDateTime::now_utc();
        let (encoding, jwk) = key(7);
        let kid = jwk["kid"].as_str().expect("kid").to_owned();
        let jwks = serde_json::json!({ "keys": [jwk] });
        let good = validate(&sign(&encoding, &kid, &claims(now)), &jwks, &expected(now)).expect("valid");
        assert_eq!((good.sub.as_str(), good.email_verified), ("user-1", Some(true)));

        let cases: [(&str, serde_json::Value, IdTokenError); 7] = [
            ("iss", "https://evil.example.com".into(), IdTokenError::Claim("issuer")),
            ("aud", "someone-else".into(), IdTokenError::Claim("audience")),
            ("aud", serde_json::json!([CLIENT, "other"]), IdTokenError::Claim("authorized party")),
            ("exp", (now.unix_timestamp() - 61).into(), IdTokenError::Claim("expiry")),
            ("iat", (now.unix_timestamp() + 120).into(), IdTokenError::Claim("issue time")),
            ("nonce", "n-2".into(), IdTokenError::Claim("nonce")),
            ("azp", "other".into(), IdTokenError::Claim("authorized party")),
        ];
        for (claim, value, error) in cases {
            let mut bad = claims(now);
            bad[claim] = value;
            assert_eq!(validate(&sign(&encoding, &kid, &bad), &jwks, &expected(now)), Err(error), "{claim}");
        }
        let mut no_nonce = claims(now);
        no_nonce.as_object_mut().expect("object").remove("nonce");
        assert_eq!(
            validate(&sign(&encoding, &kid, &no_nonce), &jwks, &expected(now)),
            Err(IdTokenError::Claim("nonce"))
        );
        let mut skewed = claims(now);
        skewed["exp"] = (now.unix_timestamp() - 30).into();
        assert!(validate(&sign(&encoding, &kid, &skewed), &jwks, &expected(now)).is_ok(), "within the skew");
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let now = OffsetDateTime::now_utc();
        let (_, published) = key(7);
        let (attacker, _) = key(8);
        let kid = published["kid"].as_str().expect("kid").to_owned();
        let jwks = serde_json::json!({ "keys": [published] });
        let forged = sign(&attacker, &kid, &claims(now));
        assert_eq!(validate(&forged, &jwks, &expected(now)), Err(IdTokenError::BadSignature));
        let unknown = sign(&attacker, "not-published", &claims(now));
        assert_eq!(validate(&unknown, &jwks, &expected(now)), Err(IdTokenError::UnknownKey));
        assert_eq!(key_id(&unknown).as_deref(), Some("not-published"));
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let now = OffsetDateTime::now_utc();
        let (_, jwk) = key(7);
        let jwks = serde_json::json!({ "keys": [jwk] });
        let hmac = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(now),
            &EncodingKey::from_secret(b"client-secret"),
        )
        .expect("sign");
        assert_eq!(validate(&hmac, &jwks, &expected(now)), Err(IdTokenError::BadSignature));
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!("{}.{}.", b64.encode(br#"{"alg":"none"}"#), b64.encode(claims(now).to_string()));
        assert!(validate(&none, &jwks, &expected(now)).is_err());
        assert_eq!(validate("garbage", &jwks, &expected(now)), Err(IdTokenError::Malformed));
    }
}
