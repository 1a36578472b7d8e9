//! Webhook endpoints, deliveries and attempts, shared by both engines like [`crate::sql_ports`].
//!
//! The fan-out inserts each delivery with `ON CONFLICT DO NOTHING` on (event, endpoint) and
//! enqueues a delivery job only for rows it inserted, so a fan-out that runs twice sends nothing
//! twice.

/// Implements `WebhookStore` for `$store` (field `pool`), over `$conn` connections yielding `$row`.
macro_rules! sql_webhooks {
    ($store:ty, $conn:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::jobs::NewJob;
        use gatehouse_core::store::StoreError;
        use gatehouse_core::webhooks::{
            Attempt, AttemptOutcome, Deliver, Delivery, DeliveryJob, DeliveryStatus, Endpoint, EndpointChanges, Event,
            FailureClass, PendingDelivery, StoredEndpoint, WebhookStore,
        };
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{from_millis, millis, uuid};

        const ENDPOINT_COLUMNS: &str = "id, url, event_types, enabled, sealed_secret, previous_sealed_secret, \
                                        previous_secret_until, disabled_reason, failing_since, created_at";

        /// The job that sends one delivery.
        fn delivery_job(delivery_id: Uuid, now: OffsetDateTime) -> Result<NewJob, StoreError> {
            NewJob::of::<Deliver>(&DeliveryJob { delivery_id }, now)
                .map_err(|error| StoreError::Backend(error.to_string()))
        }

        impl $store {
            fn endpoint_from_row(row: &$row) -> Result<StoredEndpoint, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let types: String = row.try_get("event_types").map_err(from_sqlx)?;
                let failing_since: Option<i64> = row.try_get("failing_since").map_err(from_sqlx)?;
                let previous: Option<Vec<u8>> = row.try_get("previous_sealed_secret").map_err(from_sqlx)?;
                let previous_until: Option<i64> = row.try_get("previous_secret_until").map_err(from_sqlx)?;
                Ok(StoredEndpoint {
                    endpoint: Endpoint {
                        id: uuid(&id)?,
                        url: row.try_get("url").map_err(from_sqlx)?,
                        event_types: types.split_whitespace().map(str::to_owned).collect(),
                        enabled: row.try_get("enabled").map_err(from_sqlx)?,
                        disabled_reason: row.try_get("disabled_reason").map_err(from_sqlx)?,
                        created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        failing_since: failing_since.map(from_millis).transpose()?,
                    },
                    sealed_secret: row.try_get("sealed_secret").map_err(from_sqlx)?,
                    previous: match (previous, previous_until) {
                        (Some(sealed), Some(until)) => Some((sealed, from_millis(until)?)),
                        _ => None,
                    },
                })
            }

            fn delivery_from_row(row: &$row) -> Result<Delivery, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let endpoint_id: String = row.try_get("endpoint_id").map_err(from_sqlx)?;
                let status: String = row.try_get("status").map_err(from_sqlx)?;
                Ok(Delivery {
                    id: uuid(&id)?,
                    endpoint_id: uuid(&endpoint_id)?,
                    event_id: row.try_get("event_id").map_err(from_sqlx)?,
                    event_type: row.try_get("event_type").map_err(from_sqlx)?,
                    status: DeliveryStatus::parse(&status)
                        .ok_or_else(|| StoreError::Backend(format!("stored delivery status {status:?} is unknown")))?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    attempts: Vec::new(),
                })
            }

            /// The attempt in a row's attempt columns; `None` for a delivery joined to no attempt.
            fn attempt_from_row(row: &$row) -> Result<Option<Attempt>, StoreError> {
                let attempted_at: Option<i64> = row.try_get("attempted_at").map_err(from_sqlx)?;
                let Some(attempted_at) = attempted_at else { return Ok(None) };
                let status_code: Option<i64> = row.try_get("status_code").map_err(from_sqlx)?;
                let latency_ms: Option<i64> = row.try_get("latency_ms").map_err(from_sqlx)?;
                let class: Option<String> = row.try_get("error_class").map_err(from_sqlx)?;
                Ok(Some(Attempt {
                    attempted_at: from_millis(attempted_at)?,
                    status_code: status_code.and_then(|code| u16::try_from(code).ok()),
                    latency_ms: latency_ms.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0),
                    error_class: class.as_deref().and_then(FailureClass::parse),
                    response_excerpt: row.try_get("response_excerpt").map_err(from_sqlx)?,
                }))
            }

            async fn attempts_of(&self, delivery_id: Uuid) -> Result<Vec<Attempt>, StoreError> {
                let rows = sqlx::query(
                    "SELECT attempted_at, status_code, latency_ms, error_class, response_excerpt \
                     FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
                )
                .bind(delivery_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(rows
                    .iter()
                    .map(Self::attempt_from_row)
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .flatten()
                    .collect())
            }
        }

        #[async_trait]
        impl WebhookStore for $store {
            async fn create_endpoint(
                &self,
                endpoint: &Endpoint,
                sealed_secret: &[u8],
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, url, event_types, enabled, sealed_secret, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(endpoint.id.to_string())
                .bind(&endpoint.url)
                .bind(endpoint.event_types.join(" "))
                .bind(endpoint.enabled)
                .bind(sealed_secret)
                .bind(millis(endpoint.created_at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn endpoint(&self, id: Uuid) -> Result<Option<StoredEndpoint>, StoreError> {
                let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(Self::endpoint_from_row).transpose()
            }

            async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
                let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(from_sqlx)?;
                rows.iter().map(|row| Ok(Self::endpoint_from_row(row)?.endpoint)).collect()
            }

            async fn update_endpoint(
                &self,
                id: Uuid,
                changes: &EndpointChanges,
                now: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<Option<Endpoint>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let updated = sqlx::query(
                    "UPDATE webhook_endpoints SET url = COALESCE($1, url), event_types = COALESCE($2, event_types), \
                     enabled = COALESCE($3, enabled), \
                     disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END, \
                     failing_since = CASE WHEN $3 THEN NULL ELSE failing_since END, \
                     updated_at = $4 WHERE id = $5",
                )
                .bind(changes.url.as_deref())
                .bind(changes.event_types.as_ref().map(|types| types.join(" ")))
                .bind(changes.enabled)
                .bind(millis(now))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                if updated != 1 {
                    return Ok(None);
                }
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(self.endpoint(id).await?.map(|stored| stored.endpoint))
            }

            async fn delete_endpoint(&self, id: Uuid, events: &[AuditEvent]) -> Result<bool, StoreError> {
                let delete = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id.to_string());
                self.change_one_row(delete, events).await
            }

            async fn rotate_secret(
                &self,
                id: Uuid,
                sealed_secret: &[u8],
                previous_until: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let rotate = sqlx::query(
                    "UPDATE webhook_endpoints SET previous_sealed_secret = sealed_secret, sealed_secret = $1, \
                     previous_secret_until = $2 WHERE id = $3",
                )
                .bind(sealed_secret)
                .bind(millis(previous_until))
                .bind(id.to_string());
                self.change_one_row(rotate, events).await
            }

            async fn fan_out(&self, event: &Event, now: OffsetDateTime) -> Result<usize, StoreError> {
                let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(from_sqlx)?;
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let mut jobs = Vec::new();
                for row in &rows {
                    let endpoint = Self::endpoint_from_row(row)?.endpoint;
                    if !endpoint.wants(&event.event_type) {
                        continue;
                    }
                    let delivery_id = Uuid::new_v4();
                    let inserted = sqlx::query(
                        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, event, status, \
                         created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6) \
                         ON CONFLICT (event_id, endpoint_id) DO NOTHING",
                    )
                    .bind(delivery_id.to_string())
                    .bind(endpoint.id.to_string())
                    .bind(&event.id)
                    .bind(&event.event_type)
                    .bind(sqlx::types::Json(event))
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                    if inserted == 1 {
                        jobs.push(delivery_job(delivery_id, now)?);
                    }
                }
                // One insert (and, on PostgreSQL, one notification) for all of them.
                Self::insert_jobs(&mut tx, &jobs, now).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(jobs.len())
            }

            async fn pending_delivery(&self, id: Uuid) -> Result<Option<PendingDelivery>, StoreError> {
                let row = sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let mut delivery = Self::delivery_from_row(&row)?;
                let event: sqlx::types::Json<Event> = row.try_get("event").map_err(from_sqlx)?;
                let Some(endpoint) = self.endpoint(delivery.endpoint_id).await? else { return Ok(None) };
                delivery.attempts = self.attempts_of(id).await?;
                Ok(Some(PendingDelivery { delivery, event: event.0, endpoint }))
            }

            async fn record_attempt(
                &self,
                delivery_id: Uuid,
                outcome: &AttemptOutcome,
                now: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let attempt = &outcome.attempt;
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms, error_class, \
                     response_excerpt) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(delivery_id.to_string())
                .bind(millis(attempt.attempted_at))
                .bind(attempt.status_code.map(i64::from))
                .bind(i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX))
                .bind(attempt.error_class.map(FailureClass::as_str))
                .bind(attempt.response_excerpt.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                let endpoint_id: String =
                    sqlx::query_scalar("UPDATE webhook_deliveries SET status = $1 WHERE id = $2 RETURNING endpoint_id")
                        .bind(outcome.status.as_str())
                        .bind(delivery_id.to_string())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                // A success ends a failure streak; a failure starts one unless one is running.
                sqlx::query(
                    "UPDATE webhook_endpoints SET \
                     failing_since = CASE WHEN $4 THEN NULL ELSE COALESCE(failing_since, $1) END, \
                     enabled = CASE WHEN $2 IS NULL THEN enabled ELSE FALSE END, \
                     disabled_reason = COALESCE($2, disabled_reason) WHERE id = $3",
                )
                .bind(millis(now))
                .bind(outcome.disable.as_deref())
                .bind(&endpoint_id)
                .bind(attempt.error_class.is_none())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn abandon_delivery(&self, id: Uuid) -> Result<(), StoreError> {
                sqlx::query("UPDATE webhook_deliveries SET status = 'failed' WHERE id = $1 AND status = 'pending'")
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }

            async fn deliveries(&self, endpoint_id: Uuid, limit: u32) -> Result<Vec<Delivery>, StoreError> {
                // One statement, so a delivery's status and its attempts come from one snapshot
                // (two reads could see an attempt without the status it set).
                let rows = sqlx::query(
                    "SELECT d.id, d.endpoint_id, d.event_id, d.event_type, d.status, d.created_at, \
                     a.attempted_at, a.status_code, a.latency_ms, a.error_class, a.response_excerpt \
                     FROM (SELECT * FROM webhook_deliveries WHERE endpoint_id = $1 \
                           ORDER BY created_at DESC, id LIMIT $2) d \
                     LEFT JOIN webhook_attempts a ON a.delivery_id = d.id \
                     ORDER BY d.created_at DESC, d.id, a.id",
                )
                .bind(endpoint_id.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let mut deliveries: Vec<Delivery> = Vec::new();
                for row in &rows {
                    let delivery = Self::delivery_from_row(row)?;
                    if deliveries.last().is_none_or(|last| last.id != delivery.id) {
                        deliveries.push(delivery);
                    }
                    if let Some(attempt) = Self::attempt_from_row(row)? {
                        deliveries.last_mut().expect("pushed above").attempts.push(attempt);
                    }
                }
                Ok(deliveries)
            }

            async fn retry_delivery(
                &self,
                id: Uuid,
                now: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let found = sqlx::query("UPDATE webhook_deliveries SET status = 'pending' WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected()
                    == 1;
                if !found {
                    return Ok(false);
                }
                Self::insert_jobs(&mut tx, &[delivery_job(id, now)?], now).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }
        }
    };
}

pub(crate) use sql_webhooks;
