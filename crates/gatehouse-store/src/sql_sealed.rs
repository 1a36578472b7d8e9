//! Every sealed value in the database, for `gatehouse secrets rewrap` and the `/health` check that
//! says whether any remain under the previous master secret. Shared by both engines like
//! [`crate::sql_ports`]; table and column names come from [`SealedKind`], never from input.

use gatehouse_core::sealing::SealedKind;

/// `(table, key column, sealed column)` of each kind.
pub(crate) fn location(kind: SealedKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        SealedKind::SigningKey => ("signing_keys", "kid", "encrypted_private_key"),
        SealedKind::WebhookSecret => ("webhook_endpoints", "id", "sealed_secret"),
        SealedKind::WebhookPreviousSecret => ("webhook_endpoints", "id", "previous_sealed_secret"),
        SealedKind::VaultKey => ("vault_connections", "id", "wrapped_key"),
        SealedKind::VaultRevocationKey => ("vault_revocations", "id", "wrapped_key"),
        SealedKind::TotpSecret => ("mfa_totp", "id", "sealed_secret"),
    }
}

/// Implements `SealedValueStore` for `$store` (field `pool`), yielding `$row` rows.
macro_rules! sql_sealed {
    ($store:ty, $row:ty) => {
        use async_trait::async_trait;
        use gatehouse_core::oauth::ProviderName;
        use gatehouse_core::sealing::{SealedKind, SealedValue, SealedValueStore};
        use gatehouse_core::store::StoreError;
        use sqlx::Row as _;

        use crate::error::from_sqlx;
        use crate::sql_ports::uuid;
        use crate::sql_sealed::location;

        fn label(kind: SealedKind, row: &$row, key: &str) -> Result<String, StoreError> {
            Ok(match kind {
                SealedKind::SigningKey => key.to_owned(),
                SealedKind::WebhookSecret | SealedKind::WebhookPreviousSecret => {
                    gatehouse_core::webhooks::sealing_label(uuid(key)?)
                }
                SealedKind::VaultKey => {
                    let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
                    let provider: String = row.try_get("provider").map_err(from_sqlx)?;
                    let provider = ProviderName::parse(&provider)
                        .map_err(|_| StoreError::Backend(format!("stored provider {provider:?} is invalid")))?;
                    gatehouse_core::vault::record_label(uuid(key)?, uuid(&user_id)?, &provider)
                }
                SealedKind::VaultRevocationKey => {
                    let provider: String = row.try_get("provider").map_err(from_sqlx)?;
                    let provider = ProviderName::parse(&provider)
                        .map_err(|_| StoreError::Backend(format!("stored provider {provider:?} is invalid")))?;
                    gatehouse_core::vault::record_label(uuid(key)?, uuid::Uuid::nil(), &provider)
                }
                SealedKind::TotpSecret => {
                    let user_id: String = row.try_get("user_id").map_err(from_sqlx)?;
                    gatehouse_core::mfa::sealing_label(uuid(key)?, uuid(&user_id)?)
                }
            })
        }

        #[async_trait]
        impl SealedValueStore for $store {
            async fn sealed_values(
                &self,
                kind: SealedKind,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Vec<SealedValue>, StoreError> {
                let (table, key, column) = location(kind);
                let extra = match kind {
                    SealedKind::VaultKey => ", user_id, provider",
                    SealedKind::VaultRevocationKey => ", provider",
                    SealedKind::TotpSecret => ", user_id",
                    _ => "",
                };
                let sql = format!(
                    "SELECT {key} AS sealed_key, {column} AS sealed{extra} FROM {table} \
                     WHERE {column} IS NOT NULL AND {key} > $1 ORDER BY {key} LIMIT $2"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after.unwrap_or(""))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                rows.iter()
                    .map(|row| {
                        let key: String = row.try_get("sealed_key").map_err(from_sqlx)?;
                        Ok(SealedValue {
                            kind,
                            label: label(kind, row, &key)?,
                            blob: row.try_get("sealed").map_err(from_sqlx)?,
                            key,
                        })
                    })
                    .collect()
            }

            async fn replace_sealed_value(&self, value: &SealedValue, resealed: &[u8]) -> Result<bool, StoreError> {
                let (table, key, column) = location(value.kind);
                let sql = format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2 AND {column} = $3");
                let changed = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(resealed)
                    .bind(&value.key)
                    .bind(&value.blob)
                    .execute(&self.pool)
                    .await
                    .map_err(from_sqlx)?
                    .rows_affected();
                Ok(changed == 1)
            }

            async fn count_not_sealed_under(&self, kind: SealedKind, header: &[u8]) -> Result<u64, StoreError> {
                let (table, _, column) = location(kind);
                let sql = format!(
                    "SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL AND substr({column}, 1, $1) <> $2"
                );
                let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(i32::try_from(header.len()).unwrap_or(i32::MAX))
                    .bind(header)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(from_sqlx)?;
                Ok(u64::try_from(count).unwrap_or(0))
            }
        }
    };
}

pub(crate) use sql_sealed;
