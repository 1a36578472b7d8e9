//! The session invalidation log on each engine (see [`crate::coherence`] and migration 0009).

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::sessions::TokenHash;
use gatehouse_core::store::StoreError;
use sqlx::Row as _;

use crate::coherence::{InvalidationLog, LogCursor, LogRead};
use crate::error::from_sqlx;
use crate::postgres::PostgresStore;
use crate::sql_ports::{millis, token_hash};
use crate::sqlite::SqliteStore;

/// Rows read at most at once on SQLite; a longer backlog is read in several queries.
const SQLITE_BATCH: i64 = 10_000;

fn since(age: Duration) -> i64 {
    millis(time::OffsetDateTime::now_utc()) - i64::try_from(age.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The log's SQL that is the same on both engines: the hashes of the last `lookback`, for a new
/// reader's tombstones, and pruning.
macro_rules! shared_log_sql {
    ($store:ty) => {
        impl $store {
            async fn recent_invalidations(&self, lookback: Duration) -> Result<Vec<TokenHash>, StoreError> {
                let rows = sqlx::query("SELECT token_hash FROM session_invalidations WHERE created_at > $1")
                    .bind(since(lookback))
                    .fetch_all(self.pool())
                    .await
                    .map_err(from_sqlx)?;
                rows.into_iter().map(|row| token_hash(row.try_get("token_hash").map_err(from_sqlx)?)).collect()
            }

            async fn prune_invalidations(&self, age: Duration) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM session_invalidations WHERE created_at < $1")
                    .bind(since(age))
                    .execute(self.pool())
                    .await
                    .map_err(from_sqlx)?;
                Ok(done.rows_affected())
            }
        }
    };
}

shared_log_sql!(SqliteStore);
shared_log_sql!(PostgresStore);

#[async_trait]
impl InvalidationLog for SqliteStore {
    async fn open(&self, lookback: Duration) -> Result<(LogCursor, Vec<TokenHash>), StoreError> {
        // The position first: a row committed between the two queries is read again by the first
        // read, which is harmless.
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM session_invalidations")
            .fetch_one(self.pool())
            .await
            .map_err(from_sqlx)?;
        Ok((LogCursor::Seq(last), self.recent_invalidations(lookback).await?))
    }

    async fn read(&self, cursor: &LogCursor) -> Result<LogRead, StoreError> {
        let LogCursor::Seq(mut last) = *cursor else {
            return Err(StoreError::Backend("a PostgreSQL log cursor on SQLite".into()));
        };
        let mut found = Vec::new();
        loop {
            let rows =
                sqlx::query("SELECT seq, token_hash FROM session_invalidations WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(last)
                    .bind(SQLITE_BATCH)
                    .fetch_all(self.pool())
                    .await
                    .map_err(from_sqlx)?;
            let full = rows.len() as i64 == SQLITE_BATCH;
            for row in rows {
                let seq: i64 = row.try_get("seq").map_err(from_sqlx)?;
                found.push((seq, token_hash(row.try_get("token_hash").map_err(from_sqlx)?)?));
                last = seq;
            }
            if !full {
                return Ok(LogRead { cursor: LogCursor::Seq(last), rows: found });
            }
        }
    }

    async fn prune(&self, age: Duration) -> Result<u64, StoreError> {
        self.prune_invalidations(age).await
    }
}

#[async_trait]
impl InvalidationLog for PostgresStore {
    async fn open(&self, lookback: Duration) -> Result<(LogCursor, Vec<TokenHash>), StoreError> {
        // The snapshot's xmin: every transaction below it has finished.
        let xmin: i64 = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(self.pool())
            .await
            .map_err(from_sqlx)?;
        Ok((LogCursor::Xmin(xmin), self.recent_invalidations(lookback).await?))
    }

    async fn read(&self, cursor: &LogCursor) -> Result<LogRead, StoreError> {
        let LogCursor::Xmin(xmin) = *cursor else {
            return Err(StoreError::Backend("a SQLite log cursor on PostgreSQL".into()));
        };
        // One statement, one snapshot: every row of a transaction below the new xmin is visible
        // to it, so the next read, from that xmin, misses nothing that commits later.
        let rows = sqlx::query(
            "WITH snapshot AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) \
             SELECT snapshot.xmin, log.seq, log.token_hash FROM snapshot \
             LEFT JOIN session_invalidations log ON log.xid >= ($1::bigint)::text::xid8",
        )
        .bind(xmin)
        .fetch_all(self.pool())
        .await
        .map_err(from_sqlx)?;
        let mut next = xmin;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            next = row.try_get("xmin").map_err(from_sqlx)?;
            let seq: Option<i64> = row.try_get("seq").map_err(from_sqlx)?;
            let hash: Option<Vec<u8>> = row.try_get("token_hash").map_err(from_sqlx)?;
            if let (Some(seq), Some(hash)) = (seq, hash) {
                found.push((seq, token_hash(hash)?));
            }
        }
        Ok(LogRead { cursor: LogCursor::Xmin(next), rows: found })
    }

    async fn prune(&self, age: Duration) -> Result<u64, StoreError> {
        self.prune_invalidations(age).await
    }
}
