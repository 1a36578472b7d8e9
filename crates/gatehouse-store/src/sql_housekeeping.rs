//! Housekeeping SQL, shared by both engines like [`crate::sql_ports`]. Rows go in batches, each its
//! own statement, so a large backlog never holds one long lock.

/// Implements `Housekeeping` for `$store` (field `pool`).
macro_rules! sql_housekeeping {
    ($store:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::store::{Housekeeping, Removed, StoreError};
        use time::OffsetDateTime;

        use crate::error::from_sqlx;
        use crate::sql_ports::millis;

        /// Rows one statement deletes at most.
        const BATCH: i64 = 5_000;

        impl $store {
            /// Runs `sql` (which takes the cutoff as `$1` and the batch size as `$2`) until a
            /// batch comes back short; returns the rows deleted.
            async fn delete_in_batches(&self, sql: &'static str, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
                let mut total = 0;
                loop {
                    let deleted = sqlx::query(sql)
                        .bind(millis(cutoff))
                        .bind(BATCH)
                        .execute(&self.pool)
                        .await
                        .map_err(from_sqlx)?
                        .rows_affected();
                    total += deleted;
                    if deleted < BATCH.unsigned_abs() {
                        return Ok(total);
                    }
                }
            }
        }

        #[async_trait]
        impl Housekeeping for $store {
            async fn remove_expired(
                &self,
                now: OffsetDateTime,
                finished_before: OffsetDateTime,
            ) -> Result<Removed, StoreError> {
                Ok(Removed {
                    jobs: self
                        .delete_in_batches(
                            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                             WHERE state = 'succeeded' AND finished_at < $1 LIMIT $2)",
                            finished_before,
                        )
                        .await?,
                    webhook_deliveries: self
                        .delete_in_batches(
                            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
                             WHERE status <> 'pending' AND created_at < $1 LIMIT $2)",
                            finished_before,
                        )
                        .await?,
                    sessions: self
                        .delete_in_batches(
                            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                             WHERE idle_expires_at < $1 OR absolute_expires_at < $1 LIMIT $2)",
                            now,
                        )
                        .await?,
                    email_links: self
                        .delete_in_batches(
                            "DELETE FROM email_links WHERE id IN (SELECT id FROM email_links \
                             WHERE expires_at < $1 LIMIT $2)",
                            now,
                        )
                        .await?,
                    oauth_states: self
                        .delete_in_batches(
                            "DELETE FROM oauth_states WHERE id_hash IN (SELECT id_hash FROM oauth_states \
                             WHERE expires_at < $1 LIMIT $2)",
                            now,
                        )
                        .await?,
                    second_steps: self
                        .delete_in_batches(
                            "DELETE FROM mfa_steps WHERE id IN (SELECT id FROM mfa_steps \
                             WHERE expires_at < $1 LIMIT $2)",
                            now,
                        )
                        .await?,
                    passkey_ceremonies: self
                        .delete_in_batches(
                            "DELETE FROM webauthn_ceremonies WHERE challenge IN (SELECT challenge FROM \
                             webauthn_ceremonies WHERE expires_at < $1 LIMIT $2)",
                            now,
                        )
                        .await?,
                })
            }
        }
    };
}

pub(crate) use sql_housekeeping;
