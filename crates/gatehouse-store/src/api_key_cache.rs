//! Valid API keys remembered in process for a few seconds, so a service call (a rate-limit decision,
//! say) costs no database round trip before its real work.
//!
//! The trade-off is revocation latency: a key revoked on this instance stops working at once, but
//! one revoked elsewhere (another instance, the `gatehouse api-key revoke` command) keeps working
//! here until its entry expires, at most the configured TTL. A TTL of zero turns the cache off.
//! Unknown keys are never remembered, so guessing keys cannot fill the cache, and a lookup that
//! finds nothing drops any stale entry.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use gatehouse_core::api_keys::{ApiKey, ApiKeyStore};
use gatehouse_core::audit::AuditEvent;
use gatehouse_core::clock::Clock;
use gatehouse_core::secret::TokenHash;
use gatehouse_core::store::StoreError;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// More distinct live keys than any deployment has; past it the cache starts over rather than grow.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct CachedApiKeys {
    inner: Arc<dyn ApiKeyStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    entries: RwLock<HashMap<TokenHash, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: ApiKey,
    fetched_at: OffsetDateTime,
}

impl CachedApiKeys {
    pub fn new(inner: Arc<dyn ApiKeyStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { inner, clock, ttl, entries: RwLock::new(HashMap::new()) }
    }

    fn fresh(&self, hash: &TokenHash) -> Option<ApiKey> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(hash)?;
        (self.clock.now() - entry.fetched_at < self.ttl).then(|| entry.key.clone())
    }

    fn update(&self, change: impl FnOnce(&mut HashMap<TokenHash, Entry>)) {
        change(&mut self.entries.write().unwrap_or_else(PoisonError::into_inner));
    }
}

#[async_trait]
impl ApiKeyStore for CachedApiKeys {
    async fn create_api_key(&self, key: &ApiKey, hash: &TokenHash, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.inner.create_api_key(key, hash, events).await
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKey>, StoreError> {
        if self.ttl <= Duration::ZERO {
            return self.inner.api_key_by_hash(hash).await;
        }
        if let Some(key) = self.fresh(hash) {
            return Ok(Some(key));
        }
        let found = self.inner.api_key_by_hash(hash).await?;
        let fetched_at = self.clock.now();
        self.update(|entries| match &found {
            Some(key) => {
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(*hash, Entry { key: key.clone(), fetched_at });
            }
            None => {
                entries.remove(hash);
            }
        });
        Ok(found)
    }

    async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.inner.api_keys().await
    }

    async fn revoke_api_key(&self, id: Uuid, at: OffsetDateTime, events: &[AuditEvent]) -> Result<bool, StoreError> {
        let revoked = self.inner.revoke_api_key(id, at, events).await?;
        self.update(|entries| entries.retain(|_, entry| entry.key.id != id));
        Ok(revoked)
    }

    async fn record_api_key_use(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.record_api_key_use(id, at).await?;
        // Cached copies learn the new time too, or every call would think the last write is old.
        self.update(|entries| {
            for entry in entries.values_mut().filter(|entry| entry.key.id == id) {
                entry.key.last_used_at = Some(at);
            }
        });
        Ok(())
    }
}
