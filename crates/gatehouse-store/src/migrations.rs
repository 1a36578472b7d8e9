//! The migrations embedded in the binary, one set per backend, and the comparison of what a
//! database has applied against them.
//!
//! Files live in `migrations/<backend>/NNNN_description.sql`; the list below names each once and
//! a test checks that the list and the folders agree.

use std::borrow::Cow;

use gatehouse_core::store::SchemaStatus;
use sqlx::migrate::{Migration, MigrationType, Migrator};

struct EmbeddedMigration {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! embedded {
    ($($version:literal => $name:literal),* $(,)?) => {
        &[$(EmbeddedMigration {
            version: $version,
            description: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", stringify!($version), "_", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", stringify!($version), "_", $name, ".sql")),
        }),*]
    };
}

// The version literal is written with its leading zeros so that it matches the file name.
#[allow(clippy::zero_prefixed_literal)]
const EMBEDDED: &[EmbeddedMigration] = embedded![
    0001 => "instance_secrets",
    0002 => "accounts_sessions_audit",
    0003 => "signing_and_api_keys",
    0004 => "jobs",
    0005 => "email_links",
    0006 => "webhooks",
    0007 => "oauth_vault",
    0008 => "workspaces_privacy",
    0009 => "session_invalidations",
    0010 => "job_indexes",
    0011 => "second_factors",
    0012 => "passkeys",
    0013 => "account_self_service",
];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Flavor {
    Sqlite,
    Postgres,
}

pub(crate) fn migrator(flavor: Flavor) -> Migrator {
    let migrations = EMBEDDED
        .iter()
        .map(|m| {
            let sql = match flavor {
                Flavor::Sqlite => m.sqlite,
                Flavor::Postgres => m.postgres,
            };
            Migration::new(
                m.version,
                Cow::Borrowed(m.description),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// The versions this binary carries, oldest first.
pub fn embedded_versions() -> Vec<i64> {
    EMBEDDED.iter().map(|m| m.version).collect()
}

pub(crate) fn compare(applied: &[i64]) -> SchemaStatus {
    let embedded = embedded_versions();
    SchemaStatus {
        pending: embedded.iter().copied().filter(|v| !applied.contains(v)).collect(),
        unknown: applied.iter().copied().filter(|v| !embedded.contains(v)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions_in(folder: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_for_both_backends() {
        let expected: Vec<String> =
            EMBEDDED.iter().map(|m| format!("{:04}_{}.sql", m.version, m.description)).collect();
        assert_eq!(versions_in("sqlite"), expected);
        assert_eq!(versions_in("postgres"), expected);
    }

    #[test]
    fn compare_reports_pending_and_unknown_versions() {
        assert!(compare(&embedded_versions()).is_current());
        let none_applied = compare(&[]);
        assert_eq!(none_applied.pending, embedded_versions());
        assert!(!none_applied.is_current());
        let mut applied_by_newer_release = embedded_versions();
        applied_by_newer_release.push(9999);
        let newer = compare(&applied_by_newer_release);
        assert!(newer.is_current());
        assert_eq!(newer.unknown, vec![9999]);
    }
}
