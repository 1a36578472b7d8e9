//! Workspaces, members and invitations, shared by both engines like [`crate::sql_ports`].
//!
//! Every change to a workspace's members starts by writing the workspace's own row
//! ([`lock_workspace`](#method.lock_workspace)): on PostgreSQL that row lock, on SQLite the write
//! lock, serializes changes per workspace, so the last-owner rule is decided on counts no other
//! transaction can change before this one commits.

/// Implements `WorkspaceStore` for `$store` (field `pool`), over `$conn` connections yielding `$row`.
macro_rules! sql_workspaces {
    ($store:ty, $conn:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::jobs::NewJob;
        use gatehouse_core::sessions::TokenHash;
        use gatehouse_core::store::StoreError;
        use gatehouse_core::workspaces::{
            Acceptance, Invitation, Member, MemberOutcome, Membership, NewInvitation, Role, Workspace, WorkspaceStore,
        };
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{from_millis, millis, uuid};

        const WORKSPACE_COLUMNS: &str = "w.id, w.name, w.created_at, \
             (SELECT COUNT(*) FROM workspace_members c WHERE c.workspace_id = w.id) AS member_count";
        const INVITATION_COLUMNS: &str =
            "i.id, i.workspace_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at";

        fn role(text: &str) -> Result<Role, StoreError> {
            Role::parse(text).ok_or_else(|| StoreError::Backend(format!("stored role {text:?} is unknown")))
        }

        async fn finish(
            mut tx: sqlx::Transaction<'_, <$conn as sqlx::Connection>::Database>,
            events: &[AuditEvent],
            jobs: &[NewJob],
        ) -> Result<(), StoreError> {
            <$store>::insert_audit(&mut tx, events).await?;
            if let Some(first) = jobs.first() {
                <$store>::insert_jobs(&mut tx, jobs, first.run_at).await?;
            }
            tx.commit().await.map_err(from_sqlx)
        }

        impl $store {
            fn workspace_from_row(row: &$row) -> Result<Workspace, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let members: i64 = row.try_get("member_count").map_err(from_sqlx)?;
                Ok(Workspace {
                    id: uuid(&id)?,
                    name: row.try_get("name").map_err(from_sqlx)?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    members: u64::try_from(members).unwrap_or(0),
                })
            }

/// A membership with its workspace's name (columns `workspace_id, name, role, created_at`).
            fn membership_from_row(row: &$row) -> Result<Membership, StoreError> {
                let id: String = row.try_get("workspace_id").map_err(from_sqlx)?;
                let role_text: String = row.try_get("role").map_err(from_sqlx)?;
                Ok(Membership {
                    workspace_id: uuid(&id)?,
                    name: row.try_get("name").map_err(from_sqlx)?,
                    role: role(&role_text)?,
                    joined_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                })
            }

                        pub(crate) fn invitation_from_row(row: &$row) -> Result<Invitation, StoreError> {
                let id: String = row.try_get("id").map_err(from_sqlx)?;
                let workspace_id: String = row.try_get("workspace_id").map_err(from_sqlx)?;
                let invited_by: Option<String> = row.try_get("invited_by").map_err(from_sqlx)?;
                let role_text: String = row.try_get("role").map_err(from_sqlx)?;
                Ok(Invitation {
                    id: uuid(&id)?,
                    workspace_id: uuid(&workspace_id)?,
                    email: row.try_get("email").map_err(from_sqlx)?,
                    role: role(&role_text)?,
                    invited_by: invited_by.as_deref().map(uuid).transpose()?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                })
            }

            /// Writes the workspace's row so that membership changes to it are serialized; whether
            /// it exists.
            async fn lock_workspace(conn: &mut $conn, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
                let locked = sqlx::query("UPDATE workspaces SET updated_at = $1 WHERE id = $2")
                    .bind(millis(now))
                    .bind(id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(from_sqlx)?;
                Ok(locked.rows_affected() == 1)
            }

            /// `(role of user_id, owners, members)` in the workspace, read under its lock.
            async fn member_counts(
                conn: &mut $conn,
                workspace_id: Uuid,
                user_id: Uuid,
            ) -> Result<(Option<Role>, i64, i64), StoreError> {
                let row = sqlx::query(
                    "SELECT (SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2) AS role, \
                     (SELECT COUNT(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'owner') AS owners, \
                     (SELECT COUNT(*) FROM workspace_members WHERE workspace_id = $1) AS members",
                )
                .bind(workspace_id.to_string())
                .bind(user_id.to_string())
                .fetch_one(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                let current: Option<String> = row.try_get("role").map_err(from_sqlx)?;
                Ok((
                    current.as_deref().map(role).transpose()?,
                    row.try_get("owners").map_err(from_sqlx)?,
                    row.try_get("members").map_err(from_sqlx)?,
                ))
            }

            pub(crate) async fn insert_member(
                conn: &mut $conn,
                workspace_id: Uuid,
                user_id: Uuid,
                role: Role,
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(workspace_id.to_string())
                .bind(user_id.to_string())
                .bind(role.as_str())
                .bind(millis(at))
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }
        }

        #[async_trait]
        impl WorkspaceStore for $store {
            async fn create_workspace(
                &self,
                workspace: &Workspace,
                owner: Uuid,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query("INSERT INTO workspaces (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
                    .bind(workspace.id.to_string())
                    .bind(&workspace.name)
                    .bind(millis(workspace.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                Self::insert_member(&mut tx, workspace.id, owner, Role::Owner, workspace.created_at).await?;
                finish(tx, events, jobs).await
            }

            async fn workspace(&self, id: Uuid) -> Result<Option<Workspace>, StoreError> {
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(Self::workspace_from_row).transpose()
            }

            async fn workspaces(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Workspace>, StoreError> {
                let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id > $1 ORDER BY w.id LIMIT $2");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after.map(|id| id.to_string()).unwrap_or_default())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::workspace_from_row).collect()
            }

            async fn rename_workspace(
                &self,
                id: Uuid,
                name: &str,
                at: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let rename = sqlx::query("UPDATE workspaces SET name = $1, updated_at = $2 WHERE id = $3")
                    .bind(name)
                    .bind(millis(at))
                    .bind(id.to_string());
                self.change_one_row(rename, events).await
            }

            async fn delete_workspace(
                &self,
                id: Uuid,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<Option<Vec<Uuid>>, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                // Write first: on SQLite a transaction that reads and then writes can lose its
                // snapshot to a concurrent writer.
                let now = events.first().map_or_else(OffsetDateTime::now_utc, |event| event.occurred_at);
                if !Self::lock_workspace(&mut tx, id, now).await? {
                    return Ok(None);
                }
                let members: Vec<String> =
                    sqlx::query_scalar("SELECT user_id FROM workspace_members WHERE workspace_id = $1")
                        .bind(id.to_string())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                let deleted = sqlx::query("DELETE FROM workspaces WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                if deleted.rows_affected() == 0 {
                    return Ok(None);
                }
                finish(tx, events, jobs).await?;
                members.iter().map(|id| uuid(id)).collect::<Result<Vec<_>, _>>().map(Some)
            }

            async fn role_of(&self, workspace_id: Uuid, user_id: Uuid) -> Result<Option<Role>, StoreError> {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2")
                        .bind(workspace_id.to_string())
                        .bind(user_id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(from_sqlx)?;
                found.as_deref().map(role).transpose()
            }

            async fn memberships_of_user(&self, user_id: Uuid) -> Result<Vec<Membership>, StoreError> {
                let rows = sqlx::query(
                    "SELECT m.workspace_id, w.name, m.role, m.created_at FROM workspace_members m \
                     JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.name, w.id",
                )
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.iter().map(Self::membership_from_row).collect()
            }

            async fn members(&self, workspace_id: Uuid) -> Result<Vec<Member>, StoreError> {
                let rows = sqlx::query(
                    "SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM workspace_members m \
                     JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY m.created_at, m.user_id",
                )
                .bind(workspace_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(from_sqlx)?;
                rows.iter()
                    .map(|row| {
                        let id: String = row.try_get("user_id").map_err(from_sqlx)?;
                        let role_text: String = row.try_get("role").map_err(from_sqlx)?;
                        Ok(Member {
                            user_id: uuid(&id)?,
                            email: row.try_get("email").map_err(from_sqlx)?,
                            name: row.try_get("name").map_err(from_sqlx)?,
                            role: role(&role_text)?,
                            joined_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                        })
                    })
                    .collect()
            }

            async fn change_role(
                &self,
                workspace_id: Uuid,
                user_id: Uuid,
                new_role: Role,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<MemberOutcome, StoreError> {
                let now = events.first().map_or_else(OffsetDateTime::now_utc, |event| event.occurred_at);
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                if !Self::lock_workspace(&mut tx, workspace_id, now).await? {
                    return Ok(MemberOutcome::NotMember);
                }
                let (current, owners, _) = Self::member_counts(&mut tx, workspace_id, user_id).await?;
                let Some(previous) = current else { return Ok(MemberOutcome::NotMember) };
                if previous == Role::Owner && new_role != Role::Owner && owners <= 1 {
                    return Ok(MemberOutcome::LastOwner);
                }
                if previous == new_role {
                    return Ok(MemberOutcome::Done { previous });
                }
                sqlx::query("UPDATE workspace_members SET role = $1 WHERE workspace_id = $2 AND user_id = $3")
                    .bind(new_role.as_str())
                    .bind(workspace_id.to_string())
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                finish(tx, events, jobs).await?;
                Ok(MemberOutcome::Done { previous })
            }

            async fn remove_member(
                &self,
                workspace_id: Uuid,
                user_id: Uuid,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<MemberOutcome, StoreError> {
                let now = events.first().map_or_else(OffsetDateTime::now_utc, |event| event.occurred_at);
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                if !Self::lock_workspace(&mut tx, workspace_id, now).await? {
                    return Ok(MemberOutcome::NotMember);
                }
                let (current, owners, _) = Self::member_counts(&mut tx, workspace_id, user_id).await?;
                let Some(previous) = current else { return Ok(MemberOutcome::NotMember) };
                // The sole owner may not leave even an otherwise empty workspace: deleting it says
                // what happens to it.
                if previous == Role::Owner && owners <= 1 {
                    return Ok(MemberOutcome::LastOwner);
                }
                sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2")
                    .bind(workspace_id.to_string())
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                finish(tx, events, jobs).await?;
                Ok(MemberOutcome::Done { previous })
            }

            async fn create_invitation(
                &self,
                new: &NewInvitation,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<(), StoreError> {
                let invitation = &new.invitation;
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query("DELETE FROM workspace_invitations WHERE workspace_id = $1 AND email_normalized = $2")
                    .bind(invitation.workspace_id.to_string())
                    .bind(new.email.normalized())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO workspace_invitations (id, workspace_id, token_hash, email, email_normalized, role, \
                     invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(invitation.id.to_string())
                .bind(invitation.workspace_id.to_string())
                .bind(&new.token_hash.0[..])
                .bind(new.email.as_str())
                .bind(new.email.normalized())
                .bind(invitation.role.as_str())
                .bind(invitation.invited_by.map(|id| id.to_string()))
                .bind(millis(invitation.created_at))
                .bind(millis(invitation.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                finish(tx, events, jobs).await
            }

            async fn invitations(&self, workspace_id: Uuid) -> Result<Vec<Invitation>, StoreError> {
                let sql = format!(
                    "SELECT {INVITATION_COLUMNS} FROM workspace_invitations i WHERE i.workspace_id = $1 \
                     ORDER BY i.created_at DESC, i.id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(workspace_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter().map(Self::invitation_from_row).collect()
            }

            async fn invitation_by_token(
                &self,
                token_hash: &TokenHash,
                now: OffsetDateTime,
            ) -> Result<Option<(Invitation, String)>, StoreError> {
                let sql = format!(
                    "SELECT {INVITATION_COLUMNS}, w.name AS workspace_name FROM workspace_invitations i \
                     JOIN workspaces w ON w.id = i.workspace_id WHERE i.token_hash = $1 AND i.expires_at > $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&token_hash.0[..])
                    .bind(millis(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some((Self::invitation_from_row(&row)?, row.try_get("workspace_name").map_err(from_sqlx)?)))
            }

            async fn delete_invitation(
                &self,
                workspace_id: Uuid,
                id: Uuid,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let delete = sqlx::query("DELETE FROM workspace_invitations WHERE id = $1 AND workspace_id = $2")
                    .bind(id.to_string())
                    .bind(workspace_id.to_string());
                self.change_one_row(delete, events).await
            }

            async fn accept_invitation(
                &self,
                token_hash: &TokenHash,
                user_id: Uuid,
                email_normalized: &str,
                now: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<Acceptance, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let spent = sqlx::query(
                    "DELETE FROM workspace_invitations WHERE token_hash = $1 AND email_normalized = $2 \
                     AND expires_at > $3 RETURNING workspace_id, role",
                )
                .bind(&token_hash.0[..])
                .bind(email_normalized)
                .bind(millis(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                let Some(spent) = spent else { return Ok(Acceptance::Invalid) };
                // The invitation was read at the address it was sent to, which is the account's.
                let verified_now = sqlx::query(
                    "UPDATE users SET email_verified_at = $1, updated_at = $1 WHERE id = $2 \
                     AND email_normalized = $3 AND email_verified_at IS NULL",
                )
                .bind(millis(now))
                .bind(user_id.to_string())
                .bind(email_normalized)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected()
                    == 1;
                let workspace_text: String = spent.try_get("workspace_id").map_err(from_sqlx)?;
                let invited_role: String = spent.try_get("role").map_err(from_sqlx)?;
                let workspace_id = uuid(&workspace_text)?;
                Self::lock_workspace(&mut tx, workspace_id, now).await?;
                let (current, _, _) = Self::member_counts(&mut tx, workspace_id, user_id).await?;
                let joined = current.is_none();
                if joined {
                    Self::insert_member(&mut tx, workspace_id, user_id, role(&invited_role)?, now).await?;
                }
                let row = sqlx::query(
                    "SELECT m.workspace_id, w.name, m.role, m.created_at FROM workspace_members m \
                     JOIN workspaces w ON w.id = m.workspace_id WHERE m.workspace_id = $1 AND m.user_id = $2",
                )
                .bind(&workspace_text)
                .bind(user_id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                let membership = Self::membership_from_row(&row)?;
                if joined || verified_now {
                    finish(tx, events, jobs).await?;
                } else {
                    tx.commit().await.map_err(from_sqlx)?;
                }
                Ok(Acceptance::Joined(membership))
            }

            async fn set_active_workspace(
                &self,
                session_id: Uuid,
                workspace_id: Option<Uuid>,
            ) -> Result<bool, StoreError> {
                let updated = match workspace_id {
                    Some(workspace_id) => sqlx::query(
                        "UPDATE sessions SET workspace_id = $1 WHERE id = $2 AND EXISTS (SELECT 1 FROM \
                         workspace_members m WHERE m.workspace_id = $1 AND m.user_id = sessions.user_id)",
                    )
                    .bind(workspace_id.to_string())
                    .bind(session_id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?,
                    None => sqlx::query("UPDATE sessions SET workspace_id = NULL WHERE id = $1")
                        .bind(session_id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(from_sqlx)?,
                };
                Ok(updated.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use sql_workspaces;
