//! The storage contract: the same stories against every SQL backend.

use std::sync::Arc;

use gatehouse_core::store::{StoreError, load_or_store_instance_secret};
use gatehouse_store::{Database, embedded_versions};

use crate::support::pool;

async fn migrations_apply_once_and_leave_the_schema_current(db: Database) {
    let probe = db.probe();
    let before = probe.schema_status().await.expect("status");
    assert_eq!(before.pending, embedded_versions());
    db.migrate().await.expect("first migrate");
    db.migrate().await.expect("second migrate is a no-op");
    let after = probe.schema_status().await.expect("status");
    assert!(after.is_current() && after.unknown.is_empty(), "{after:?}");
    probe.ping().await.expect("ping");
}

async fn instance_secrets_are_unique_and_survive_reconnects(db: Database, url: &str) {
    db.migrate().await.expect("migrate");
    let secrets = db.instance_secrets();
    assert!(secrets.instance_secret("signing").await.expect("read").is_none());
    secrets.insert_instance_secret("signing", &[1, 2, 3]).await.expect("insert");
    match secrets.insert_instance_secret("signing", &[9, 9, 9]).await {
        Err(StoreError::Duplicate { .. }) => {}
        other => panic!("a second insert must be a duplicate, got {other:?}"),
    }
    db.close().await;
    let reopened = Database::connect(url, &pool()).await.expect("reconnect");
    let value = reopened.instance_secrets().instance_secret("signing").await.expect("read");
    assert_eq!(value.as_deref(), Some(&[1_u8, 2, 3][..]), "the first value is kept");
    reopened.close().await;
}

async fn concurrent_starts_agree_on_one_generated_secret(db: Database) {
    db.migrate().await.expect("migrate");
    let store = db.instance_secrets();
    let attempts = (0..16_u8).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { load_or_store_instance_secret(store.as_ref(), "dev", vec![i; 32]).await })
    });
    let mut values = Vec::new();
    for attempt in attempts {
        values.push(attempt.await.expect("join").expect("load or store"));
    }
    values.dedup();
    assert_eq!(values.len(), 1, "every caller sees the same secret");
}

#[tokio::test]
async fn in_memory_sqlite_is_one_database_for_every_pooled_connection() {
    let db = Database::connect("sqlite::memory:", &pool()).await.expect("connect");
    db.migrate().await.expect("migrate");
    db.instance_secrets().insert_instance_secret("k", b"v").await.expect("insert");
    let reads = (0..8).map(|_| {
        let secrets = db.instance_secrets();
        tokio::spawn(async move { secrets.instance_secret("k").await })
    });
    for read in reads {
        assert_eq!(read.await.expect("join").expect("read").as_deref(), Some(&b"v"[..]));
    }
    assert!(db.probe().schema_status().await.expect("status").is_current());
}

crate::support::on_every_database! {
    migrations_apply_once_and_leave_the_schema_current,
    instance_secrets_are_unique_and_survive_reconnects(url),
    concurrent_starts_agree_on_one_generated_secret,
}
