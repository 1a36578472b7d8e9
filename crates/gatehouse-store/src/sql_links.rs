//! One-time email links, shared by both engines like [`crate::sql_ports`].
//!
//! A link is spent by one conditional `UPDATE` (unused and unexpired) in the transaction that
//! applies its effect, so two redemptions racing for one link cannot both succeed: the loser's
//! transaction changes nothing and rolls back.

/// Implements `LinkStore` for `$store` (field `pool`), over `$conn` connections.
macro_rules! sql_links {
    ($store:ty, $conn:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::email::{LinkHolder, LinkPurpose, LinkStore, NewLink, PendingEmailChange, Redemption};
        use gatehouse_core::jobs::NewJob;
        use gatehouse_core::sessions::TokenHash;
        use gatehouse_core::store::StoreError;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{USER_COLUMNS, from_millis, millis};
        use sqlx::Row as _;

        impl $store {
            /// Marks the user's unspent email-change links used; how many there were.
            async fn retire_email_changes(conn: &mut $conn, user_id: Uuid, now: OffsetDateTime) -> Result<u64, StoreError> {
                let retired = sqlx::query(
                    "UPDATE email_links SET used_at = $1 WHERE user_id = $2 AND purpose = 'email_change' \
                     AND used_at IS NULL AND expires_at > $1",
                )
                .bind(millis(now))
                .bind(user_id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                Ok(retired)
            }

            /// Replaces the user's address with `email`, marked verified at `now`.
            async fn set_email(
                conn: &mut $conn,
                user_id: Uuid,
                email: &gatehouse_core::accounts::EmailAddress,
                now: OffsetDateTime,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE users SET email = $1, email_normalized = $2, email_verified_at = $3, updated_at = $3 \
                     WHERE id = $4",
                )
                .bind(email.as_str())
                .bind(email.normalized())
                .bind(millis(now))
                .bind(user_id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            /// Inserts a link on `conn`, so signup can store one in its own transaction.
            pub(crate) async fn insert_link(conn: &mut $conn, link: &NewLink) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO email_links (id, token_hash, purpose, user_id, email_normalized, created_at, \
                     expires_at, target_email) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(link.id.to_string())
                .bind(&link.token_hash.0[..])
                .bind(link.purpose.as_str())
                .bind(link.user_id.to_string())
                .bind(&link.email_normalized)
                .bind(millis(link.created_at))
                .bind(millis(link.expires_at))
                .bind(&link.target_email)
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn mark_verified(conn: &mut $conn, user_id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 \
                     WHERE id = $2",
                )
                .bind(millis(now))
                .bind(user_id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl LinkStore for $store {
            async fn issue_link(
                &self,
                link: &NewLink,
                email: &NewJob,
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::insert_link(&mut tx, link).await?;
                Self::insert_jobs(&mut tx, std::slice::from_ref(email), link.created_at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn link_user(
                &self,
                token_hash: &TokenHash,
                purpose: LinkPurpose,
                now: OffsetDateTime,
            ) -> Result<Option<LinkHolder>, StoreError> {
                let sql = format!(
                    "SELECT {USER_COLUMNS}, l.target_email FROM email_links l JOIN users u ON u.id = l.user_id \
                     WHERE l.token_hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > $3 \
                     AND u.email_normalized = l.email_normalized AND NOT u.disabled"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&token_hash.0[..])
                    .bind(purpose.as_str())
                    .bind(millis(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let target_email = row.try_get("target_email").map_err(from_sqlx)?;
                Ok(Some(LinkHolder { user: Self::user_from_row(&row)?, target_email }))
            }

            async fn request_email_change(
                &self,
                link: &NewLink,
                jobs: &[NewJob],
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                Self::retire_email_changes(&mut tx, link.user_id, link.created_at).await?;
                Self::insert_link(&mut tx, link).await?;
                Self::insert_jobs(&mut tx, jobs, link.created_at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)
            }

            async fn pending_email_change(
                &self,
                user_id: Uuid,
                now: OffsetDateTime,
            ) -> Result<Option<PendingEmailChange>, StoreError> {
                let row = sqlx::query(
                    "SELECT l.target_email, l.created_at, l.expires_at FROM email_links l \
                     JOIN users u ON u.id = l.user_id \
                     WHERE l.user_id = $1 AND l.purpose = 'email_change' AND l.used_at IS NULL AND l.expires_at > $2 \
                     AND u.email_normalized = l.email_normalized ORDER BY l.created_at DESC LIMIT 1",
                )
                .bind(user_id.to_string())
                .bind(millis(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(PendingEmailChange {
                    new_email: row.try_get::<Option<String>, _>("target_email").map_err(from_sqlx)?.unwrap_or_default(),
                    requested_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                }))
            }

            async fn cancel_email_change(
                &self,
                user_id: Uuid,
                now: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let retired = Self::retire_email_changes(&mut tx, user_id, now).await?;
                if retired > 0 {
                    Self::insert_audit(&mut tx, events).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(retired > 0)
            }

            async fn redeem_link(
                &self,
                token_hash: &TokenHash,
                user_id: Uuid,
                now: OffsetDateTime,
                redemption: &Redemption,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<Option<Vec<TokenHash>>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let spent = sqlx::query(
                    "UPDATE email_links SET used_at = $1 \
                     WHERE token_hash = $2 AND user_id = $3 AND used_at IS NULL AND expires_at > $1",
                )
                .bind(millis(now))
                .bind(&token_hash.0[..])
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                if spent != 1 {
                    return Ok(None);
                }
                Self::mark_verified(&mut tx, user_id, now).await?;
                let mut revoked = Vec::new();
                match redemption {
                    Redemption::VerifyEmail => {}
                    Redemption::ResetPassword { password_hash } => {
                        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                            .bind(password_hash)
                            .bind(user_id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(from_sqlx)?;
                        let hashes: Vec<Vec<u8>> =
                            sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash")
                                .bind(user_id.to_string())
                                .fetch_all(&mut *tx)
                                .await
                                .map_err(from_sqlx)?;
                        revoked = hashes.into_iter().map(crate::sql_ports::token_hash).collect::<Result<_, _>>()?;
                        // Other links that grant access were mailed before the password changed;
                        // whoever asked for them may not be the owner.
                        sqlx::query(
                            "UPDATE email_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL \
                             AND purpose IN ('reset_password', 'magic_link')",
                        )
                        .bind(millis(now))
                        .bind(user_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                    }
                    Redemption::ChangeEmail { email, undo } => {
                        Self::set_email(&mut tx, user_id, email, now).await?;
                        Self::retire_email_changes(&mut tx, user_id, now).await?;
                        Self::insert_link(&mut tx, undo).await?;
                    }
                    Redemption::UndoEmailChange { email, reset } => {
                        Self::set_email(&mut tx, user_id, email, now).await?;
                        sqlx::query("UPDATE users SET password_hash = NULL WHERE id = $1")
                            .bind(user_id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(from_sqlx)?;
                        let hashes: Vec<Vec<u8>> =
                            sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash")
                                .bind(user_id.to_string())
                                .fetch_all(&mut *tx)
                                .await
                                .map_err(from_sqlx)?;
                        revoked = hashes.into_iter().map(crate::sql_ports::token_hash).collect::<Result<_, _>>()?;
                        // Every link mailed so far, to either address, is retired; the reset link
                        // below is the one way back in.
                        sqlx::query("UPDATE email_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
                            .bind(millis(now))
                            .bind(user_id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(from_sqlx)?;
                        Self::insert_link(&mut tx, reset).await?;
                    }
                    Redemption::SignIn { session } => {
                        if session.session.user_id != user_id {
                            return Err(StoreError::Backend(
                                "a magic-link session must belong to the link's user".into(),
                            ));
                        }
                        Self::insert_session(&mut tx, session).await?;
                    }
                }
                Self::insert_audit(&mut tx, events).await?;
                Self::insert_jobs(&mut tx, jobs, now).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Some(revoked))
            }
        }
    };
}

pub(crate) use sql_links;
