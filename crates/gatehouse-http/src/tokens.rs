//! Access tokens over HTTP: `POST /v1/token`, `GET /.well-known/jwks.json`, and the token service
//! that holds the key ring.
//!
//! The ring is loaded from the database at start, reloaded every minute (so a rotation done by the
//! CLI reaches every instance), and reloaded at once when a token names a key this instance has
//! not seen yet, at most once per second.
//!
//! Verified tokens are remembered by the SHA-256 of the whole token until their own expiry, so a
//! client presenting the same token again skips the signature check (the costly part); any other
//! token, forged or altered, hashes differently and is verified in full. The session a token names
//! is still checked on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::tokens::{AccessClaims, KeyEncryption, KeyRing, SigningKeyStore, TokenError};
use http::{HeaderValue, header};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::sessions::CurrentSession;
use crate::state::AppState;

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Verified tokens remembered at most; when full, expired ones go first, then all of them.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

/// Issues and verifies access tokens with the current key ring.
#[derive(Debug, Clone)]
pub struct TokenService(Arc<TokenInner>);

#[derive(Debug)]
struct TokenInner {
    ring: RwLock<Arc<KeyRing>>,
    store: Arc<dyn SigningKeyStore>,
    encryption: KeyEncryption,
    ttl: Duration,
    issuer: String,
    audience: String,
    last_reload: Mutex<Instant>,
    verified: Mutex<HashMap<[u8; 32], AccessClaims>>,
}

impl TokenService {
    /// Loads the ring; fails when a stored key cannot be decrypted (a changed master secret).
    pub async fn load(
        store: Arc<dyn SigningKeyStore>,
        encryption: KeyEncryption,
        ttl: Duration,
        issuer: String,
        audience: String,
    ) -> Result<Self, TokenError> {
        let stored = store.signing_keys().await.map_err(|e| TokenError::Key(e.to_string()))?;
        let ring = KeyRing::load(&stored, &encryption)?;
        Ok(Self(Arc::new(TokenInner {
            ring: RwLock::new(Arc::new(ring)),
            store,
            encryption,
            ttl,
            issuer,
            audience,
            last_reload: Mutex::new(Instant::now()),
            verified: Mutex::new(HashMap::new()),
        })))
    }

    fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.0.ring.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn ttl(&self) -> Duration {
        self.0.ttl
    }

    /// Re-reads the keys from the database.
    pub async fn reload(&self) -> Result<(), TokenError> {
        let stored = self.0.store.signing_keys().await.map_err(|e| TokenError::Key(e.to_string()))?;
        let ring = KeyRing::load(&stored, &self.0.encryption)?;
        *self.0.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ring);
        *self.0.last_reload.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        Ok(())
    }

    pub fn issue(&self, current: &CurrentSession, now: OffsetDateTime) -> Result<String, TokenError> {
        let iat = now.unix_timestamp();
        let claims = AccessClaims {
            iss: self.0.issuer.clone(),
            sub: current.user.id,
            aud: self.0.audience.clone(),
            exp: iat + i64::try_from(self.0.ttl.as_secs()).unwrap_or(i64::MAX),
            iat,
            jti: Uuid::new_v4(),
            sid: current.session.id,
            wid: current.workspace.map(|active| active.id),
            role: current.workspace.map(|active| active.role),
            amr: current.session.amr.clone(),
            auth_time: Some(current.session.auth_time.unix_timestamp()),
        };
        self.ring().sign(&claims)
    }

    pub async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let leeway = i64::try_from(gatehouse_core::tokens::LEEWAY_SECS).unwrap_or(0);
        let remembered = self.verified().get(&digest).cloned();
        if let Some(claims) = remembered
            && claims.exp + leeway >= now.unix_timestamp()
        {
            return Ok(claims);
        }
        let claims = self.verify_signature(token, now).await?;
        let mut verified = self.verified();
        if verified.len() >= VERIFIED_CACHE_ENTRIES {
            verified.retain(|_, claims| claims.exp + leeway >= now.unix_timestamp());
            if verified.len() >= VERIFIED_CACHE_ENTRIES {
                verified.clear();
            }
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], AccessClaims>> {
        self.0.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn verify_signature(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let inner = &self.0;
        match self.ring().verify(token, &inner.issuer, &inner.audience, now, inner.ttl) {
            Ok(claims) => Ok(claims),
            Err(error) => {
                // A key rotated on another instance is not in this ring yet: reload, rarely.
                let due = inner.last_reload.lock().unwrap_or_else(std::sync::PoisonError::into_inner).elapsed()
                    >= MIN_RELOAD_INTERVAL;
                if !due {
                    return Err(error);
                }
                self.reload().await?;
                self.ring().verify(token, &inner.issuer, &inner.audience, now, inner.ttl)
            }
        }
    }

    pub fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        self.ring().jwks(now, self.0.ttl)
    }
}

/// An access token and how long it lasts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AccessToken {
    /// A JWT (EdDSA or ES256) with `sub` (the user), `sid` (the session), `aud` and `iss`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until it expires.
    expires_in: u64,
}

/// The published verification keys.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct JwkSet {
    /// Public JWKs (RFC 7517), each with `kid`, `kty`, `alg` and `use`.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// `POST /v1/token`: a short-lived access token for the signed-in session.
#[utoipa::path(
    post,
    path = "/v1/token",
    tag = "tokens",
    security(("session_cookie" = []), ("access_token" = [])),
    responses((status = 200, description = "A new access token for the calling session.", body = AccessToken)),
)]
pub(crate) async fn issue(State(state): State<AppState>, current: CurrentSession) -> Result<Response, ApiError> {
    let services = state.services();
    let token = services
        .tokens
        .issue(&current, services.clock.now())
        .map_err(|error| ApiError::Internal(format!("signing an access token: {error}")))?;
    Ok(Json(AccessToken { access_token: token, token_type: "Bearer", expires_in: services.tokens.ttl().as_secs() })
        .into_response())
}

/// `GET /.well-known/jwks.json`: the public keys that verify access tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "tokens",
    responses((status = 200, description = "The keys that verify access tokens; cacheable for 5 minutes.",
        body = JwkSet)),
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    let services = state.services();
    let mut response = Json(services.tokens.jwks(services.clock.now())).into_response();
    // Consumers may cache for a few minutes; a rotated key is published long before it signs.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
