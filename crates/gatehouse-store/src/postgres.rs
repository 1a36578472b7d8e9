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

/// One claim loop, one success recorder, the odd heartbeat or failure, and the connection that
/// listens for new jobs need no more.
const BOOKKEEPING_CONNECTIONS: u32 = 5;

/// The channel every enqueue notifies (in its transaction, so on commit).
pub(crate) const JOBS_CHANNEL: &str = "gatehouse_jobs";

/// The channel the session invalidation log's trigger notifies (migration 0009).
pub(crate) const SESSIONS_CHANNEL: &str = "gatehouse_sessions";

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// A few connections with `synchronous_commit = off`, for the job queue's own bookkeeping
    /// (claims, heartbeats, outcomes). A crash can lose the last of those writes, which only means
    /// a job runs again; enqueues and everything else commit durably through `pool`.
    bookkeeping: PgPool,
    /// When the job queue last looked for stalled jobs (see `sql_jobs`).
    stall_sweep: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl PostgresStore {
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

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
        Ok(Self { pool, bookkeeping, stall_sweep: std::sync::Arc::default() })
    }

    /// Wakes `wake` on every notification of new jobs, from any instance; runs until dropped.
    /// `PgListener` reconnects by itself; while it cannot, the worker's poll is the safety net.
    pub(crate) async fn wake_on_new_jobs(&self, wake: &tokio::sync::Notify) {
        self.listen(JOBS_CHANNEL, wake, &|_| {}).await;
    }

    /// Wakes `wake` on every notification on `channel`, telling `listening` when the listening
    /// connection comes and goes; runs until dropped.
    pub(crate) async fn listen(&self, channel: &str, wake: &tokio::sync::Notify, listening: &(dyn Fn(bool) + Sync)) {
        let mut failing = false;
        loop {
            let listener = match sqlx::postgres::PgListener::connect_with(&self.bookkeeping).await {
                Ok(mut listener) => match listener.listen(channel).await {
                    Ok(()) => Some(listener),
                    Err(error) => {
                        warn_once(&mut failing, &error);
                        None
                    }
                },
                Err(error) => {
                    warn_once(&mut failing, &error);
                    None
                }
            };
            if let Some(mut listener) = listener {
                failing = false;
                listening(true);
                // Whatever was notified while no one listened is read now.
                wake.notify_one();
                loop {
                    match listener.recv().await {
                        Ok(_) => wake.notify_one(),
                        Err(error) => {
                            warn_once(&mut failing, &error);
                            break;
                        }
                    }
                }
                listening(false);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
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

/// Workspaces, members and invitations.
mod workspaces {
    use super::PostgresStore;

    crate::sql_workspaces::sql_workspaces!(PostgresStore, sqlx::PgConnection, sqlx::postgres::PgRow);
}

/// Export and erasure of personal data.
mod privacy {
    use super::PostgresStore;

    crate::privacy::sql_privacy!(PostgresStore, sqlx::PgConnection, sqlx::postgres::PgRow);
}

/// Audit queries and user administration.
mod admin {
    use super::PostgresStore;

    crate::sql_admin::sql_admin!(PostgresStore);
}

/// A person's own changes to their account, and the devices they sign in from.
mod self_service {
    use super::PostgresStore;

    crate::sql_self_service::sql_self_service!(PostgresStore, sqlx::postgres::PgRow);
}

/// One-time email links.
mod links {
    use super::PostgresStore;

    crate::sql_links::sql_links!(PostgresStore, sqlx::PgConnection);
}

/// Webhook endpoints, deliveries and attempts.
mod webhooks {
    use super::PostgresStore;

    crate::sql_webhooks::sql_webhooks!(PostgresStore, sqlx::PgConnection, sqlx::postgres::PgRow);
}

/// Provider sign-in state, linked identities and the token vault.
mod oauth {
    use super::PostgresStore;

    crate::sql_oauth::sql_oauth!(PostgresStore, sqlx::PgConnection, sqlx::postgres::PgRow);
}

/// Second factors and the second step of a sign-in.
mod mfa {
    use super::PostgresStore;

    crate::sql_mfa::sql_mfa!(PostgresStore, sqlx::PgConnection, sqlx::postgres::PgRow);
}

/// Every sealed value, for re-sealing under a new master secret.
mod sealed {
    use super::PostgresStore;

    crate::sql_sealed::sql_sealed!(PostgresStore, sqlx::postgres::PgRow);
}

/// Removing what has expired.
mod housekeeping {
    use super::PostgresStore;

    crate::sql_housekeeping::sql_housekeeping!(PostgresStore);
}

/// The job queue.
mod jobs {
    use super::PostgresStore;

    /// One statement for any number of jobs, with five array parameters (`UNNEST`), instead of
    /// eight parameters per job that PostgreSQL parses and binds one by one.
    async fn insert_job_rows(
        conn: &mut sqlx::PgConnection,
        jobs: &[gatehouse_core::jobs::NewJob],
        now: time::OffsetDateTime,
    ) -> Result<(), gatehouse_core::store::StoreError> {
        use crate::sql_ports::millis;
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = jobs.iter().map(|job| job.id.to_string()).collect();
        let kinds: Vec<String> = jobs.iter().map(|job| job.kind.clone()).collect();
        let payloads: Vec<String> = jobs.iter().map(|job| job.payload.to_string()).collect();
        let attempts: Vec<i64> = jobs.iter().map(|job| i64::from(job.max_attempts.max(1))).collect();
        let run_at: Vec<i64> = jobs.iter().map(|job| millis(job.run_at)).collect();
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at) \
             SELECT id, kind, payload::jsonb, 'ready', 0, max_attempts, run_at, $6 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) \
             AS t(id, kind, payload, max_attempts, run_at)",
        )
        .bind(ids)
        .bind(kinds)
        .bind(payloads)
        .bind(attempts)
        .bind(run_at)
        .bind(millis(now))
        .execute(&mut *conn)
        .await
        .map_err(crate::error::from_sqlx)?;
        Ok(())
    }

    crate::sql_jobs::sql_jobs!(
        PostgresStore,
        sqlx::PgConnection,
        sqlx::postgres::PgRow,
        list = ("SELECT jsonb_array_elements_text(", "::jsonb)"),
        ids = ("id = ANY(ARRAY(SELECT jsonb_array_elements_text(", "::jsonb)))"),
        lock = "FOR UPDATE SKIP LOCKED",
        bookkeeping = bookkeeping,
        notify = "SELECT pg_notify('gatehouse_jobs', '')"
    );
}

fn warn_once(failing: &mut bool, error: &sqlx::Error) {
    if !*failing {
        tracing::warn!(%error, "cannot listen for new jobs; workers poll until this recovers");
    }
    *failing = true;
}
