//! The job queue's SQL, shared by both engines like [`crate::sql_ports`]. What differs is passed
//! in: how a claim locks the row it takes (PostgreSQL skips rows other workers hold with `FOR
//! UPDATE SKIP LOCKED`; SQLite has a single writer, so one `UPDATE … WHERE id = (SELECT …)` is
//! already atomic) and how a JSON list of kinds is unpacked.

/// Implements `JobStore` for `$store` (field `pool`), yielding `$row` rows over `$conn`
/// connections. `$open` and `$close` wrap a bound JSON array of strings into a SQL query of its
/// elements; `$lock` ends the claim's inner `SELECT`; `$bookkeeping` names the pool field for the
/// queue's own writes (claims, heartbeats, outcomes), which may commit without waiting for disk;
/// `$notify` is a statement run after an enqueue that wakes other instances (empty for none). Each
/// engine's module provides `insert_job_rows`, its fastest way to insert many jobs.
macro_rules! sql_jobs {
    (
        $store:ty,
        $conn:ty,
        $row:ty,
        list = ($open:literal, $close:literal),
        ids = ($ids_open:literal, $ids_close:literal),
        lock = $lock:literal,
        bookkeeping = $bookkeeping:ident,
        notify = $notify:literal
    ) => {
        use std::time::Duration;

        use async_trait::async_trait;
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::jobs::{Claimed, Failure, Job, JobState, JobStore, NewJob, QueueStats};
        use gatehouse_core::store::StoreError;
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{from_millis, millis, uuid};

        /// Written on jobs whose lease ran out.
        const STALLED: &str = "the lease expired during an attempt: the worker stopped or the job hung";

        impl $store {
            /// Inserts jobs on `conn`, so a caller can enqueue them in its own transaction.
            pub(crate) async fn insert_jobs(conn: &mut $conn, jobs: &[NewJob], now: OffsetDateTime) -> Result<(), StoreError> {
                // The engine's bulk insert (see `insert_job_rows` beside each store).
                insert_job_rows(&mut *conn, jobs, now).await?;
                // Tells other instances' workers, once the caller's transaction commits.
                if !jobs.is_empty() && !$notify.is_empty() {
                    sqlx::query($notify).execute(&mut *conn).await.map_err(from_sqlx)?;
                }
                Ok(())
            }

            fn job_from_row(row: &$row) -> Result<Job, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let state: String = row.try_get("state").map_err(from_sqlx)?;
                let payload: sqlx::types::Json<serde_json::Value> = row.try_get("payload").map_err(from_sqlx)?;
                let attempts: i64 = row.try_get("attempts").map_err(from_sqlx)?;
                let max_attempts: i64 = row.try_get("max_attempts").map_err(from_sqlx)?;
                let finished_at: Option<i64> = row.try_get("finished_at").map_err(from_sqlx)?;
                Ok(Job {
                    id: uuid(&id)?,
                    kind: row.try_get("kind").map_err(from_sqlx)?,
                    payload: payload.0,
                    state: JobState::parse(&state)
                        .ok_or_else(|| StoreError::Backend(format!("stored job state {state:?} is unknown")))?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
                    run_at: from_millis(row.try_get("run_at").map_err(from_sqlx)?)?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    finished_at: finished_at.map(from_millis).transpose()?,
                    last_error: row.try_get("last_error").map_err(from_sqlx)?,
                })
            }
        }

        #[async_trait]
        impl JobStore for $store {
            async fn enqueue(&self, jobs: &[NewJob], now: OffsetDateTime) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::insert_jobs(&mut tx, jobs, now).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn claim_many(
                &self,
                kinds: &[&str],
                now: OffsetDateTime,
                lease: Duration,
                max: u32,
            ) -> Result<Vec<Claimed>, StoreError> {
                if kinds.is_empty() || max == 0 {
                    return Ok(Vec::new());
                }
                // Stalled jobs first: back to ready (their old claim void), or dead on their last
                // attempt; at most once a second of the queue's clock, since a lease can only run
                // out as time passes. Then the claim itself only ever looks at ready jobs in run_at
                // order, which the (state, run_at) index serves without a sort.
                let now_ms = millis(now);
                let last = self.stall_sweep.load(std::sync::atomic::Ordering::Relaxed);
                let sweep = now_ms < last || now_ms - last >= 1000;
                if sweep {
                    self.stall_sweep.store(now_ms, std::sync::atomic::Ordering::Relaxed);
                }
                if sweep { sqlx::query(
                    "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END, \
                     finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
                     claim_token = NULL, lease_expires_at = NULL, last_error = $2 \
                     WHERE state = 'running' AND lease_expires_at < $1",
                )
                .bind(millis(now))
                .bind(STALLED)
                .execute(&self.$bookkeeping)
                .await
                .map_err(from_sqlx)?; }

                let token = Uuid::new_v4();
                let kinds = serde_json::to_string(kinds).map_err(|e| StoreError::Backend(e.to_string()))?;
                let rows = sqlx::query(concat!(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, claim_token = $2, \
                     lease_expires_at = $3 \
                     WHERE id IN (SELECT id FROM jobs WHERE state = 'ready' AND run_at <= $1 AND kind IN (",
                    $open,
                    "$4",
                    $close,
                    ") ORDER BY run_at LIMIT $5 ",
                    $lock,
                    ") RETURNING *"
                ))
                .bind(millis(now))
                .bind(token.to_string())
                .bind(millis(gatehouse_core::jobs::after(now, lease)))
                .bind(kinds)
                .bind(i64::from(max))
                .fetch_all(&self.$bookkeeping)
                .await
                .map_err(from_sqlx)?;
                let mut claimed = rows
                    .iter()
                    .map(|row| Ok(Claimed { job: Self::job_from_row(row)?, token }))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                // RETURNING keeps no order; hand them out oldest first.
                claimed.sort_by(|a, b| (a.job.run_at, a.job.id).cmp(&(b.job.run_at, b.job.id)));
                Ok(claimed)
            }

            async fn complete_many(&self, claims: &[Claimed], now: OffsetDateTime) -> Result<Vec<Uuid>, StoreError> {
                // A claim batch shares one token, so completions group by it. The token alone says
                // the claim still holds (a reclaimed or failed job has another, or none). The ids
                // are matched so that the plan can only be a primary-key lookup (on PostgreSQL,
                // `= ANY(ARRAY(…))`): testing the state too, or a semi-join, let the generic plan
                // walk the running-jobs index (dead entries and all) or the whole table.
                let mut by_token: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
                for claim in claims {
                    by_token.entry(claim.token).or_default().push(claim.job.id.to_string());
                }
                let mut done = Vec::with_capacity(claims.len());
                for (token, ids) in by_token {
                    let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let rows: Vec<String> = sqlx::query_scalar(concat!(
                        "UPDATE jobs SET state = 'succeeded', finished_at = $1, claim_token = NULL, lease_expires_at = NULL \
                         WHERE claim_token = $2 AND ",
                        $ids_open,
                        "$3",
                        $ids_close,
                        " RETURNING id"
                    ))
                    .bind(millis(now))
                    .bind(token.to_string())
                    .bind(ids)
                    .fetch_all(&self.$bookkeeping)
                    .await
                    .map_err(from_sqlx)?;
                    for id in rows {
                        done.push(uuid(&id)?);
                    }
                }
                Ok(done)
            }

            async fn heartbeat(&self, claim: &Claimed, until: OffsetDateTime) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND claim_token = $2 AND state = 'running'",
                )
                .bind(claim.job.id.to_string())
                .bind(claim.token.to_string())
                .bind(millis(until))
                .execute(&self.$bookkeeping)
                .await
                .map_err(from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn fail(
                &self,
                claim: &Claimed,
                error: &str,
                outcome: Failure,
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let error = gatehouse_core::jobs::truncate_error(error);
                let query = match outcome {
                    Failure::RetryAt(at) => sqlx::query(
                        "UPDATE jobs SET state = 'ready', run_at = $4, last_error = $3, claim_token = NULL, \
                         lease_expires_at = NULL WHERE id = $1 AND claim_token = $2 AND state = 'running'",
                    )
                    .bind(claim.job.id.to_string())
                    .bind(claim.token.to_string())
                    .bind(error)
                    .bind(millis(at)),
                    Failure::Dead => sqlx::query(
                        "UPDATE jobs SET state = 'dead', finished_at = $4, last_error = $3, claim_token = NULL, \
                         lease_expires_at = NULL WHERE id = $1 AND claim_token = $2 AND state = 'running'",
                    )
                    .bind(claim.job.id.to_string())
                    .bind(claim.token.to_string())
                    .bind(error)
                    .bind(millis(now)),
                };
                let done = query.execute(&self.$bookkeeping).await.map_err(from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn release(&self, claim: &Claimed) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE jobs SET state = 'ready', attempts = attempts - 1, claim_token = NULL, \
                     lease_expires_at = NULL WHERE id = $1 AND claim_token = $2 AND state = 'running'",
                )
                .bind(claim.job.id.to_string())
                .bind(claim.token.to_string())
                .execute(&self.$bookkeeping)
                .await
                .map_err(from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
                let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(Self::job_from_row).transpose()
            }

            async fn jobs_in(&self, state: JobState, limit: u32) -> Result<Vec<Job>, StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM jobs WHERE state = $1 ORDER BY COALESCE(finished_at, run_at) DESC, id LIMIT $2",
                )
                .bind(state.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.iter().map(Self::job_from_row).collect()
            }

            async fn retry_dead(&self, id: Uuid, now: OffsetDateTime, events: &[AuditEvent]) -> Result<bool, StoreError> {
                let retry = sqlx::query(
                    "UPDATE jobs SET state = 'ready', attempts = 0, run_at = $2, finished_at = NULL \
                     WHERE id = $1 AND state = 'dead'",
                )
                .bind(id.to_string())
                .bind(millis(now));
                self.change_one_row(retry, events).await
            }

            async fn stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError> {
                let rows = sqlx::query("SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let mut counts = Vec::with_capacity(rows.len());
                for row in &rows {
                    let state: String = row.try_get("state").map_err(from_sqlx)?;
                    let Some(state) = JobState::parse(&state) else { continue };
                    let n: i64 = row.try_get("n").map_err(from_sqlx)?;
                    counts.push((row.try_get("kind").map_err(from_sqlx)?, state, u64::try_from(n).unwrap_or(0)));
                }
                let oldest: Option<i64> =
                    sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'ready' AND run_at <= $1")
                        .bind(millis(now))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(from_sqlx)?;
                let oldest_ready_age = oldest
                    .map(|ms| u64::try_from(millis(now).saturating_sub(ms)).unwrap_or(0))
                    .map(Duration::from_millis);
                Ok(QueueStats { counts, oldest_ready_age })
            }
        }
    };
}

pub(crate) use sql_jobs;
