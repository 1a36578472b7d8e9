//! What a person changes about their own account (password, name) and the devices they sign in
//! from, shared by both engines like [`crate::sql_ports`].

/// Implements `ProfileStore` and `DeviceStore` for `$store` (field `pool`) yielding `$row` rows.
macro_rules! sql_self_service {
    ($store:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::accounts::{ProfileStore, User};
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::devices::{DeviceStore, KnownDevice, NewDevice, SessionOwner};
        use gatehouse_core::jobs::NewJob;
        use gatehouse_core::sessions::TokenHash;
        use gatehouse_core::store::StoreError;
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{USER_COLUMNS, from_millis, millis, token_hash, uuid};

        #[async_trait]
        impl ProfileStore for $store {
            async fn change_password(
                &self,
                user_id: Uuid,
                password_hash: &str,
                keep: Uuid,
                end_other_sessions: bool,
                at: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<Vec<TokenHash>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(millis(at))
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                if changed != 1 {
                    return Err(StoreError::NotFound);
                }
                // Links that grant access were mailed before the password changed; whoever asked
                // for them may not be the owner.
                sqlx::query(
                    "UPDATE email_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL \
                     AND purpose IN ('reset_password', 'magic_link')",
                )
                .bind(millis(at))
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                let mut ended = Vec::new();
                if end_other_sessions {
                    let hashes: Vec<Vec<u8>> =
                        sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING token_hash")
                            .bind(user_id.to_string())
                            .bind(keep.to_string())
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(from_sqlx)?;
                    ended = hashes.into_iter().map(token_hash).collect::<Result<_, _>>()?;
                }
                Self::insert_audit(&mut tx, events).await?;
                Self::insert_jobs(&mut tx, jobs, at).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(ended)
            }

            async fn set_name(
                &self,
                user_id: Uuid,
                name: Option<&str>,
                at: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<Option<User>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query("UPDATE users SET name = $1, updated_at = $2 WHERE id = $3")
                    .bind(name)
                    .bind(millis(at))
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                if changed != 1 {
                    return Ok(None);
                }
                let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                let user = Self::user_from_row(&row)?;
                Self::insert_audit(&mut tx, events).await?;
                Self::insert_jobs(&mut tx, jobs, at).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Some(user))
            }
        }

        fn device_from_row(row: &$row) -> Result<KnownDevice, StoreError> {
            let cookie: Option<Vec<u8>> = row.try_get("cookie_hash").map_err(from_sqlx)?;
            Ok(KnownDevice {
                id: uuid(&row.try_get::<String, _>("id").map_err(from_sqlx)?)?,
                cookie_hash: cookie.map(token_hash).transpose()?,
                user_agent: row.try_get("user_agent").map_err(from_sqlx)?,
                network: row.try_get("network").map_err(from_sqlx)?,
                created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                last_seen_at: from_millis(row.try_get("last_seen_at").map_err(from_sqlx)?)?,
            })
        }

        #[async_trait]
        impl DeviceStore for $store {
            async fn session_owner(&self, hash: &TokenHash) -> Result<Option<SessionOwner>, StoreError> {
                let sql = format!(
                    "SELECT s.id AS session_id, s.user_agent AS session_user_agent, s.ip AS session_ip, {USER_COLUMNS} \
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&hash.0[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let ip: Option<String> = row.try_get("session_ip").map_err(from_sqlx)?;
                Ok(Some(SessionOwner {
                    session_id: uuid(&row.try_get::<String, _>("session_id").map_err(from_sqlx)?)?,
                    user: Self::user_from_row(&row)?,
                    user_agent: row.try_get("session_user_agent").map_err(from_sqlx)?,
                    ip: ip.and_then(|ip| ip.parse().ok()),
                }))
            }

            async fn known_devices(&self, user_id: Uuid) -> Result<Vec<KnownDevice>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, cookie_hash, user_agent, network, created_at, last_seen_at FROM known_devices \
                     WHERE user_id = $1 ORDER BY created_at",
                )
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.iter().map(device_from_row).collect()
            }

            async fn device_seen(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
                sqlx::query("UPDATE known_devices SET last_seen_at = $1 WHERE id = $2")
                    .bind(millis(at))
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }

            async fn add_device(
                &self,
                device: &NewDevice,
                jobs: &[NewJob],
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let added = sqlx::query(
                    "INSERT INTO known_devices (id, user_id, cookie_hash, user_agent, network, created_at, \
                     last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (user_id, cookie_hash) DO NOTHING",
                )
                .bind(device.id.to_string())
                .bind(device.user_id.to_string())
                .bind(&device.cookie_hash.0[..])
                .bind(&device.user_agent)
                .bind(&device.network)
                .bind(millis(device.at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                if added != 1 {
                    return Ok(false);
                }
                Self::insert_audit(&mut tx, events).await?;
                Self::insert_jobs(&mut tx, jobs, device.at).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }
        }
    };
}

pub(crate) use sql_self_service;
