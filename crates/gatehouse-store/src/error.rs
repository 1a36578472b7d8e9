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
        // A connection that answers nonsense (cut mid-handshake, a proxy in between closing it)
        // is one that cannot be used, like one that cannot be reached.
        sqlx::Error::Protocol(_) => StoreError::Unavailable("the database connection broke".into()),
        sqlx::Error::WorkerCrashed => StoreError::Unavailable("the database connection's worker stopped".into()),
        // The server is shutting down, restarting, refusing connections or out of them.
        sqlx::Error::Database(db) if db.code().is_some_and(|code| is_unavailable(&code)) => {
            StoreError::Unavailable(format!("the database is not accepting work ({})", db.code().unwrap_or_default()))
        }
        // sqlx's error enum is non-exhaustive; whatever else it says is a backend fault. Its text
        // never contains the connection string's password.
        other => StoreError::Backend(other.to_string()),
    }
}

/// PostgreSQL SQLSTATEs that mean "not now" rather than "wrong": connection exceptions (class 08),
/// operator intervention (57P01 to 57P05), too many connections (53300), and a transaction
/// chosen as a deadlock's or a serialization conflict's victim (40P01, 40001), which PostgreSQL
/// itself says to retry.
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || matches!(code, "57P01" | "57P02" | "57P03" | "57P04" | "57P05" | "53300" | "40P01" | "40001")
}

pub(crate) fn from_migrate(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(inner) => from_sqlx(inner),
        other => StoreError::Backend(format!("migration failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_unavailable_not_a_fault() {
        let broken = sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".into());
        assert!(matches!(from_sqlx(broken), StoreError::Unavailable(_)));
        assert!(matches!(from_sqlx(sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(is_unavailable("08006") && is_unavailable("57P01") && is_unavailable("53300"));
        assert!(is_unavailable("40P01") && is_unavailable("40001"), "a deadlock's victim may retry");
        assert!(!is_unavailable("23505") && !is_unavailable("42P01"));
    }
}
