//! Second factors and second steps, shared by both engines like [`crate::sql_ports`].
//!
//! A code is accepted by one conditional `UPDATE` (the step later than the last one accepted), a
//! recovery code is spent by one conditional `UPDATE` (unused), and a second step by one
//! `DELETE … RETURNING` in the transaction that stores its session: two requests racing with the
//! same code, recovery code or step cannot both succeed.

/// Implements `MfaStore` for `$store` (field `pool`), over `$conn` connections yielding `$row` rows.
macro_rules! sql_mfa {
    ($store:ty, $conn:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::audit::AuditEvent;
        use gatehouse_core::jobs::NewJob;
        use gatehouse_core::mfa::{
            Ceremony, CeremonyKind, FactorSummary, MfaStore, Passkey, SecondStep, StoredPasskey, StoredTotp, TotpFactor,
        };
        use gatehouse_core::sessions::{AuthMethod, NewSession, TokenHash};
        use gatehouse_core::store::StoreError;
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use crate::error::from_sqlx;
        use crate::sql_ports::{from_millis, millis, uuid};

        const TOTP_COLUMNS: &str = "id, user_id, sealed_secret, created_at, confirmed_at, last_used_at, last_step";
        const STEP_COLUMNS: &str = "id, user_id, first_factor, return_to, user_agent, created_at, expires_at, failures";

        fn optional_time(row: &$row, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
            let value: Option<i64> = row.try_get(column).map_err(from_sqlx)?;
            value.map(from_millis).transpose()
        }

        fn totp_from_row(row: &$row) -> Result<StoredTotp, StoreError> {
            let id: String = row.try_get("id").map_err(from_sqlx)?;
            let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
            Ok(StoredTotp {
                factor: TotpFactor {
                    id: uuid(&id)?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    confirmed_at: optional_time(row, "confirmed_at")?,
                    last_used_at: optional_time(row, "last_used_at")?,
                },
                user_id: uuid(&user_id)?,
                sealed_secret: row.try_get("sealed_secret").map_err(from_sqlx)?,
                last_step: row.try_get("last_step").map_err(from_sqlx)?,
            })
        }

        const PASSKEY_COLUMNS: &str = "id, user_id, credential_id, name, static_state, dynamic_state, transports, \
             backup_eligible, backed_up, created_at, last_used_at";

        fn passkey_from_row(row: &$row) -> Result<StoredPasskey, StoreError> {
            let id: String = row.try_get("id").map_err(from_sqlx)?;
            let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
            Ok(StoredPasskey {
                passkey: Passkey {
                    id: uuid(&id)?,
                    name: row.try_get("name").map_err(from_sqlx)?,
                    backup_eligible: row.try_get("backup_eligible").map_err(from_sqlx)?,
                    backed_up: row.try_get("backed_up").map_err(from_sqlx)?,
                    created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                    last_used_at: optional_time(row, "last_used_at")?,
                },
                user_id: uuid(&user_id)?,
                credential_id: row.try_get("credential_id").map_err(from_sqlx)?,
                static_state: row.try_get("static_state").map_err(from_sqlx)?,
                dynamic_state: row.try_get("dynamic_state").map_err(from_sqlx)?,
                transports: u8::try_from(row.try_get::<i32, _>("transports").map_err(from_sqlx)?).unwrap_or(0),
            })
        }

        fn step_from_row(row: &$row) -> Result<SecondStep, StoreError> {
            let id: String = row.try_get("id").map_err(from_sqlx)?;
            let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
            let first: String = row.try_get("first_factor").map_err(from_sqlx)?;
            let failures: i32 = row.try_get("failures").map_err(from_sqlx)?;
            Ok(SecondStep {
                id: uuid(&id)?,
                user_id: uuid(&user_id)?,
                first_factor: AuthMethod::parse(&first)
                    .ok_or_else(|| StoreError::Backend(format!("stored first factor {first:?} is unknown")))?,
                return_to: row.try_get("return_to").map_err(from_sqlx)?,
                user_agent: row.try_get("user_agent").map_err(from_sqlx)?,
                created_at: from_millis(row.try_get("created_at").map_err(from_sqlx)?)?,
                expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                failures: u32::try_from(failures).unwrap_or(0),
            })
        }

        impl $store {
            /// Removes the recovery codes once no factor guards the account (no confirmed app, no
            /// passkey): they stay while any factor does.
            async fn drop_codes_without_factor(conn: &mut $conn, user_id: Uuid) -> Result<(), StoreError> {
                sqlx::query(
                    "DELETE FROM mfa_recovery_codes WHERE user_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1) \
                     AND NOT EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
                )
                .bind(user_id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn insert_recovery_codes(
                conn: &mut $conn,
                user_id: Uuid,
                hashes: &[TokenHash],
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                    .bind(user_id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(from_sqlx)?;
                for hash in hashes {
                    sqlx::query("INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
                        .bind(user_id.to_string())
                        .bind(&hash.0[..])
                        .bind(millis(at))
                        .execute(&mut *conn)
                        .await
                        .map_err(from_sqlx)?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl MfaStore for $store {
            async fn factors(&self, user_id: Uuid) -> Result<FactorSummary, StoreError> {
                let totp = self.totp(user_id).await?.map(|stored| stored.factor);
                let left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user_id.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let passkeys = self.passkeys_of_user(user_id).await?.into_iter().map(|stored| stored.passkey).collect();
                Ok(FactorSummary { totp, passkeys, recovery_codes_left: u32::try_from(left).unwrap_or(0) })
            }

            async fn totp(&self, user_id: Uuid) -> Result<Option<StoredTotp>, StoreError> {
                let sql = format!("SELECT {TOTP_COLUMNS} FROM mfa_totp WHERE user_id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(totp_from_row).transpose()
            }

            async fn begin_totp(&self, totp: &StoredTotp, events: &[AuditEvent]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NULL")
                    .bind(totp.user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                // A confirmed factor is still there, and the unique index refuses a second one.
                sqlx::query("INSERT INTO mfa_totp (id, user_id, sealed_secret, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(totp.factor.id.to_string())
                    .bind(totp.user_id.to_string())
                    .bind(&totp.sealed_secret[..])
                    .bind(millis(totp.factor.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(())
            }

            async fn confirm_totp(
                &self,
                user_id: Uuid,
                factor_id: Uuid,
                step: i64,
                at: OffsetDateTime,
                recovery_hashes: &[TokenHash],
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query(
                    "UPDATE mfa_totp SET confirmed_at = $1, last_used_at = $1, last_step = $2 \
                     WHERE id = $3 AND user_id = $4 AND confirmed_at IS NULL",
                )
                .bind(millis(at))
                .bind(step)
                .bind(factor_id.to_string())
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected()
                    == 1;
                if !changed {
                    return Ok(false);
                }
                Self::insert_recovery_codes(&mut tx, user_id, recovery_hashes, at).await?;
                Self::insert_jobs(&mut tx, jobs, at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }

            async fn use_totp_step(&self, user_id: Uuid, step: i64, at: OffsetDateTime) -> Result<bool, StoreError> {
                let changed = sqlx::query(
                    "UPDATE mfa_totp SET last_step = $1, last_used_at = $2 WHERE user_id = $3 \
                     AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
                )
                .bind(step)
                .bind(millis(at))
                .bind(user_id.to_string())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn use_recovery_code(
                &self,
                user_id: Uuid,
                code_hash: &TokenHash,
                at: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let changed = sqlx::query(
                    "UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 \
                     AND used_at IS NULL",
                )
                .bind(millis(at))
                .bind(user_id.to_string())
                .bind(&code_hash.0[..])
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

            async fn replace_recovery_codes(
                &self,
                user_id: Uuid,
                hashes: &[TokenHash],
                at: OffsetDateTime,
                events: &[AuditEvent],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                // A write first, which also holds the app's row: on SQLite a transaction that
                // reads before it writes cannot wait for another writer; on PostgreSQL a removal
                // of the app waits for this to finish.
                let app = sqlx::query(
                    "UPDATE mfa_totp SET last_used_at = last_used_at WHERE user_id = $1 AND confirmed_at IS NOT NULL",
                )
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected()
                    > 0;
                let passkeys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                    .bind(user_id.to_string())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                let confirmed = app || passkeys > 0;
                if !confirmed {
                    return Ok(false);
                }
                Self::insert_recovery_codes(&mut tx, user_id, hashes, at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }

            async fn remove_totp(
                &self,
                user_id: Uuid,
                at: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let removed = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected()
                    > 0;
                if !removed {
                    return Ok(false);
                }
                Self::drop_codes_without_factor(&mut tx, user_id).await?;
                Self::insert_jobs(&mut tx, jobs, at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }

            async fn create_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO webauthn_ceremonies (challenge, kind, user_id, state, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&ceremony.challenge[..])
                .bind(ceremony.kind.as_str())
                .bind(ceremony.user_id.map(|id| id.to_string()))
                .bind(&ceremony.state[..])
                .bind(millis(ceremony.expires_at))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn take_ceremony(
                &self,
                challenge: &[u8],
                now: OffsetDateTime,
            ) -> Result<Option<Ceremony>, StoreError> {
                let row = sqlx::query(
                    "DELETE FROM webauthn_ceremonies WHERE challenge = $1 \
                     RETURNING challenge, kind, user_id, state, expires_at",
                )
                .bind(challenge)
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?;
                let Some(row) = row else { return Ok(None) };
                let kind: String = row.try_get("kind").map_err(from_sqlx)?;
                let user_id: Option<String> = row.try_get("user_id").map_err(from_sqlx)?;
                let ceremony = Ceremony {
                    challenge: row.try_get("challenge").map_err(from_sqlx)?,
                    kind: CeremonyKind::parse(&kind)
                        .ok_or_else(|| StoreError::Backend(format!("stored ceremony kind {kind:?} is unknown")))?,
                    user_id: user_id.as_deref().map(uuid).transpose()?,
                    state: row.try_get("state").map_err(from_sqlx)?,
                    expires_at: from_millis(row.try_get("expires_at").map_err(from_sqlx)?)?,
                };
                Ok((ceremony.expires_at > now).then_some(ceremony))
            }

            async fn add_passkey(
                &self,
                passkey: &StoredPasskey,
                recovery_hashes: &[TokenHash],
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<(), StoreError> {
                let at = passkey.passkey.created_at;
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                sqlx::query(
                    "INSERT INTO passkeys (id, user_id, credential_id, name, static_state, dynamic_state, \
                     transports, backup_eligible, backed_up, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(passkey.passkey.id.to_string())
                .bind(passkey.user_id.to_string())
                .bind(&passkey.credential_id[..])
                .bind(&passkey.passkey.name)
                .bind(&passkey.static_state[..])
                .bind(&passkey.dynamic_state[..])
                .bind(i32::from(passkey.transports))
                .bind(passkey.passkey.backup_eligible)
                .bind(passkey.passkey.backed_up)
                .bind(millis(at))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
                if !recovery_hashes.is_empty() {
                    Self::insert_recovery_codes(&mut tx, passkey.user_id, recovery_hashes, at).await?;
                }
                Self::insert_jobs(&mut tx, jobs, at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(())
            }

            async fn passkeys_of_user(&self, user_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError> {
                let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .iter()
                    .map(passkey_from_row)
                    .collect()
            }

            async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StoreError> {
                let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(credential_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(passkey_from_row).transpose()
            }

            async fn passkey_used(
                &self,
                passkey_id: Uuid,
                dynamic_state: Option<&[u8]>,
                backed_up: bool,
                at: OffsetDateTime,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE passkeys SET last_used_at = $1, backed_up = $2, \
                     dynamic_state = COALESCE($3, dynamic_state) WHERE id = $4",
                )
                .bind(millis(at))
                .bind(backed_up)
                .bind(dynamic_state)
                .bind(passkey_id.to_string())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn rename_passkey(&self, user_id: Uuid, passkey_id: Uuid, name: &str) -> Result<bool, StoreError> {
                let changed = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
                    .bind(name)
                    .bind(passkey_id.to_string())
                    .bind(user_id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                Ok(changed > 0)
            }

            async fn delete_passkey(
                &self,
                user_id: Uuid,
                passkey_id: Uuid,
                at: OffsetDateTime,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let removed = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                    .bind(passkey_id.to_string())
                    .bind(user_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected()
                    > 0;
                if !removed {
                    return Ok(false);
                }
                Self::drop_codes_without_factor(&mut tx, user_id).await?;
                Self::insert_jobs(&mut tx, jobs, at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }

            async fn create_step(&self, step: &SecondStep, token_hash: &TokenHash) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO mfa_steps (id, token_hash, user_id, first_factor, return_to, user_agent, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(step.id.to_string())
                .bind(&token_hash.0[..])
                .bind(step.user_id.to_string())
                .bind(step.first_factor.as_str())
                .bind(step.return_to.as_deref())
                .bind(step.user_agent.as_deref())
                .bind(millis(step.created_at))
                .bind(millis(step.expires_at))
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
                Ok(())
            }

            async fn step(&self, token_hash: &TokenHash) -> Result<Option<SecondStep>, StoreError> {
                let sql = format!("SELECT {STEP_COLUMNS} FROM mfa_steps WHERE token_hash = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&token_hash.0[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                row.as_ref().map(step_from_row).transpose()
            }

            async fn step_failed(&self, step_id: Uuid, events: &[AuditEvent]) -> Result<u32, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let failures: Option<i32> =
                    sqlx::query_scalar("UPDATE mfa_steps SET failures = failures + 1 WHERE id = $1 RETURNING failures")
                        .bind(step_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(from_sqlx)?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(failures.map_or(u32::MAX, |failures| u32::try_from(failures).unwrap_or(u32::MAX)))
            }

            async fn finish_step(
                &self,
                step_id: Uuid,
                session: &NewSession,
                events: &[AuditEvent],
                jobs: &[NewJob],
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
                let spent: Option<String> = sqlx::query_scalar("DELETE FROM mfa_steps WHERE id = $1 RETURNING id")
                    .bind(step_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                if spent.is_none() {
                    return Ok(false);
                }
                Self::insert_session(&mut tx, session).await?;
                Self::insert_jobs(&mut tx, jobs, session.session.created_at).await?;
                Self::insert_audit(&mut tx, events).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(true)
            }
        }
    };
}

pub(crate) use sql_mfa;
