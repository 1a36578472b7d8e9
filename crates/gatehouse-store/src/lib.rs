//! Storage adapters for Gatehouse: implementations of the ports in `gatehouse_core::store`.
//!
//! [`Database::connect`] picks the engine from the URL scheme (`sqlite:` or `postgres:`), so the
//! rest of the program never branches on the backend; it holds the ports as `Arc<dyn Trait>`.
//! Queries are checked at run time (no database is needed to build), and each backend has its own
//! migration set under `migrations/`, embedded in the binary.

pub mod api_key_cache;
pub mod coherence;
mod error;
mod migrations;
mod postgres;
pub mod privacy;
pub mod rate_limiter;
pub mod redis;
pub mod schema_walk;
pub mod session_cache;
mod sql_admin;
mod sql_housekeeping;
mod sql_invalidations;
mod sql_jobs;
mod sql_links;
mod sql_mfa;
mod sql_oauth;
mod sql_ports;
mod sql_sealed;
mod sql_self_service;
mod sql_webhooks;
mod sql_workspaces;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::accounts::AccountStore;
use gatehouse_core::api_keys::ApiKeyStore;
use gatehouse_core::audit::AuditLog;
use gatehouse_core::email::LinkStore;
use gatehouse_core::jobs::JobStore;
use gatehouse_core::oauth::{IdentityStore, OAuthStateStore};
use gatehouse_core::privacy::PrivacyStore;
use gatehouse_core::sealing::SealedValueStore;
use gatehouse_core::sessions::SessionStore;
use gatehouse_core::store::{Backend, DatabaseProbe, Housekeeping, InstanceSecretStore, StoreError};
use gatehouse_core::tokens::SigningKeyStore;
use gatehouse_core::vault::VaultStore;
use gatehouse_core::webhooks::WebhookStore;
use gatehouse_core::workspaces::WorkspaceStore;

pub use migrations::embedded_versions;

/// Pool settings, from config.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
}

/// A connected database with the ports it implements.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

impl Database {
    /// Connects to `url` (`sqlite://path`, `sqlite::memory:`, `postgres://…`), creating a SQLite
    /// file when it does not exist yet.
    pub async fn connect(url: &str, pool: &PoolOptions) -> Result<Self, StoreError> {
        match backend_of(url) {
            Some(Backend::Sqlite) => Ok(Self::Sqlite(sqlite::SqliteStore::connect(url, pool).await?)),
            Some(Backend::Postgres) => Ok(Self::Postgres(postgres::PostgresStore::connect(url, pool).await?)),
            None => Err(StoreError::Backend("the database URL must start with sqlite: or postgres:".into())),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies every embedded migration not yet applied. Safe to run from several instances at
    /// once: PostgreSQL takes an advisory lock, SQLite has a single writer.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(store) => store.migrate().await,
            Self::Postgres(store) => store.migrate().await,
        }
    }

    pub fn probe(&self) -> Arc<dyn DatabaseProbe> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn instance_secrets(&self) -> Arc<dyn InstanceSecretStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn accounts(&self) -> Arc<dyn AccountStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn profiles(&self) -> Arc<dyn gatehouse_core::accounts::ProfileStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn devices(&self) -> Arc<dyn gatehouse_core::devices::DeviceStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn sessions(&self) -> Arc<dyn SessionStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn api_keys(&self) -> Arc<dyn ApiKeyStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn signing_keys(&self) -> Arc<dyn SigningKeyStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn jobs(&self) -> Arc<dyn JobStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn links(&self) -> Arc<dyn LinkStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn webhooks(&self) -> Arc<dyn WebhookStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn oauth_states(&self) -> Arc<dyn OAuthStateStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn identities(&self) -> Arc<dyn IdentityStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn vault(&self) -> Arc<dyn VaultStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn mfa(&self) -> Arc<dyn gatehouse_core::mfa::MfaStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn sealed_values(&self) -> Arc<dyn SealedValueStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn housekeeping(&self) -> Arc<dyn Housekeeping> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn workspaces(&self) -> Arc<dyn WorkspaceStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn privacy(&self) -> Arc<dyn PrivacyStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn audit_query(&self) -> Arc<dyn gatehouse_core::audit::AuditQuery> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn user_admin(&self) -> Arc<dyn gatehouse_core::accounts::UserAdmin> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    pub fn audit(&self) -> Arc<dyn AuditLog> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// The session invalidation log (see [`coherence`]).
    pub fn invalidation_log(&self) -> Arc<dyn coherence::InvalidationLog> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Wakes `wake` whenever any instance commits a change to a session (PostgreSQL `LISTEN`, the
    /// fast path of the invalidation log), reporting whether it listens; runs until dropped. On
    /// SQLite the log's poll is the only path, so there it only waits.
    pub async fn wake_on_session_changes(&self, wake: &tokio::sync::Notify, listening: &(dyn Fn(bool) + Sync)) {
        match self {
            Self::Sqlite(_) => std::future::pending().await,
            Self::Postgres(store) => store.listen(postgres::SESSIONS_CHANNEL, wake, listening).await,
        }
    }

    /// Wakes `wake` whenever any instance commits new jobs (PostgreSQL `LISTEN`); runs until
    /// dropped. SQLite's writers are this process, which wakes its worker directly, so there it
    /// only waits.
    pub async fn wake_on_new_jobs(&self, wake: &tokio::sync::Notify) {
        match self {
            Self::Sqlite(_) => std::future::pending().await,
            Self::Postgres(store) => store.wake_on_new_jobs(wake).await,
        }
    }

    /// Waits for connections in use to be returned, then closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

/// The backend a database URL names, judged by its scheme alone.
pub fn backend_of(url: &str) -> Option<Backend> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase())?;
    match scheme.as_str() {
        "sqlite" => Some(Backend::Sqlite),
        "postgres" | "postgresql" => Some(Backend::Postgres),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_scheme() {
        assert_eq!(backend_of("sqlite://gatehouse.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgresql://db/x"), Some(Backend::Postgres));
        assert_eq!(backend_of("POSTGRES://db/x"), Some(Backend::Postgres));
        assert_eq!(backend_of("mysql://db/x"), None);
        assert_eq!(backend_of("gatehouse.db"), None);
    }
}
