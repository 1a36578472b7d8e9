//! The live schema, table by table and column by column, and where a value occurs in it.
//!
//! This is how completeness of export and erasure is proven rather than promised: the tests list
//! every column the database really has, require each to be classified in
//! [`crate::privacy::COLUMNS`], and search every one of them for a person's id and address.
//! Table and column names come from the database's own catalogue, never from input.

use gatehouse_core::store::StoreError;

use crate::Database;
use crate::error::from_sqlx;

/// `(table, column)` of every column of every Gatehouse table, sorted.
pub async fn columns(database: &Database) -> Result<Vec<(String, String)>, StoreError> {
    let mut found: Vec<(String, String)> = match database {
        Database::Sqlite(store) => sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(store.pool())
        .await
        .map_err(from_sqlx)?,
        Database::Postgres(store) => sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(store.pool())
        .await
        .map_err(from_sqlx)?,
    };
    found.sort();
    Ok(found)
}

/// `value` with `LIKE`'s wildcards escaped (by `\`), lower-cased, between `%`s.
pub(crate) fn contains_pattern(value: &str) -> String {
    let escaped = value.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// How many rows of `table` hold every one of `needles` in one of `columns` (as text, ignoring
/// case): the same column must hold them all. `table` and `columns` must come from [`columns`].
pub async fn rows_containing(
    database: &Database,
    table: &str,
    columns: &[&str],
    needles: &[&str],
) -> Result<i64, StoreError> {
    count_matching(database, table, columns, needles, " AND ").await
}

/// How many rows of `table` hold at least one of `needles` in one of `columns`.
pub async fn rows_naming_any(
    database: &Database,
    table: &str,
    columns: &[&str],
    needles: &[&str],
) -> Result<i64, StoreError> {
    count_matching(database, table, columns, needles, " OR ").await
}

async fn count_matching(
    database: &Database,
    table: &str,
    columns: &[&str],
    needles: &[&str],
    joiner: &str,
) -> Result<i64, StoreError> {
    if columns.is_empty() || needles.is_empty() {
        return Ok(0);
    }
    let per_column: Vec<String> = columns
        .iter()
        .map(|column| {
            let all: Vec<String> =
                (1..=needles.len()).map(|n| format!("LOWER(CAST({column} AS TEXT)) LIKE ${n} ESCAPE '\\'")).collect();
            format!("({})", all.join(joiner))
        })
        .collect();
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {}", per_column.join(" OR "));
    let patterns: Vec<String> = needles.iter().map(|needle| contains_pattern(needle)).collect();
    match database {
        Database::Sqlite(store) => {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for pattern in patterns {
                query = query.bind(pattern);
            }
            query.fetch_one(store.pool()).await.map_err(from_sqlx)
        }
        Database::Postgres(store) => {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for pattern in patterns {
                query = query.bind(pattern);
            }
            query.fetch_one(store.pool()).await.map_err(from_sqlx)
        }
    }
}

/// How many rows `table` has. `table` must come from [`columns`] or be a known table name.
pub async fn count_rows(database: &Database, table: &str) -> Result<i64, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match database {
        Database::Sqlite(store) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()).await.map_err(from_sqlx)
        }
        Database::Postgres(store) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()).await.map_err(from_sqlx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_the_needle_match_only_themselves() {
        assert_eq!(contains_pattern("A_b%c\\d@x.test"), "%a\\_b\\%c\\\\d@x.test%");
    }
}
