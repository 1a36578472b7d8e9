//! The SQLite adapter: the zero-configuration default, a real deployment for one machine.
//!
//! WAL journal (readers never wait for the writer), a busy timeout (writers queue instead of
//! failing), foreign keys on, and `synchronous = NORMAL`, which in WAL mode loses no committed
//! transaction on a process crash.

use std::str::FromStr;
use std::time::Duration;

use gatehouse_core::store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::PoolOptions;
use crate::error::{from_migrate, from_sqlx as map_sqlx};
use crate::migrations::{self, Flavor};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// When the job queue last looked for stalled jobs (see `sql_jobs`).
    stall_sweep: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl SqliteStore {
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn connect(url: &str, pool: &PoolOptions) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(map_sqlx)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // sqlx shares one in-memory database between the pool's connections, but it vanishes when
        // the last of them closes; so an in-memory pool keeps one connection open for good.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool_options = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(if in_memory { pool.min_connections.max(1) } else { pool.min_connections })
            .acquire_timeout(pool.acquire_timeout);
        if in_memory {
            pool_options = pool_options.idle_timeout(None).max_lifetime(None);
        }
        let pool = pool_options.connect_with(options).await.map_err(map_sqlx)?;
        Ok(Self { pool, stall_sweep: std::sync::Arc::default() })
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator(Flavor::Sqlite).run(&self.pool).await.map_err(from_migrate)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// The ports whose SQL both engines share.
mod ports {
    use super::SqliteStore;

    crate::sql_ports::sql_ports!(
        SqliteStore,
        sqlx::SqliteConnection,
        sqlx::sqlite::SqliteRow,
        Backend::Sqlite,
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')"
    );
}

/// Workspaces, members and invitations.
mod workspaces {
    use super::SqliteStore;

    crate::sql_workspaces::sql_workspaces!(SqliteStore, sqlx::SqliteConnection, sqlx::sqlite::SqliteRow);
}

/// Export and erasure of personal data.
mod privacy {
    use super::SqliteStore;

    crate::privacy::sql_privacy!(SqliteStore, sqlx::SqliteConnection, sqlx::sqlite::SqliteRow);
}

/// Audit queries and user administration.
mod admin {
    use super::SqliteStore;

    crate::sql_admin::sql_admin!(SqliteStore);
}

/// A person's own changes to their account, and the devices they sign in from.
mod self_service {
    use super::SqliteStore;

    crate::sql_self_service::sql_self_service!(SqliteStore, sqlx::sqlite::SqliteRow);
}

/// One-time email links.
mod links {
    use super::SqliteStore;

    crate::sql_links::sql_links!(SqliteStore, sqlx::SqliteConnection);
}

/// Webhook endpoints, deliveries and attempts.
mod webhooks {
    use super::SqliteStore;

    crate::sql_webhooks::sql_webhooks!(SqliteStore, sqlx::SqliteConnection, sqlx::sqlite::SqliteRow);
}

/// Provider sign-in state, linked identities and the token vault.
mod oauth {
    use super::SqliteStore;

    crate::sql_oauth::sql_oauth!(SqliteStore, sqlx::SqliteConnection, sqlx::sqlite::SqliteRow);
}

/// Second factors and the second step of a sign-in.
mod mfa {
    use super::SqliteStore;

    crate::sql_mfa::sql_mfa!(SqliteStore, sqlx::SqliteConnection, sqlx::sqlite::SqliteRow);
}

/// Every sealed value, for re-sealing under a new master secret.
mod sealed {
    use super::SqliteStore;

    crate::sql_sealed::sql_sealed!(SqliteStore, sqlx::sqlite::SqliteRow);
}

/// Removing what has expired.
mod housekeeping {
    use super::SqliteStore;

    crate::sql_housekeeping::sql_housekeeping!(SqliteStore);
}

/// The job queue.
mod jobs {
    use super::SqliteStore;

    /// Multi-row inserts: one statement per 500 jobs instead of one per job.
    async fn insert_job_rows(
        conn: &mut sqlx::SqliteConnection,
        jobs: &[gatehouse_core::jobs::NewJob],
        now: time::OffsetDateTime,
    ) -> Result<(), gatehouse_core::store::StoreError> {
        for chunk in jobs.chunks(500) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at) ",
            );
            insert.push_values(chunk, |mut row, job| {
                row.push_bind(job.id.to_string())
                    .push_bind(job.kind.clone())
                    .push_bind(sqlx::types::Json(job.payload.clone()))
                    .push_bind("ready")
                    .push_bind(0_i64)
                    .push_bind(i64::from(job.max_attempts.max(1)))
                    .push_bind(crate::sql_ports::millis(job.run_at))
                    .push_bind(crate::sql_ports::millis(now));
            });
            insert.build().execute(&mut *conn).await.map_err(crate::error::from_sqlx)?;
        }
        Ok(())
    }

    crate::sql_jobs::sql_jobs!(
        SqliteStore,
        sqlx::SqliteConnection,
        sqlx::sqlite::SqliteRow,
        list = ("SELECT value FROM json_each(", ")"),
        ids = ("id IN (SELECT value FROM json_each(", "))"),
        lock = "",
        bookkeeping = pool,
        notify = ""
    );
}
