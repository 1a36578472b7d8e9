//! Maps sqlx errors onto the core's [`StoreError`], so no driver type escapes this crate.

use gatehouse_core::store::StoreError;

pub(crate) fn from_sqlx(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Duplicate { what: db.constraint().unwrap_or("key").to_owned() }
        }
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut => StoreError::Unavailable("timed out waiting for a database connection".into()),
        sqlx::Error::PoolClosed => StoreError::Unavailable("the connection pool is closed".into()),
        sqlx::Error::Io(io) => StoreError::Unavailable(format!("I/O error: {}", io.kind())),
        sqlx::Error::Tls(_) => StoreError::Unavailable("TLS error talking to the database".into()),
        // sqlx's error enum is non-exhaustive; whatever else it says is a backend fault. Its text
        // never contains the connection string's password.
        other => StoreError::Backend(other.to_string()),
    }
}

pub(crate) fn from_migrate(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(inner) => from_sqlx(inner),
        other => StoreError::Backend(format!("migration failed: {other}")),
    }
}
