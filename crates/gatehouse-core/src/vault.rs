//! The token vault: third-party tokens kept for (user, provider), encrypted at rest.
//!
//! Envelope encryption: every record has its own random 256-bit data key, and its tokens are sealed
//! with XChaCha20-Poly1305 under that key. The data key is wrapped by the vault's key-encryption
//! key (derived from the master secret, [`crate::sealing`]), whose id the wrapped key carries, so a
//! master-secret rotation re-wraps data keys without touching the tokens. Both layers take the
//! record's id, user and provider as associated data: a ciphertext or wrapped key copied onto
//! another row does not open.
//!
//! Plain tokens exist only in memory, on their way to the provider or to the one endpoint that
//! hands out an access token; their `Debug` shows nothing.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::jobs::NewJob;
use crate::oauth::{ProviderName, Secret};
use crate::sealing::{KeyEncryption, Keyring, SealError, VAULT_PURPOSE};
use crate::store::StoreError;

/// An access token expiring within this long is refreshed before it is handed out.
pub const REFRESH_AHEAD_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Tokens are usable (refreshed when needed).
    Active,
    /// The provider refused the refresh token: the person must connect again.
    Broken,
    /// Disconnected; the tokens are being revoked at the provider, then deleted.
    Revoking,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Broken => "broken",
            Self::Revoking => "revoking",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "broken" => Some(Self::Broken),
            "revoking" => Some(Self::Revoking),
            _ => None,
        }
    }
}

/// The tokens of one connection, in the clear.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

/// A connection as stored: metadata in the clear, tokens sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedConnection {
    /// New on every connect, so a revocation queued for an old connection never touches a new one.
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: ProviderName,
    pub status: ConnectionStatus,
    pub scopes: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub has_refresh_token: bool,
    /// The data key, sealed under the vault's key-encryption key (its header names the key).
    pub wrapped_key: Vec<u8>,
    /// `nonce (24) || ciphertext` of the tokens under the data key.
    pub ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A connection as its owner sees it: never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Connection {
    #[schema(value_type = String)]
    pub provider: ProviderName,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub status: ConnectionStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl SealedConnection {
    pub fn public(&self) -> Connection {
        Connection {
            provider: self.provider.clone(),
            scopes: self.scopes.clone(),
            expires_at: self.expires_at,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Whether the access token must be refreshed before use at `now`.
    pub fn needs_refresh(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|expires| expires - time::Duration::seconds(REFRESH_AHEAD_SECS) <= now)
    }
}

/// The random material one seal needs, from the OS CSPRNG.
#[derive(Clone, Copy)]
pub struct SealRandom {
    pub data_key: [u8; 32],
    pub wrap_nonce: [u8; 12],
    pub data_nonce: [u8; 24],
}

impl std::fmt::Debug for SealRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealRandom(<redacted>)")
    }
}

/// What one connection record is bound to.
pub fn record_label(id: Uuid, user_id: Uuid, provider: &ProviderName) -> String {
    format!("vault v1|{id}|{user_id}|{provider}")
}

#[derive(Debug)]
pub struct Vault {
    encryption: KeyEncryption,
}

impl Vault {
    pub fn new(keyring: &Keyring) -> Self {
        Self { encryption: KeyEncryption::for_purpose(keyring, VAULT_PURPOSE) }
    }

    pub fn encryption(&self) -> &KeyEncryption {
        &self.encryption
    }

    /// `(wrapped_key, ciphertext)` for `tokens` in the record `(id, user_id, provider)`.
    pub fn seal(
        &self,
        id: Uuid,
        user_id: Uuid,
        provider: &ProviderName,
        tokens: &Tokens,
        random: SealRandom,
    ) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        let label = record_label(id, user_id, provider);
        let plaintext = serde_json::to_vec(tokens).map_err(|_| SealError::Encryption)?;
        let cipher = XChaCha20Poly1305::new(&random.data_key.into());
        let sealed = cipher
            .encrypt(&XNonce::from(random.data_nonce), Payload { msg: &plaintext, aad: label.as_bytes() })
            .map_err(|_| SealError::Encryption)?;
        let wrapped = self.encryption.seal(&label, &random.data_key, random.wrap_nonce)?;
        Ok((wrapped, [&random.data_nonce[..], &sealed].concat()))
    }

    pub fn open(&self, record: &SealedConnection) -> Result<Tokens, SealError> {
        let label = record_label(record.id, record.user_id, &record.provider);
        let data_key = self.encryption.open(&label, &record.wrapped_key)?;
        let data_key: [u8; 32] = data_key.try_into().map_err(|_| SealError::DoesNotOpen)?;
        if record.ciphertext.len() < 24 {
            return Err(SealError::Truncated);
        }
        let (nonce, sealed) = record.ciphertext.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError::Truncated)?;
        let plaintext = XChaCha20Poly1305::new(&data_key.into())
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: label.as_bytes() })
            .map_err(|_| SealError::DoesNotOpen)?;
        serde_json::from_slice(&plaintext).map_err(|_| SealError::DoesNotOpen)
    }
}

