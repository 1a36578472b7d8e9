//! Provider sign-in state, linked identities and the token vault, shared by both engines like
//! [`crate::sql_ports`].
//!
//! A state is consumed by one `DELETE … RETURNING`, so of two callbacks racing with one state
//! only one gets it. The vault's refresh lock is a conditional `UPDATE` (free, or its holder's
//! time ran out), so across instances one holder at a time spends a refresh token.

/// Implements `OAuthStateStore`, `IdentityStore` and `VaultStore` for `$store` (field `pool`),
/// over `$conn` connections yielding `$row` rows.
macro_rules! sql_oauth {
    ($store:ty, $conn:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::accounts::{NewUser, User};
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::jobs::NewJob;
        use gatehouse_core::oauth::{
            Identity, IdentityStore, OAuthState, OAuthStateStore, Pkce, ProviderName, StatePurpose, Unlinked,
        };
        use gatehouse_core::sessions::{NewSession, TokenHash};
        use gatehouse_core::store::StoreError;
        use gatehouse_core::vault::{ConnectionStatus, Refreshed, SealedConnection, VaultStore};
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{USER_COLUMNS, from_millis, millis, token_hash, uuid};

        const IDENTITY_COLUMNS: &str = "i.id AS identity_id, i.user_id AS identity_user_id, i.provider, i.subject, \
                                        i.email AS identity_email, i.created_at AS identity_created_at";
        const CONNECTION_COLUMNS: &str = "id, user_id, provider, status, scopes, expires_at, has_refresh_token, \
                                          wrapped_key, ciphertext, created_at, updated_at";

        fn provider_name(text: &str) -> Result<ProviderName, StoreError> {
            ProviderName::parse(text).map_err(|_| StoreError::Backend(format!("stored provider {text:?} is invalid")))
        }

        fn scopes_from(text: &str) -> Result<Vec<String>, StoreError> {
            serde_json::from_str(text).map_err(|_| StoreError::Backend("stored scopes are not a JSON list".into()))
        }

        fn scopes_to(scopes: &[String]) -> String {
            serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
        }

        impl $store {
            fn identity_from_row(row: &$row) -> Result<Identity, StoreError> {
                let id: String = row.try_get("identity_id").map_err(from_sqlx)?;
                let user_id: String = row.try_get("identity_user_id").map_err(from_sqlx)?;
                let provider: String = row.try_get("provider").map_err(from_sqlx)?;
                Ok(Identity {
                    id: uuid(&id)?,
                    user_id: uuid(&user_id)?,
                    provider: provider_name(&provider)?,
                    subject: row.try_get("subject").map_err(from_sqlx)?,
                    email: row.try_get("identity_email").map_err(from_sqlx)?,
                    created_at: from_millis(row.try_get("identity_created_at").map_err(from_sqlx)?)?,
                })
            }

            fn connection_from_row(row: &$row) -> Result<SealedConnection, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
                let provider: String = row.try_get("provider").map_err(from_sqlx)?;
                let status: String = row.try_get("status").map_err(from_sqlx)?;
                let scopes: String = row.try_get("scopes").map_err(from_sqlx)?;
                let expires_at: Option<i64> = row.try_get("expires_at").map_err(from_sqlx)?;
                Ok(SealedConnection {
                    id: uuid(&id)?,
                    user_id: uuid(&user_id)?,
                    provider: provider_name(&provider)?,
                    status: ConnectionStatus::parse(&status)
                        .ok_or_else(|| StoreError::Backend(format!("stored status {status:?} is unknown")))?,
                    scopes: scopes_from(&scopes)?,
                    expires_at: expires_at.map(from_millis).transpose()?,
                    has_refresh_token: row.try_get("has_refresh_token").map_err(from_sqlx)?,
                    wrapped_key: row.try_get("wrapped_key").map_err(from_sqlx)?,
                    ciphertext: row.try_get("ciphertext").map_err(from_sqlx)?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    updated_at: from_millis(row.try_get("updated_at").map_err(from_sqlx)?)?,
                })
            }

            async fn insert_identity(conn: &mut $conn, identity: &Identity) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO identities (id, user_id, provider, subject, email, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(identity.id.to_string())
                .bind(identity.user_id.to_string())
                .bind(identity.provider.as_str())
                .bind(&identity.subject)
                .bind(identity.email.as_deref())
                .bind(millis(identity.created_at))
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl OAuthStateStore for $store {
            async fn insert_state(&self, state: &OAuthState) -> Result<(), StoreError> {
                let (link_user, link_session) = match state.purpose {
                    StatePurpose::SignIn => (None, None),
                    StatePurpose::Link { user_id, session_id } => {
                        (Some(user_id.to_string()), Some(session_id.to_string()))
                    }
                };
                sqlx::query(
                    "INSERT INTO oauth_states (id_hash, provider, browser_hash, pkce_verifier, nonce, redirect_to, \
                     scopes, link_user_id, link_session_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&state.id_hash.0[..])
                .bind(state.provider.as_str())
                .bind(&state.browser_hash.0[..])
                .bind(&state.pkce.verifier)
                .bind(&state.nonce)
                .bind(&state.redirect_to)
                .bind(scopes_to(&state.scopes))
                .bind(link_user)
                .bind(link_session)
                .bind(millis(state.created_at))
                .bind(millis(state.expires_at))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn take_state(&self, id_hash: &TokenHash) -> Result<Option<OAuthState>, StoreError> {
                let row = sqlx::query(
                    "DELETE FROM oauth_states WHERE id_hash = $1 RETURNING provider, browser_hash, pkce_verifier, \
                     nonce, redirect_to, scopes, link_user_id, link_session_id, created_at, expires_at",
                )
                .bind(&id_hash.0[..])
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let provider: String = row.try_get("provider").map_err(from_sqlx)?;
                let scopes: String = row.try_get("scopes").map_err(from_sqlx)?;
                let link_user: Option<String> = row.try_get("link_user_id").map_err(from_sqlx)?;
                let link_session: Option<String> = row.try_get("link_session_id").map_err(from_sqlx)?;
                let purpose = match (link_user, link_session) {
                    (Some(user), Some(session)) => StatePurpose::Link { user_id: uuid(&user)?, session_id: uuid(&session)? },
                    _ => StatePurpose::SignIn,
                };
                Ok(Some(OAuthState {
                    id_hash: *id_hash,
                    provider: provider_name(&provider)?,
                    browser_hash: token_hash(row.try_get("browser_hash").map_err(from_sqlx)?)?,
                    pkce: Pkce { verifier: row.try_get("pkce_verifier").map_err(from_sqlx)? },
                    nonce: row.try_get("nonce").map_err(from_sqlx)?,
                    redirect_to: row.try_get("redirect_to").map_err(from_sqlx)?,
                    scopes: scopes_from(&scopes)?,
                    purpose,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                }))
            }
        }

        #[async_trait]
        impl IdentityStore for $store {
            async fn identity(
                &self,
                provider: &ProviderName,
                subject: &str,
            ) -> Result<Option<(Identity, User)>, StoreError> {
                let sql = format!(
                    "SELECT {IDENTITY_COLUMNS}, {USER_COLUMNS} FROM identities i JOIN users u ON u.id = i.user_id \
                     WHERE i.provider = $1 AND i.subject = $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(provider.as_str())
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.map(|row| Ok((Self::identity_from_row(&row)?, Self::user_from_row(&row)?))).transpose()
            }

            async fn identities_of_user(&self, user_id: Uuid) -> Result<Vec<Identity>, StoreError> {
                let sql = format!("SELECT {IDENTITY_COLUMNS} FROM identities i WHERE i.user_id = $1 ORDER BY i.created_at");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::identity_from_row).collect()
            }

            async fn create_user_with_identity(
                &self,
                user: &NewUser,
                identity: &Identity,
                session: &NewSession,
                jobs: &[NewJob],
                events: &[AuditEvent],
            ) -> Result<User, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::insert_user(&mut tx, user).await?;
                Self::insert_identity(&mut tx, identity).await?;
                Self::insert_session(&mut tx, session).await?;
                Self::insert_jobs(&mut tx, jobs, user.created_at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(user.as_user())
            }

            async fn link_identity(
                &self,
                identity: &Identity,
                session: Option<&NewSession>,
                jobs: &[NewJob],
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::insert_identity(&mut tx, identity).await?;
                if let Some(session) = session {
                    Self::insert_session(&mut tx, session).await?;
                }
                Self::insert_jobs(&mut tx, jobs, identity.created_at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn unlink_identity(
                &self,
                user_id: Uuid,
                identity_id: Uuid,
                jobs: &[NewJob],
                events: &[AuditEvent],
            ) -> Result<Unlinked, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                // Writing the user row first serializes unlinks of one user (a row lock on
                // PostgreSQL, the write lock on SQLite), so two at once cannot remove the last two
                // ways in.
                let user = sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1 RETURNING password_hash")
                    .bind(user_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                let Some(user) = user else { return Ok(Unlinked::NotFound) };
                let has_password = user.try_get::<Option<String>, _>("password_hash").map_err(from_sqlx)?.is_some();
                let sql = format!("SELECT {IDENTITY_COLUMNS} FROM identities i WHERE i.user_id = $1");
                let identities = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .iter()
                    .map(Self::identity_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let Some(identity) = identities.iter().find(|identity| identity.id == identity_id).cloned() else {
                    return Ok(Unlinked::NotFound);
                };
                if !has_password && identities.len() == 1 {
                    return Ok(Unlinked::LastSignInMethod);
                }
                sqlx::query("DELETE FROM identities WHERE id = $1")
                    .bind(identity_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                let now = events.first().map_or(identity.created_at, |event| event.occurred_at);
                Self::insert_jobs(&mut tx, jobs, now).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Unlinked::Done(identity))
            }
        }

        #[async_trait]
        impl VaultStore for $store {
            async fn put_connection(
                &self,
                connection: &SealedConnection,
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query("DELETE FROM vault_connections WHERE user_id = $1 AND provider = $2")
                    .bind(connection.user_id.to_string())
                    .bind(connection.provider.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO vault_connections (id, user_id, provider, status, scopes, expires_at, \
                     has_refresh_token, wrapped_key, ciphertext, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(connection.id.to_string())
                .bind(connection.user_id.to_string())
                .bind(connection.provider.as_str())
                .bind(connection.status.as_str())
                .bind(scopes_to(&connection.scopes))
                .bind(connection.expires_at.map(millis))
                .bind(connection.has_refresh_token)
                .bind(&connection.wrapped_key)
                .bind(&connection.ciphertext)
                .bind(millis(connection.created_at))
                .bind(millis(connection.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn connection(
                &self,
                user_id: Uuid,
                provider: &ProviderName,
            ) -> Result<Option<SealedConnection>, StoreError> {
                let sql =
                    format!("SELECT {CONNECTION_COLUMNS} FROM vault_connections WHERE user_id = $1 AND provider = $2");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .bind(provider.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.map(|row| Self::connection_from_row(&row)).transpose()
            }

            async fn connection_by_id(&self, id: Uuid) -> Result<Option<SealedConnection>, StoreError> {
                let sql = format!("SELECT {CONNECTION_COLUMNS} FROM vault_connections WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.map(|row| Self::connection_from_row(&row)).transpose()
            }

            async fn all_connections_of_user(&self, user_id: Uuid) -> Result<Vec<SealedConnection>, StoreError> {
                let sql = format!("SELECT {CONNECTION_COLUMNS} FROM vault_connections WHERE user_id = $1 ORDER BY id");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::connection_from_row).collect()
            }

            async fn connections_of_user(&self, user_id: Uuid) -> Result<Vec<SealedConnection>, StoreError> {
                let sql = format!(
                    "SELECT {CONNECTION_COLUMNS} FROM vault_connections WHERE user_id = $1 AND status <> 'revoking' \
                     ORDER BY provider"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::connection_from_row).collect()
            }

            async fn lock_refresh(
                &self,
                id: Uuid,
                holder: Uuid,
                until: OffsetDateTime,
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let taken = sqlx::query(
                    "UPDATE vault_connections SET refresh_holder = $1, refresh_lock_until = $2 \
                     WHERE id = $3 AND status = 'active' AND (refresh_lock_until IS NULL OR refresh_lock_until < $4)",
                )
                .bind(holder.to_string())
                .bind(millis(until))
                .bind(id.to_string())
                .bind(millis(now))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                Ok(taken == 1)
            }

            async fn finish_refresh(&self, id: Uuid, holder: Uuid, refreshed: &Refreshed) -> Result<bool, StoreError> {
                let changed = sqlx::query(
                    "UPDATE vault_connections SET wrapped_key = $1, ciphertext = $2, expires_at = $3, scopes = $4, \
                     has_refresh_token = $5, updated_at = $6, refresh_holder = NULL, refresh_lock_until = NULL \
                     WHERE id = $7 AND refresh_holder = $8",
                )
                .bind(&refreshed.wrapped_key)
                .bind(&refreshed.ciphertext)
                .bind(refreshed.expires_at.map(millis))
                .bind(scopes_to(&refreshed.scopes))
                .bind(refreshed.has_refresh_token)
                .bind(millis(refreshed.at))
                .bind(id.to_string())
                .bind(holder.to_string())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn release_refresh(&self, id: Uuid, holder: Uuid) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE vault_connections SET refresh_holder = NULL, refresh_lock_until = NULL \
                     WHERE id = $1 AND refresh_holder = $2",
                )
                .bind(id.to_string())
                .bind(holder.to_string())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn mark_broken(
                &self,
                id: Uuid,
                holder: Uuid,
                at: OffsetDateTime,
                jobs: &[NewJob],
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query(
                    "UPDATE vault_connections SET status = 'broken', updated_at = $1, refresh_holder = NULL, \
                     refresh_lock_until = NULL WHERE id = $2 AND refresh_holder = $3",
                )
                .bind(millis(at))
                .bind(id.to_string())
                .bind(holder.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected()
                    == 1;
                if changed {
                    Self::insert_jobs(&mut tx, jobs, at).await?;
                    Self::insert_audit(&mut tx, events).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(changed)
            }

            async fn disconnect(
                &self,
                user_id: Uuid,
                provider: &ProviderName,
                revocation: Option<&NewJob>,
                events: &[AuditEvent],
            ) -> Result<Option<SealedConnection>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let sql = format!(
                    "SELECT {CONNECTION_COLUMNS} FROM vault_connections WHERE user_id = $1 AND provider = $2 \
                     AND status <> 'revoking'"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .bind(provider.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let connection = Self::connection_from_row(&row)?;
                let now = events.first().map_or(connection.updated_at, |event| event.occurred_at);
                match revocation {
                    Some(job) => {
                        sqlx::query("UPDATE vault_connections SET status = 'revoking', updated_at = $1 WHERE id = $2")
                            .bind(millis(now))
                            .bind(connection.id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(from_sqlx)?;
                        Self::insert_jobs(&mut tx, std::slice::from_ref(job), now).await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM vault_connections WHERE id = $1")
                            .bind(connection.id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(from_sqlx)?;
                    }
                }
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Some(connection))
            }

            async fn revocation(&self, id: Uuid) -> Result<Option<SealedConnection>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, provider, wrapped_key, ciphertext, created_at FROM vault_revocations WHERE id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let provider: String = row.try_get("provider").map_err(from_sqlx)?;
                let created_at = from_millis(row.try_get("created_at").map_err(from_sqlx)?)?;
                Ok(Some(SealedConnection {
                    id,
                    user_id: Uuid::nil(),
                    provider: provider_name(&provider)?,
                    status: ConnectionStatus::Revoking,
                    scopes: Vec::new(),
                    expires_at: None,
                    has_refresh_token: false,
                    wrapped_key: row.try_get("wrapped_key").map_err(from_sqlx)?,
                    ciphertext: row.try_get("ciphertext").map_err(from_sqlx)?,
                    created_at,
                    updated_at: created_at,
                }))
            }

            async fn delete_revocation(&self, id: Uuid) -> Result<bool, StoreError> {
                let deleted = sqlx::query("DELETE FROM vault_revocations WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                Ok(deleted == 1)
            }

            async fn delete_connection(&self, id: Uuid) -> Result<bool, StoreError> {
                let deleted = sqlx::query("DELETE FROM vault_connections WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                Ok(deleted == 1)
            }
        }
    };
}

pub(crate) use sql_oauth;
