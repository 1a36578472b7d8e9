//! The `vault.revoke` job: revokes a disconnected connection's tokens at the provider (RFC 7009),
//! then deletes the record. Safe to run twice: a record already gone is done, and revoking a
//! token twice is no error at the provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::oauth::{ProviderClient, ProviderError, ProviderName};
use gatehouse_core::vault::{ConnectionStatus, Revoke, RevokeJob, Vault, VaultStore};

use crate::worker::{JobError, Perform};

#[derive(Debug, Clone)]
pub struct RevokeHandler {
    pub store: Arc<dyn VaultStore>,
    pub vault: Arc<Vault>,
    pub providers: Arc<BTreeMap<ProviderName, Arc<dyn ProviderClient>>>,
}

#[async_trait]
impl Perform for RevokeHandler {
    type Job = Revoke;

    async fn perform(&self, job: RevokeJob) -> Result<(), JobError> {
        let store_error = |error: gatehouse_core::store::StoreError| JobError::Retry(format!("vault store: {error}"));
        // A connection of an erased account waits, re-sealed with no link to its person, among the
        // revocations.
        let (connection, erased) = match self.store.connection_by_id(job.connection_id).await.map_err(store_error)? {
            Some(connection) => (connection, false),
            None => match self.store.revocation(job.connection_id).await.map_err(store_error)? {
                Some(revocation) => (revocation, true),
                None => return Ok(()),
            },
        };
        if connection.status != ConnectionStatus::Revoking {
            return Ok(());
        }
        if let Some(provider) = self.providers.get(&connection.provider) {
            // A record that no longer opens has nothing left to revoke; it is deleted all the same.
            if let Ok(tokens) = self.vault.open(&connection) {
                let mut revocations = vec![(tokens.access(), "access_token")];
                if let Some(refresh) = tokens.refresh() {
                    revocations.insert(0, (refresh, "refresh_token"));
                }
                for (token, hint) in revocations {
                    match provider.revoke(&token, hint).await {
                        Ok(()) => {}
                        Err(ProviderError::Unavailable(reason)) => {
                            return Err(JobError::Retry(format!("revoking at {}: {reason}", connection.provider)));
                        }
                        Err(error) => {
                            tracing::warn!(provider = %connection.provider, %error, "the provider refused a revocation");
                        }
                    }
                }
            }
        }
        if erased {
            self.store.delete_revocation(connection.id).await.map_err(store_error)?;
        } else {
            self.store.delete_connection(connection.id).await.map_err(store_error)?;
        }
        Ok(())
    }
}
