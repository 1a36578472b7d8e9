//! Audit queries and retention, and the user administration the admin API and the CLI share;
//! shared by both engines like [`crate::sql_ports`].

/// Implements `AuditQuery` and `UserAdmin` for `$store` (field `pool`).
macro_rules! sql_admin {
    ($store:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::accounts::{User, UserAdmin, UserPage};
        use gatehouse_core::audit::{AuditEvent, AuditFilter, AuditQuery, StoredAuditEvent};
        use gatehouse_core::sessions::TokenHash;
        use gatehouse_core::store::StoreError;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{USER_COLUMNS, millis, token_hash};

        #[async_trait]
        impl AuditQuery for $store {
            async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>, StoreError> {
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT id, occurred_at, action, actor_kind, actor_id, target, ip, details FROM audit_events WHERE 1 = 1",
                );
                if let Some(actor) = filter.actor_id {
                    query.push(" AND actor_id = ").push_bind(actor.to_string());
                }
                if let Some(action) = &filter.action {
                    query.push(" AND action = ").push_bind(action.clone());
                }
                if let Some(target) = &filter.target {
                    query.push(" AND target = ").push_bind(target.clone());
                }
                if let Some(workspace) = filter.workspace_id {
                    query.push(" AND workspace_id = ").push_bind(workspace.to_string());
                }
                if let Some(from) = filter.from {
                    query.push(" AND occurred_at >= ").push_bind(millis(from));
                }
                if let Some(to) = filter.to {
                    query.push(" AND occurred_at < ").push_bind(millis(to));
                }
                if let Some(subject) = filter.subject {
                    query
                        .push(" AND (actor_id = ")
                        .push_bind(subject.to_string())
                        .push(" OR target = ")
                        .push_bind(format!("user:{subject}"))
                        .push(")");
                }
                if let Some(before) = filter.before_id {
                    query.push(" AND id < ").push_bind(before);
                }
                query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
                let rows = query.build().fetch_all(&self.pool).await.map_err(from_sqlx)?;
                rows.iter().map(Self::audit_event_from_row).collect()
            }

            async fn purge(&self, before: OffsetDateTime, event: AuditEvent) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let deleted = sqlx::query("DELETE FROM audit_events WHERE occurred_at < $1")
                    .bind(millis(before))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                if deleted > 0 {
                    Self::insert_audit(&mut tx, &[event.detail("deleted", deleted)]).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                Ok(deleted)
            }
        }

        #[async_trait]
        impl UserAdmin for $store {
            async fn users(&self, email_prefix: Option<&str>, after: Option<Uuid>, limit: u32) -> Result<UserPage, StoreError> {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.email_normalized LIKE $1 ESCAPE '\\' AND u.id > $2 \
                     ORDER BY u.id LIMIT $3"
                );
                let prefix = email_prefix.unwrap_or_default().to_lowercase();
                let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(pattern)
                    .bind(after.map(|id| id.to_string()).unwrap_or_default())
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let mut users = rows.iter().map(Self::user_from_row).collect::<Result<Vec<User>, _>>()?;
                let next = if users.len() > limit as usize {
                    users.truncate(limit as usize);
                    users.last().map(|user| user.id)
                } else {
                    None
                };
                Ok(UserPage { users, next })
            }

            async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(Self::user_from_row).transpose()
            }

            async fn set_disabled(
                &self,
                id: Uuid,
                disabled: bool,
                at: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[gatehouse_core::jobs::NewJob],
            ) -> Result<Option<Vec<TokenHash>>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                    .bind(disabled)
                    .bind(millis(at))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                if changed.rows_affected() == 0 {
                    return Ok(None);
                }
                let ended: Vec<Vec<u8>> = if disabled {
                    sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash")
                        .bind(id.to_string())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(from_sqlx)?
                } else {
                    Vec::new()
                };
                Self::insert_audit(&mut tx, events).await?;
                if let Some(first) = jobs.first() {
                    Self::insert_jobs(&mut tx, jobs, first.run_at).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                ended.into_iter().map(token_hash).collect::<Result<Vec<_>, _>>().map(Some)
            }

            async fn revoke_all_sessions(&self, id: Uuid, events: &[AuditEvent]) -> Result<Vec<TokenHash>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let ended: Vec<Vec<u8>> =
                    sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash")
                        .bind(id.to_string())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                if !ended.is_empty() {
                    Self::insert_audit(&mut tx, events).await?;
                }
                tx.commit().await.map_err(from_sqlx)?;
                ended.into_iter().map(token_hash).collect()
            }
        }
    };
}

pub(crate) use sql_admin;
