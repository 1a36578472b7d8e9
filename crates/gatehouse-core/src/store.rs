//! Storage ports: the small traits that the SQL adapters in `gatehouse-store` implement.
//!
//! The application holds them as `Arc<dyn Trait>`. Every adapter maps its driver's errors onto
//! [`StoreError`] so the layers above never see a driver type, and a unique-constraint violation
//! is always [`StoreError::Duplicate`], never a generic failure.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `what` names the constraint, not the value.
    #[error("a record with the same {what} already exists")]
    Duplicate { what: String },
    #[error("record not found")]
    NotFound,
    /// The database could not be reached in time (connect failure, pool timeout, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database said; a bug or a broken schema, never a response to input.
    #[error("database error: {0}")]
    Backend(String),
}

/// Which SQL engine backs the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How the database schema compares with the migrations embedded in this binary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaStatus {
    /// Embedded migrations not yet applied: the schema is behind this binary.
    pub pending: Vec<i64>,
    /// Applied migrations this binary does not know: a newer release migrated the database.
    /// Migrations only ever add, so an older binary keeps working; this is reported, not fatal.
    pub unknown: Vec<i64>,
}

impl SchemaStatus {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Connection pool occupancy, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// The database itself: liveness, schema state and pool figures.
#[async_trait]
pub trait DatabaseProbe: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;
    /// Runs a real round-trip query.
    async fn ping(&self) -> Result<(), StoreError>;
    async fn schema_status(&self) -> Result<SchemaStatus, StoreError>;
    fn pool_stats(&self) -> PoolStats;
}

/// Secrets that Gatehouse generates for itself and must keep across restarts.
#[async_trait]
pub trait InstanceSecretStore: Send + Sync + std::fmt::Debug {
    async fn instance_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores a new secret; [`StoreError::Duplicate`] when one of that name exists already.
    async fn insert_instance_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;
}

/// Returns the stored secret called `name`, or stores `fresh` under that name and returns it.
///
/// Safe when several instances start at once: the first insert wins and the others read it back.
pub async fn load_or_store_instance_secret(
    store: &dyn InstanceSecretStore,
    name: &str,
    fresh: Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    if let Some(existing) = store.instance_secret(name).await? {
        return Ok(existing);
    }
    match store.insert_instance_secret(name, &fresh).await {
        Ok(()) => Ok(fresh),
        Err(StoreError::Duplicate { .. }) => store.instance_secret(name).await?.ok_or(StoreError::NotFound),
        Err(other) => Err(other),
    }
}

/// What one housekeeping pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub jobs: u64,
    pub webhook_deliveries: u64,
    pub sessions: u64,
    pub email_links: u64,
    pub oauth_states: u64,
    /// Second steps of sign-ins that were never completed.
    pub second_steps: u64,
    /// Passkey ceremonies that were never finished.
    pub passkey_ceremonies: u64,
}

/// Deletes what has outlived its use, so tables stop growing: succeeded jobs and finished webhook
/// deliveries (with their attempts) finished before `finished_before`, and sessions, email links,
/// sign-in states and second steps expired at `now`. Dead jobs and pending deliveries are kept: someone may still act on them.
#[async_trait]
pub trait Housekeeping: Send + Sync + std::fmt::Debug {
    async fn remove_expired(
        &self,
        now: time::OffsetDateTime,
        finished_before: time::OffsetDateTime,
    ) -> Result<Removed, StoreError>;
}
