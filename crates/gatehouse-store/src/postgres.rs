//! The PostgreSQL adapter: the system of record when Gatehouse runs as several instances.
//!
//! Migrations take PostgreSQL's advisory lock (sqlx does this), so instances starting together
//! apply each migration once.

use std::str::FromStr;

use async_trait::async_trait;
use gatehouse_core::store::{Backend, DatabaseProbe, InstanceSecretStore, PoolStats, SchemaStatus, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::PoolOptions;
use crate::error::{from_migrate, from_sqlx};
use crate::migrations::{self, Flavor};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub(crate) async fn connect(url: &str, pool: &PoolOptions) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(from_sqlx)?.application_name("gatehouse");
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(from_sqlx)?;
        Ok(Self { pool })
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator(Flavor::Postgres).run(&self.pool).await.map_err(from_migrate)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl DatabaseProbe for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(from_sqlx)?;
        Ok(())
    }

    async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let has_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        let applied: Vec<i64> = if has_table {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?
        } else {
            Vec::new()
        };
        Ok(migrations::compare(&applied))
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX) }
    }
}

#[async_trait]
impl InstanceSecretStore for PostgresStore {
    async fn instance_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM instance_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)
    }

    async fn insert_instance_secret(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO instance_secrets (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }
}
