//! The port implementations shared by the SQLite and PostgreSQL adapters.
//!
//! Both engines accept the same SQL for everything here (`$N` placeholders, `RETURNING`), so the
//! queries are written once, in [`sql_ports!`], and stamped out for each adapter's pool type. Only
//! what truly differs (connecting, and finding the migrations table) lives in `sqlite.rs` and
//! `postgres.rs`. Times are stored as Unix milliseconds, ids as text.

use gatehouse_core::store::StoreError;
use time::OffsetDateTime;
use uuid::Uuid;

/// The user columns every query that returns a user selects (from `users u`).
pub(crate) const USER_COLUMNS: &str = "u.id AS user_id, u.email, u.email_normalized, u.name, u.email_verified_at, \
                                       u.disabled, u.created_at AS user_created_at";

pub(crate) fn millis(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| StoreError::Backend(format!("stored time {ms} is out of range")))
}

pub(crate) fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Backend(format!("stored id {text:?} is not a UUID")))
}

pub(crate) fn token_hash(bytes: Vec<u8>) -> Result<gatehouse_core::sessions::TokenHash, StoreError> {
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|_| StoreError::Backend("stored token hash is not 32 bytes".into()))?;
    Ok(gatehouse_core::sessions::TokenHash(bytes))
}

/// Implements every shared port for `$store`, whose field `pool` is a pool of `$conn` connections
/// yielding `$row` rows. `$backend` names the engine; `$has_migrations_table` is a query returning
/// one boolean.
macro_rules! sql_ports {
    ($store:ty, $conn:ty, $row:ty, $backend:expr, $has_migrations_table:expr) => {
        use async_trait::async_trait;
        use gatehouse_core::accounts::{AccountStore, EmailAddress, NewUser, User, UserCredentials};
        use gatehouse_core::api_keys::{ApiKey, ApiKeyStore};
        use gatehouse_core::tokens::{SigningAlgorithm, SigningKeyStore, StoredSigningKey};
        use gatehouse_core::audit::{AuditEvent, AuditLog, StoredAuditEvent};
        use gatehouse_core::sessions::{NewSession, Session, SessionStore, SessionWithUser, TokenHash};
        use gatehouse_core::store::{Backend, DatabaseProbe, InstanceSecretStore, PoolStats, SchemaStatus, StoreError};
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{USER_COLUMNS, from_millis, millis, token_hash, uuid};

        const SESSION_COLUMNS: &str = "s.id, s.token_hash, s.user_id, s.created_at, s.last_seen_at, \
                                       s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.ip, s.amr, s.auth_time";

        /// Sessions with their user and the membership of their active workspace.
        const SESSION_WITH_USER: &str = "sessions s JOIN users u ON u.id = s.user_id LEFT JOIN workspace_members wm \
                                         ON wm.workspace_id = s.workspace_id AND wm.user_id = s.user_id";
        const ACTIVE_WORKSPACE_COLUMNS: &str = "wm.workspace_id AS active_workspace_id, wm.role AS active_role";

        impl $store {
            /// Runs `change` in its own transaction with `events`, recorded only when it changed
            /// exactly one row; whether it did.
            pub(crate) async fn change_one_row(
                &self,
                change: sqlx::query::Query<
                    '_,
                    <$conn as sqlx::Connection>::Database,
                    <<$conn as sqlx::Connection>::Database as sqlx::Database>::Arguments,
                >,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = change.execute(&mut *tx).await.map_err(from_sqlx)?.rows_affected() == 1;
                if changed {
                    Self::insert_audit(&mut tx, events).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(changed)
            }

            pub(crate) async fn insert_audit(conn: &mut $conn, events: &[AuditEvent]) -> Result<(), StoreError> {
                for event in events {
                    let (actor_kind, actor_id) = event.actor.parts();
                    sqlx::query(
                        "INSERT INTO audit_events (occurred_at, action, actor_kind, actor_id, target, ip, user_agent, \
                         workspace_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(millis(event.occurred_at))
                    .bind(event.action.as_str())
                    .bind(actor_kind)
                    .bind(actor_id.map(|id| id.to_string()))
                    .bind(event.target.as_deref())
                    .bind(event.ip.map(|ip| ip.to_string()))
                    .bind(event.user_agent.as_deref())
                    .bind(event.workspace_id.map(|id| id.to_string()))
                    .bind(sqlx::types::Json(&event.details))
                    .execute(&mut *conn)
                    .await
                    .map_err(from_sqlx)?;
                }
                Ok(())
            }

            pub(crate) async fn insert_session(conn: &mut $conn, new: &NewSession) -> Result<(), StoreError> {
                let s = &new.session;
                sqlx::query(
                    "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, idle_expires_at, \
                     absolute_expires_at, user_agent, ip, amr, auth_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(s.id.to_string())
                .bind(&new.token_hash.0[..])
                .bind(s.user_id.to_string())
                .bind(millis(s.created_at))
                .bind(millis(s.last_seen_at))
                .bind(millis(s.idle_expires_at))
                .bind(millis(s.absolute_expires_at))
                .bind(s.user_agent.as_deref())
                .bind(s.ip.map(|ip| ip.to_string()))
                .bind(gatehouse_core::sessions::AuthMethod::join(&s.amr))
                .bind(millis(s.auth_time))
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            pub(crate) async fn insert_user(conn: &mut $conn, user: &NewUser) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, email, email_normalized, name, password_hash, email_verified_at, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(user.id.to_string())
                .bind(user.email.as_str())
                .bind(user.email.normalized())
                .bind(user.name.as_deref())
                .bind(user.password_hash.as_deref())
                .bind(user.email_verified_at.map(millis))
                .bind(millis(user.created_at))
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            pub(crate) fn user_from_row(row: &$row) -> Result<User, StoreError> {
                let id: String = row.try_get("user_id").map_err(from_sqlx)?;
                let verified: Option<i64> = row.try_get("email_verified_at").map_err(from_sqlx)?;
                Ok(User {
                    id: uuid(&id)?,
                    email: EmailAddress::from_stored(
                        row.try_get("email").map_err(from_sqlx)?,
                        row.try_get("email_normalized").map_err(from_sqlx)?,
                    ),
                    name: row.try_get("name").map_err(from_sqlx)?,
                    email_verified: verified.is_some(),
                    disabled: row.try_get("disabled").map_err(from_sqlx)?,
                    created_at: from_millis(row.try_get("user_created_at").map_err(from_sqlx)?)?,
                })
            }

/// An audit event as read back (columns `id, occurred_at, action, actor_kind, actor_id,
            /// target, ip, details`).
            pub(crate) fn audit_event_from_row(row: &$row) -> Result<StoredAuditEvent, StoreError> {
                let actor_id: Option<String> = row.try_get("actor_id").map_err(from_sqlx)?;
                let details: sqlx::types::Json<serde_json::Value> = row.try_get("details").map_err(from_sqlx)?;
                Ok(StoredAuditEvent {
                    id: row.try_get("id").map_err(from_sqlx)?,
                    occurred_at: from_millis(row.try_get("occurred_at").map_err(from_sqlx)?)?,
                    action: row.try_get("action").map_err(from_sqlx)?,
                    actor_kind: row.try_get("actor_kind").map_err(from_sqlx)?,
                    actor_id: actor_id.as_deref().map(uuid).transpose()?,
                    target: row.try_get("target").map_err(from_sqlx)?,
                    ip: row.try_get("ip").map_err(from_sqlx)?,
                    details: details.0,
                })
            }

                        fn session_with_user_from_row(row: &$row) -> Result<SessionWithUser, StoreError> {
                Ok(SessionWithUser {
                    session: Self::session_from_row(row)?,
                    user: Self::user_from_row(row)?,
                    token_hash: token_hash(row.try_get("token_hash").map_err(from_sqlx)?)?,
                    workspace: Self::active_workspace_from_row(row)?,
                })
            }

            fn active_workspace_from_row(
                row: &$row,
            ) -> Result<Option<gatehouse_core::workspaces::ActiveWorkspace>, StoreError> {
                let id: Option<String> = row.try_get("active_workspace_id").map_err(from_sqlx)?;
                let role: Option<String> = row.try_get("active_role").map_err(from_sqlx)?;
                let (Some(id), Some(role)) = (id, role) else { return Ok(None) };
                let role = gatehouse_core::workspaces::Role::parse(&role)
                    .ok_or_else(|| StoreError::Backend(format!("stored role {role:?} is unknown")))?;
                Ok(Some(gatehouse_core::workspaces::ActiveWorkspace { id: uuid(&id)?, role }))
            }

            fn session_from_row(row: &$row) -> Result<Session, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
                let ip: Option<String> = row.try_get("ip").map_err(from_sqlx)?;
                let amr: String = row.try_get("amr").map_err(from_sqlx)?;
                let created_at: i64 = row.try_get("created_at").map_err(from_sqlx)?;
                let auth_time: Option<i64> = row.try_get("auth_time").map_err(from_sqlx)?;
                Ok(Session {
                    id: uuid(&id)?,
                    user_id: uuid(&user_id)?,
                    created_at: from_millis(created_at)?,
                    last_seen_at: from_millis(row.try_get("last_seen_at").map_err(from_sqlx)?)?,
                    idle_expires_at: from_millis(row.try_get("idle_expires_at").map_err(from_sqlx)?)?,
                    absolute_expires_at: from_millis(row.try_get("absolute_expires_at").map_err(from_sqlx)?)?,
                    user_agent: row.try_get("user_agent").map_err(from_sqlx)?,
                    ip: ip.and_then(|ip| ip.parse().ok()),
                    amr: gatehouse_core::sessions::AuthMethod::split(&amr),
                    // Sessions from before second factors were established when they were created.
                    auth_time: from_millis(auth_time.unwrap_or(created_at))?,
                })
            }
        }

        #[async_trait]
        impl DatabaseProbe for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(from_sqlx)?;
                Ok(())
            }

            async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
                let has_table: bool =
                    sqlx::query_scalar($has_migrations_table).fetch_one(&self.pool).await.map_err(from_sqlx)?;
                let applied: Vec<i64> = if has_table {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(from_sqlx)?
                } else {
                    Vec::new()
                };
                Ok(crate::migrations::compare(&applied))
            }

            fn pool_stats(&self) -> PoolStats {
                PoolStats { size: self.pool.size(), idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX) }
            }
        }

        #[async_trait]
        impl InstanceSecretStore for $store {
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

        #[async_trait]
        impl AccountStore for $store {
            async fn create_user(
                &self,
                user: &NewUser,
                session: Option<&NewSession>,
                verification: Option<&gatehouse_core::email::NewLink>,
                jobs: &[gatehouse_core::jobs::NewJob],
                events: &[AuditEvent],
            ) -> Result<User, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::insert_user(&mut tx, user).await?;
                if let Some(session) = session {
                    Self::insert_session(&mut tx, session).await?;
                }
                if let Some(link) = verification {
                    Self::insert_link(&mut tx, link).await?;
                }
                Self::insert_jobs(&mut tx, jobs, user.created_at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(user.as_user())
            }

            async fn credentials_by_email(
                &self,
                normalized_email: &str,
            ) -> Result<Option<UserCredentials>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email_normalized = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(normalized_email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(UserCredentials {
                    user: Self::user_from_row(&row)?,
                    password_hash: row.try_get("password_hash").map_err(from_sqlx)?,
                }))
            }

            async fn set_password_hash(
                &self,
                user_id: Uuid,
                password_hash: &str,
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(millis(at))
                    .bind(user_id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(
                &self,
                new: &NewSession,
                events: &[AuditEvent],
                jobs: &[gatehouse_core::jobs::NewJob],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::insert_session(&mut tx, new).await?;
                Self::insert_audit(&mut tx, events).await?;
                Self::insert_jobs(&mut tx, jobs, new.session.created_at).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn session_by_token(&self, token_hash: &TokenHash) -> Result<Option<SessionWithUser>, StoreError> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS}, {USER_COLUMNS}, {ACTIVE_WORKSPACE_COLUMNS} FROM {SESSION_WITH_USER} WHERE s.token_hash = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&token_hash.0[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(Self::session_with_user_from_row(&row)?))
            }

            async fn session_by_id(&self, session_id: Uuid) -> Result<Option<SessionWithUser>, StoreError> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS}, {USER_COLUMNS}, {ACTIVE_WORKSPACE_COLUMNS} FROM {SESSION_WITH_USER} WHERE s.id = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(session_id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(Self::session_with_user_from_row(&row)?))
            }

            async fn touch_session(&self, refreshed: &SessionWithUser) -> Result<(), StoreError> {
                sqlx::query("UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3")
                    .bind(millis(refreshed.session.last_seen_at))
                    .bind(millis(refreshed.session.idle_expires_at))
                    .bind(refreshed.session.id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }

            async fn revoke_session(
                &self,
                user_id: Uuid,
                session_id: Uuid,
                events: &[AuditEvent],
                jobs: &[gatehouse_core::jobs::NewJob],
            ) -> Result<Option<TokenHash>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let deleted: Option<Vec<u8>> =
                    sqlx::query_scalar("DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING token_hash")
                        .bind(session_id.to_string())
                        .bind(user_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                let Some(hash) = deleted else { return Ok(None) };
                Self::insert_audit(&mut tx, events).await?;
                if let Some(first) = jobs.first() {
                    Self::insert_jobs(&mut tx, jobs, first.run_at).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Some(token_hash(hash)?))
            }

            async fn revoke_other_sessions(
                &self,
                user_id: Uuid,
                keep: Uuid,
                events: &[AuditEvent],
                jobs: &[gatehouse_core::jobs::NewJob],
            ) -> Result<Vec<TokenHash>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let deleted: Vec<Vec<u8>> =
                    sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING token_hash")
                        .bind(user_id.to_string())
                        .bind(keep.to_string())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                if !deleted.is_empty() {
                    Self::insert_audit(&mut tx, events).await?;
                    if let Some(first) = jobs.first() {
                        Self::insert_jobs(&mut tx, jobs, first.run_at).await?;
                    }
                }
                tx.commit().await.map_err(from_sqlx)?;
                deleted.into_iter().map(token_hash).collect()
            }

            async fn reauthenticated(
                &self,
                session_id: Uuid,
                at: OffsetDateTime,
                method: gatehouse_core::sessions::AuthMethod,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                // One statement that writes first: on SQLite a transaction that reads and then
                // writes cannot wait for another writer (its snapshot is stale) and fails at once.
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query(
                    "UPDATE sessions SET auth_time = $1, amr = CASE \
                       WHEN (' ' || amr || ' ') LIKE ('% ' || $2 || ' %') THEN amr \
                       WHEN amr = '' THEN $2 \
                       ELSE amr || ' ' || $2 END \
                     WHERE id = $3",
                )
                .bind(millis(at))
                .bind(method.as_str())
                .bind(session_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected()
                    == 1;
                if changed {
                    Self::insert_audit(&mut tx, events).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(changed)
            }

            async fn sessions_of_user(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 ORDER BY s.last_seen_at DESC, s.id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::session_from_row).collect()
            }
        }

        impl $store {
            fn api_key_from_row(row: &$row) -> Result<ApiKey, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let scopes: String = row.try_get("scopes").map_err(from_sqlx)?;
                let last_used_at: Option<i64> = row.try_get("last_used_at").map_err(from_sqlx)?;
                let revoked_at: Option<i64> = row.try_get("revoked_at").map_err(from_sqlx)?;
                Ok(ApiKey {
                    id: uuid(&id)?,
                    name: row.try_get("name").map_err(from_sqlx)?,
                    prefix: row.try_get("prefix").map_err(from_sqlx)?,
                    scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    last_used_at: last_used_at.map(from_millis).transpose()?,
                    revoked_at: revoked_at.map(from_millis).transpose()?,
                })
            }
        }

        #[async_trait]
        impl ApiKeyStore for $store {
            async fn create_api_key(&self, key: &ApiKey, hash: &TokenHash, events: &[AuditEvent]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key.id.to_string())
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&hash.0[..])
                .bind(key.scopes.join(" "))
                .bind(millis(key.created_at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKey>, StoreError> {
                let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
                    .bind(&hash.0[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(Self::api_key_from_row).transpose()
            }

            async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
                let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at DESC, id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::api_key_from_row).collect()
            }

            async fn revoke_api_key(&self, id: Uuid, at: OffsetDateTime, events: &[AuditEvent]) -> Result<bool, StoreError> {
                let revoke = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(millis(at))
                    .bind(id.to_string());
                self.change_one_row(revoke, events).await
            }

            async fn record_api_key_use(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                    .bind(millis(at))
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl SigningKeyStore for $store {
            async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
                let rows = sqlx::query(
                    "SELECT kid, algorithm, encrypted_private_key, public_jwk, created_at, retired_at FROM signing_keys \
                     ORDER BY created_at DESC, kid",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.iter()
                    .map(|row| {
                        let algorithm: String = row.try_get("algorithm").map_err(from_sqlx)?;
                        let jwk: sqlx::types::Json<serde_json::Value> = row.try_get("public_jwk").map_err(from_sqlx)?;
                        let retired_at: Option<i64> = row.try_get("retired_at").map_err(from_sqlx)?;
                        Ok(StoredSigningKey {
                            kid: row.try_get("kid").map_err(from_sqlx)?,
                            algorithm: SigningAlgorithm::parse(&algorithm)
                                .ok_or_else(|| StoreError::Backend(format!("unknown signing algorithm {algorithm}")))?,
                            encrypted_private_key: row.try_get("encrypted_private_key").map_err(from_sqlx)?,
                            public_jwk: jwk.0,
                            created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                            retired_at: retired_at.map(from_millis).transpose()?,
                        })
                    })
                    .collect()
            }

            async fn rotate_signing_key(&self, key: &StoredSigningKey, events: &[AuditEvent]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(millis(key.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, algorithm, encrypted_private_key, public_jwk, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.kid)
                .bind(key.algorithm.as_str())
                .bind(&key.encrypted_private_key)
                .bind(sqlx::types::Json(&key.public_jwk))
                .bind(millis(key.created_at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }
        }

        #[async_trait]
        impl AuditLog for $store {
            async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
                let mut conn = self.pool.acquire().await.map_err(from_sqlx)?;
                Self::insert_audit(&mut conn, events).await
            }

            async fn recent(&self, limit: u32) -> Result<Vec<StoredAuditEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, occurred_at, action, actor_kind, actor_id, target, ip, details FROM audit_events \
                     ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.iter().map(Self::audit_event_from_row).collect()
            }
        }
    };
}

pub(crate) use sql_ports;
