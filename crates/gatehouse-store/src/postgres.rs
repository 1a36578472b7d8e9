//! The PostgreSQL adapter: the system of record when Gatehouse runs as several instances.
//!
//! Migrations take PostgreSQL's advisory lock (sqlx does this), so instances starting together
//! apply each migration once.

use std::str::FromStr;

use gatehouse_core::store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::PoolOptions;
use crate::error::{from_migrate, from_sqlx as map_sqlx};
use crate::migrations::{self, Flavor};

/// One claim loop, one success recorder and the odd heartbeat or failure need no more.
const BOOKKEEPING_CONNECTIONS: u32 = 4;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// A few connections with `synchronous_commit = off`, for the job queue's own bookkeeping
    /// (claims, heartbeats, outcomes). A crash can lose the last of those writes, which only means
    /// a job runs again; enqueues and everything else commit durably through `pool`.
    bookkeeping: PgPool,
}

impl PostgresStore {
    pub(crate) async fn connect(url: &str, pool: &PoolOptions) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(map_sqlx)?.application_name("gatehouse");
        let bookkeeping = PgPoolOptions::new()
            .max_connections(BOOKKEEPING_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(pool.acquire_timeout)
            .connect_lazy_with(options.clone().options([("synchronous_commit", "off")]));
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(map_sqlx)?;
        Ok(Self { pool, bookkeeping })
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator(Flavor::Postgres).run(&self.pool).await.map_err(from_migrate)
    }

    pub(crate) async fn close(&self) {
        self.bookkeeping.close().await;
        self.pool.close().await;
    }
}

/// The ports whose SQL both engines share.
mod ports {
    use super::PostgresStore;

    crate::sql_ports::sql_ports!(
        PostgresStore,
        sqlx::PgConnection,
        sqlx::postgres::PgRow,
        Backend::Postgres,
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL"
    );
}

/// The job queue.
mod jobs {
    use super::PostgresStore;

    crate::sql_jobs::sql_jobs!(
        PostgresStore,
        sqlx::PgConnection,
        sqlx::postgres::PgRow,
        list = ("SELECT jsonb_array_elements_text(", "::jsonb)"),
        lock = "FOR UPDATE SKIP LOCKED",
        bookkeeping = bookkeeping
    );
}
