//! Service API keys for server-to-server calls: `gh_` followed by 256 random bits, shown once at
//! creation and stored only as a SHA-256 hash, each with a set of scopes.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::secret::{RandomToken, TokenHash};
use crate::store::StoreError;

pub const KEY_PREFIX: &str = "gh_";

/// Scopes a key can hold. Each server-to-server endpoint names the one it needs.
pub const KNOWN_SCOPES: &[&str] = &["admin", "audit", "rate_limit", "vault", "webhooks"];

/// The secret a client sends as `Authorization: Bearer gh_…`: `gh_` and a [`RandomToken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySecret(RandomToken);

impl ApiKeySecret {
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self(RandomToken::from_random(bytes))
    }

    pub fn parse(text: &str) -> Option<Self> {
        text.strip_prefix(KEY_PREFIX).and_then(RandomToken::parse).map(Self)
    }

    pub fn encode(&self) -> String {
        format!("{KEY_PREFIX}{}", self.0.encode())
    }

    pub fn hash(&self) -> TokenHash {
        self.0.hash()
    }

    /// The first characters, enough to recognise a key in a list without revealing it.
    pub fn display_prefix(&self) -> String {
        self.encode().chars().take(KEY_PREFIX.len() + 6).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope `{0}`; known scopes: admin, audit, rate_limit, webhooks")]
    Unknown(String),
    #[error("a key needs at least one scope")]
    None,
}

/// Validates, de-duplicates and sorts scopes.
pub fn parse_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, ScopeError> {
    let mut parsed = Vec::new();
    for scope in scopes {
        let scope = scope.trim();
        if !KNOWN_SCOPES.contains(&scope) {
            return Err(ScopeError::Unknown(scope.to_owned()));
        }
        parsed.push(scope.to_owned());
    }
    parsed.sort();
    parsed.dedup();
    if parsed.is_empty() {
        return Err(ScopeError::None);
    }
    Ok(parsed)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, for recognising it.
    pub prefix: String,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|held| held == scope)
    }
}

#[async_trait::async_trait]
pub trait ApiKeyStore: Send + Sync + std::fmt::Debug {
    async fn create_api_key(&self, key: &ApiKey, hash: &TokenHash, events: &[AuditEvent]) -> Result<(), StoreError>;
    /// The unrevoked key with this hash.
    async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKey>, StoreError>;
    async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key; `false` when there is no unrevoked key with that id.
    async fn revoke_api_key(&self, id: Uuid, at: OffsetDateTime, events: &[AuditEvent]) -> Result<bool, StoreError>;
    async fn record_api_key_use(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_reveal_only_a_prefix() {
        let secret = ApiKeySecret::from_random([5; 32]);
        let text = secret.encode();
        assert!(text.starts_with("gh_") && text.len() == 46);
        assert_eq!(ApiKeySecret::parse(&text), Some(secret.clone()));
        assert_eq!(secret.display_prefix().len(), 9);
        assert_eq!(ApiKeySecret::parse("gh_short"), None);
        assert_eq!(ApiKeySecret::parse(&text.replacen("gh_", "xx_", 1)), None);
    }

    #[test]
    fn scopes_are_checked_and_normalised() {
        assert_eq!(parse_scopes(["webhooks", "admin", "webhooks"]), Ok(vec!["admin".into(), "webhooks".into()]));
        assert_eq!(parse_scopes(["everything"]), Err(ScopeError::Unknown("everything".into())));
        assert_eq!(parse_scopes([]), Err(ScopeError::None));
    }
}