impl Tokens {
    pub fn access(&self) -> Secret {
        Secret(self.access_token.clone())
    }

    pub fn refresh(&self) -> Option<Secret> {
        self.refresh_token.clone().map(Secret)
    }
}

/// New tokens from a refresh, sealed, to replace a record's.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub expires_at: Option<OffsetDateTime>,
    pub scopes: Vec<String>,
    pub has_refresh_token: bool,
    pub at: OffsetDateTime,
}

/// Revokes a disconnected connection's tokens at the provider (RFC 7009), then deletes it.
#[derive(Debug, Clone, Copy)]
pub struct Revoke;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeJob {
    pub connection_id: Uuid,
}

impl crate::jobs::JobType for Revoke {
    const NAME: &'static str = "vault.revoke";
    type Payload = RevokeJob;
}

#[async_trait::async_trait]
pub trait VaultStore: Send + Sync + std::fmt::Debug {
    /// Stores the connection for its (user, provider), replacing any earlier one, with the events.
    async fn put_connection(&self, connection: &SealedConnection, events: &[AuditEvent]) -> Result<(), StoreError>;
    async fn connection(&self, user_id: Uuid, provider: &ProviderName) -> Result<Option<SealedConnection>, StoreError>;
    async fn connections_of_user(&self, user_id: Uuid) -> Result<Vec<SealedConnection>, StoreError>;
    /// Takes the refresh lock of connection `id` as `holder` until `until`, when it is free or its
    /// holder's time ran out; whether this caller now holds it. Instances share this lock, so one
    /// refresh token is spent once.
    async fn lock_refresh(
        &self,
        id: Uuid,
        holder: Uuid,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Stores refreshed tokens and releases the lock, if `holder` still holds it.
    async fn finish_refresh(&self, id: Uuid, holder: Uuid, refreshed: &Refreshed) -> Result<bool, StoreError>;
    async fn release_refresh(&self, id: Uuid, holder: Uuid) -> Result<(), StoreError>;
    /// Marks the connection broken (the provider refused its refresh token) with the jobs and
    /// events, releasing the lock.
    async fn mark_broken(
        &self,
        id: Uuid,
        holder: Uuid,
        at: OffsetDateTime,
        jobs: &[NewJob],
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;
    /// Disconnects: with a revocation job, the record is kept as `revoking` until the job deletes
    /// it; without one it is deleted at once. Returns the connection as it was.
    async fn disconnect(
        &self,
        user_id: Uuid,
        provider: &ProviderName,
        revocation: Option<&NewJob>,
        events: &[AuditEvent],
    ) -> Result<Option<SealedConnection>, StoreError>;
    async fn connection_by_id(&self, id: Uuid) -> Result<Option<SealedConnection>, StoreError>;
    /// Every connection of the user, those being revoked included; for an erasure.
    async fn all_connections_of_user(&self, user_id: Uuid) -> Result<Vec<SealedConnection>, StoreError>;
    /// An erased person's connection awaiting revocation (its `user_id` is nil).
    async fn revocation(&self, id: Uuid) -> Result<Option<SealedConnection>, StoreError>;
    async fn delete_revocation(&self, id: Uuid) -> Result<bool, StoreError>;
    async fn delete_connection(&self, id: Uuid) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MasterSecret;

    fn random(seed: u8) -> SealRandom {
        SealRandom { data_key: [seed; 32], wrap_nonce: [seed; 12], data_nonce: [seed; 24] }
    }

    fn record(vault: &Vault, user_id: Uuid) -> SealedConnection {
        let id = Uuid::new_v4();
        let provider = ProviderName::parse("google").expect("name");
        let tokens = Tokens { access_token: "ya29.access".into(), refresh_token: Some("1//refresh".into()) };
        let (wrapped_key, ciphertext) = vault.seal(id, user_id, &provider, &tokens, random(3)).expect("seal");
        SealedConnection {
            id,
            user_id,
            provider,
            status: ConnectionStatus::Active,
            scopes: vec![],
            expires_at: None,
            has_refresh_token: true,
            wrapped_key,
            ciphertext,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn tokens_open_only_on_their_own_record() {
        let vault = Vault::new(&Keyring::new(MasterSecret::from_bytes((0..32).collect()).expect("secret"), None));
        let mine = record(&vault, Uuid::new_v4());
        assert_eq!(vault.open(&mine).expect("opens").access_token, "ya29.access");
        assert!(!String::from_utf8_lossy(&mine.ciphertext).contains("ya29"));

        let theirs = record(&vault, Uuid::new_v4());
        let mut moved = theirs.clone();
        moved.ciphertext = mine.ciphertext.clone();
        moved.wrapped_key = mine.wrapped_key.clone();
        assert_eq!(vault.open(&moved), Err(SealError::DoesNotOpen), "whole envelope moved");
        let mut half = mine.clone();
        half.ciphertext = theirs.ciphertext.clone();
        assert_eq!(vault.open(&half), Err(SealError::DoesNotOpen), "ciphertext moved");
        assert_eq!(format!("{:?}", vault.open(&mine).expect("opens")), "Tokens(<redacted>)");
    }
}
