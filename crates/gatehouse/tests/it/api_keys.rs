//! Service API keys, end to end: created, listed and revoked with the CLI, checked by the server
//! with scopes; and signing-key rotation from the CLI.

use std::sync::Arc;

use axum::body::Body;
use gatehouse_core::clock::{Clock, FrozenClock};
use http::{StatusCode, header};
use time::OffsetDateTime;

use crate::support::binary;
use crate::support::{TestDb, call, config_for, json};

fn cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    binary::cli(&db.url, args)
}

fn create(db: &TestDb, name: &str, scope: &str) -> String {
    let output = cli(db, &["api-key", "create", "--name", name, "--scope", scope]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

async fn audit_events(router: &axum::Router, key: Option<&str>, query: &str) -> (StatusCode, serde_json::Value) {
    let mut request = http::Request::get(format!("/v1/audit-events{query}"));
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let (status, _, body) = call(router, request.body(Body::empty()).expect("request")).await;
    (status, json(&body))
}

#[tokio::test]
async fn keys_are_scoped_listed_without_secrets_and_revocable() {
    let db = TestDb::sqlite();
    let auditor = create(&db, "auditor", "audit");
    let hooks = create(&db, "hooks", "webhooks");
    assert!(auditor.starts_with("gh_") && auditor.len() == 46, "{auditor}");

    let bad_scope = cli(&db, &["api-key", "create", "--name", "x", "--scope", "everything"]);
    assert_eq!(bad_scope.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope `everything`"));

    let app = gatehouse::app::build(config_for(&db.url, &[])).await.expect("app");
    let (status, body) = audit_events(&app.router, Some(&auditor), "?limit=10").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actions: Vec<&str> =
        body["events"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "api_key.created").count(), 2, "{actions:?}");

    let (status, body) = audit_events(&app.router, Some(&hooks), "").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert!(body["detail"].as_str().expect("detail").contains("`audit` scope"));
    for key in [None, Some("gh_not-a-key"), Some(&*format!("gh_{}", "x".repeat(43)))] {
        let (status, body) = audit_events(&app.router, key, "").await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "{key:?}");
    }
    for query in ["?limit=0", "?limit=501", "?limit=lots", "?since=yesterday"] {
        let (status, body) = audit_events(&app.router, Some(&auditor), query).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{query}");
    }

    let list = String::from_utf8(cli(&db, &["api-key", "list"]).stdout).expect("utf-8");
    assert!(list.contains(&auditor[..9]) && !list.contains(&auditor), "{list}");
    let auditor_line = list.lines().find(|l| l.contains("auditor")).expect("auditor listed");
    assert!(!auditor_line.contains("last used: never"), "use is recorded: {auditor_line}");
    let id = auditor_line.split_whitespace().next().expect("id");

    let revoke = cli(&db, &["api-key", "revoke", id]);
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    let uncached = gatehouse::app::build(config_for(&db.url, &[("GATEHOUSE_API_KEYS_CACHE_TTL_SECS", "0")]))
        .await
        .expect("app without the key cache");
    assert_eq!(audit_events(&uncached.router, Some(&auditor), "").await.0, StatusCode::UNAUTHORIZED, "revoked at once");
    let again = cli(&db, &["api-key", "revoke", id]);
    assert_eq!(again.status.code(), Some(1), "revoking twice says so");
}

/// The documented trade-off of `api_keys.cache_ttl_secs`: a key revoked by another process keeps
/// working on an instance that checked it recently, for at most the TTL, and never longer.
#[tokio::test]
async fn a_key_revoked_elsewhere_stops_working_within_the_cache_ttl() {
    let db = TestDb::sqlite();
    let key = create(&db, "auditor", "audit");
    let clock = Arc::new(FrozenClock::at(OffsetDateTime::now_utc()));
    let config = config_for(&db.url, &[("GATEHOUSE_API_KEYS_CACHE_TTL_SECS", "5")]);
    let app = gatehouse::app::build_with_clock(config, clock.clone() as Arc<dyn Clock>).await.expect("app");
    assert_eq!(audit_events(&app.router, Some(&key), "").await.0, StatusCode::OK);

    let list = String::from_utf8(cli(&db, &["api-key", "list"]).stdout).expect("utf-8");
    let id = list.lines().find(|l| l.contains("auditor")).and_then(|l| l.split_whitespace().next()).expect("id");
    assert!(cli(&db, &["api-key", "revoke", id]).status.success());

    clock.advance(time::Duration::seconds(4));
    assert_eq!(audit_events(&app.router, Some(&key), "").await.0, StatusCode::OK, "still inside the TTL");
    clock.advance(time::Duration::seconds(1));
    assert_eq!(audit_events(&app.router, Some(&key), "").await.0, StatusCode::UNAUTHORIZED, "the TTL is the bound");
    clock.advance(time::Duration::seconds(60));
    assert_eq!(audit_events(&app.router, Some(&key), "").await.0, StatusCode::UNAUTHORIZED, "and stays revoked");
}

/// A revocation made through the instance's own store is immediate, cache or not.
#[tokio::test]
async fn a_key_revoked_through_the_instance_stops_working_at_once() {
    let db = TestDb::sqlite();
    let key = create(&db, "auditor", "audit");
    let config = config_for(&db.url, &[("GATEHOUSE_API_KEYS_CACHE_TTL_SECS", "300")]);
    let app = gatehouse::app::build(config).await.expect("app");
    assert_eq!(audit_events(&app.router, Some(&key), "").await.0, StatusCode::OK);
    let services = app.state.services();
    let stored = services.api_keys.api_keys().await.expect("list").into_iter().next().expect("the key");
    assert!(services.api_keys.revoke_api_key(stored.id, services.clock.now(), &[]).await.expect("revoke"));
    assert_eq!(audit_events(&app.router, Some(&key), "").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_rotate_from_the_cli_is_picked_up_by_a_running_instance() {
    let db = TestDb::sqlite();
    let app = gatehouse::app::build(config_for(&db.url, &[])).await.expect("app");
    let jwks = |router: axum::Router| async move {
        let request = http::Request::get("/.well-known/jwks.json").body(Body::empty()).expect("request");
        json(&call(&router, request).await.2)["keys"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(jwks(app.router.clone()).await, 1);
    let output = cli(&db, &["keys", "rotate"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("is active"));
    app.state.services().tokens.reload().await.expect("the periodic reload, run now");
    assert_eq!(jwks(app.router.clone()).await, 2, "old and new keys are both published");
}
