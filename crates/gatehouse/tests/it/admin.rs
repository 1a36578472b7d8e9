//! The admin API: users a page at a time, disabling that ends sessions on a second instance at
//! once, audit filters that return exactly the matching events, and audit retention.

use gatehouse_core::audit::{Actor, AuditAction, AuditEvent, AuditFilter};
use gatehouse_core::sessions::ClientContext;
use http::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::{TestDb, redis};

async fn two_on(backend: &str) -> Option<(TestApp, TestApp)> {
    let redis = if backend == "redis" { Some(redis()?) } else { None };
    let db = if backend == "postgres" { TestDb::postgres().await? } else { TestDb::sqlite() };
    let shared = db.shared();
    let mut vars: Vec<(&str, &str)> = vec![("GATEHOUSE_JOBS_ENABLED", "false")];
    if let Some((url, prefix)) = &redis {
        vars.extend([("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())]);
    }
    let first = TestApp::start(db, &vars).await;
    let second = TestApp::start(shared, &vars).await;
    Some((first, second))
}

macro_rules! on_every_backend {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $story() { super::$story("sqlite").await; })* }
        mod postgres { $(#[tokio::test] async fn $story() { super::$story("postgres").await; })* }
        mod sqlite_with_redis { $(#[tokio::test] async fn $story() { super::$story("redis").await; })* }
    };
}

on_every_backend!(disabling_ends_sessions_everywhere_and_audit_filters_are_exact);

fn ids(events: &Value) -> Vec<i64> {
    events.as_array().expect("events").iter().map(|e| e["id"].as_i64().expect("id")).collect()
}

async fn disabling_ends_sessions_everywhere_and_audit_filters_are_exact(backend: &str) {
    let Some((app, other)) = two_on(backend).await else { return };
    let key = app.service_key(&["admin"]).await;
    let mut cookies = Vec::new();
    for name in ["amy", "ben", "cat"] {
        cookies.push(app.signup(&format!("{name}@example.com")).await.cookie());
    }
    let first = app.service(Method::GET, "/v1/admin/users?limit=2", &key, None).await;
    assert_eq!(first.body["users"].as_array().map(Vec::len), Some(2), "{:?}", first.body);
    let next = first.body["next"].as_str().expect("a next page").to_owned();
    let second = app.service(Method::GET, &format!("/v1/admin/users?limit=2&after={next}"), &key, None).await;
    assert_eq!((second.body["users"].as_array().map(Vec::len), &second.body["next"]), (Some(1), &Value::Null));
    let found = app.service(Method::GET, "/v1/admin/users?email_prefix=BEN", &key, None).await;
    assert_eq!(found.body["users"][0]["email"], "ben@example.com");
    let ben = found.body["users"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.service(Method::GET, "/v1/admin/users?email_prefix=b_n", &key, None).await.body["users"],
        serde_json::json!([]),
        "_ is no wildcard"
    );
    let bad = app.service(Method::GET, "/v1/admin/users?limit=0", &key, None).await;
    assert_eq!(bad.body["code"], "invalid_query");

    // Created by an operator: no session, a password that works, the address as given.
    let created = app
        .service(
            Method::POST,
            "/v1/admin/users",
            &key,
            Some(serde_json::json!({ "email": "Dee@Example.com", "password": PASSWORD, "email_verified": true })),
        )
        .await;
    assert_eq!(
        (created.status, created.body["email_verified"].as_bool()),
        (StatusCode::CREATED, Some(true)),
        "{:?}",
        created.body
    );
    assert_eq!(app.login("dee@example.com", PASSWORD).await.status, StatusCode::OK);
    let again = app
        .service(Method::POST, "/v1/admin/users", &key, Some(serde_json::json!({ "email": "dee@example.com" })))
        .await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("duplicate_entry")));
    let bad = app
        .service(Method::POST, "/v1/admin/users", &key, Some(serde_json::json!({ "email": "x", "password": "short" })))
        .await;
    assert_eq!(bad.body["code"], "validation_failed");

    // Disabling ends the session on the other instance, which had it cached, at once.
    assert_eq!(other.get("/v1/session", Some(&cookies[1])).await.status, StatusCode::OK);
    let disabled = app.service(Method::POST, &format!("/v1/admin/users/{ben}/disable"), &key, None).await;
    assert_eq!(
        (disabled.status, &disabled.body["disabled"]),
        (StatusCode::OK, &Value::Bool(true)),
        "{:?}",
        disabled.body
    );
    assert_eq!(
        other.session_status_after_change(&cookies[1], StatusCode::UNAUTHORIZED).await,
        StatusCode::UNAUTHORIZED
    );
    let queued = app.app.state.services().jobs.jobs_in(gatehouse_core::jobs::JobState::Ready, 100).await.expect("jobs");
    let event = queued
        .iter()
        .map(|job| &job.payload)
        .find(|payload| payload.to_string().contains("user.updated"))
        .expect("a user.updated event is queued");
    let text = event.to_string();
    assert!(text.contains("\"changed\":[\"disabled\"]") && text.contains("\"disabled\":true"), "{text}");
    assert_eq!(app.login("ben@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let enabled = app.service(Method::POST, &format!("/v1/admin/users/{ben}/enable"), &key, None).await;
    assert_eq!(enabled.body["disabled"], false);
    assert_eq!(app.login("ben@example.com", PASSWORD).await.status, StatusCode::OK);
    let revoked = app.service(Method::POST, &format!("/v1/admin/users/{ben}/revoke-sessions"), &key, None).await;
    assert_eq!(revoked.body["revoked"], 1);
    let detail = app.service(Method::GET, &format!("/v1/admin/users/{ben}"), &key, None).await;
    assert_eq!(
        (detail.body["sessions"].as_u64(), detail.body["user"]["email"].as_str()),
        (Some(0), Some("ben@example.com"))
    );
    let unknown = app.service(Method::POST, &format!("/v1/admin/users/{}/disable", Uuid::new_v4()), &key, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A known set of events, then each filter returns exactly its matches.
    let services = app.app.state.services();
    let base = services.clock.now() - time::Duration::days(3);
    let (alice, bob, ws) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let client = ClientContext::default();
    let mut known = Vec::new();
    for (n, (action, actor, target, workspace)) in [
        (AuditAction::LoginFailed, alice, "user:a", None),
        (AuditAction::LoginFailed, bob, "user:b", Some(ws)),
        (AuditAction::MemberAdded, alice, "user:b", Some(ws)),
        (AuditAction::Logout, bob, "user:a", None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut event = AuditEvent::new(action, Actor::User(actor), base + time::Duration::hours(n as i64), &client);
        event.target = Some(target.to_owned());
        event.workspace_id = workspace;
        known.push(event);
    }
    services.audit.append(&known).await.expect("append");
    let window = |path: &str| {
        let from =
            (base - time::Duration::seconds(1)).format(&time::format_description::well_known::Rfc3339).expect("time");
        let to =
            (base + time::Duration::hours(4)).format(&time::format_description::well_known::Rfc3339).expect("time");
        format!("{path}&from={}&to={}", urlencoding(&from), urlencoding(&to))
    };
    let all = app.service(Method::GET, &window("/v1/admin/audit?limit=1000"), &key, None).await;
    let all_ids = ids(&all.body["events"]);
    assert_eq!(all_ids.len(), 4, "{:?}", all.body);
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let (e0, e1, e2, e3) = (all_ids[3], all_ids[2], all_ids[1], all_ids[0]);
    for (query, expected) in [
        (format!("actor={alice}"), vec![e2, e0]),
        ("action=login.failed".to_owned(), vec![e1, e0]),
        ("target=user:b".to_owned(), vec![e2, e1]),
        (format!("workspace={ws}"), vec![e2, e1]),
        (format!("actor={bob}&action=login.failed"), vec![e1]),
        ("action=nothing.like.this".to_owned(), vec![]),
    ] {
        let page = app.service(Method::GET, &window(&format!("/v1/admin/audit?{query}")), &key, None).await;
        assert_eq!(ids(&page.body["events"]), expected, "{query}");
    }
    // A NUL in a filter (PostgreSQL refuses it in any text) is the client's mistake: 400, not 500.
    for query in ["action=%00login", "target=user%3A%01b"] {
        let refused = app.service(Method::GET, &window(&format!("/v1/admin/audit?{query}")), &key, None).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}: {:?}", refused.body);
        assert_eq!(refused.body["code"], "invalid_query");
    }
    let narrow = {
        let from = (base + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).expect("t");
        let to = (base + time::Duration::hours(3)).format(&time::format_description::well_known::Rfc3339).expect("t");
        format!("/v1/admin/audit?from={}&to={}", urlencoding(&from), urlencoding(&to))
    };
    assert_eq!(
        ids(&app.service(Method::GET, &narrow, &key, None).await.body["events"]),
        vec![e2, e1],
        "from inclusive, to exclusive"
    );
    let page = app.service(Method::GET, &window("/v1/admin/audit?limit=3"), &key, None).await;
    assert_eq!(ids(&page.body["events"]), vec![e3, e2, e1]);
    let cursor = page.body["next"].as_i64().expect("next");
    let rest = app.service(Method::GET, &window(&format!("/v1/admin/audit?limit=3&before={cursor}")), &key, None).await;
    assert_eq!((ids(&rest.body["events"]), &rest.body["next"]), (vec![e0], &Value::Null));
    let malformed = app.service(Method::GET, "/v1/admin/audit?from=yesterday", &key, None).await;
    assert_eq!(malformed.body["code"], "invalid_query");

    // The caller's own trail: events by them or about them, nobody else's.
    let amy = app.get("/v1/me/audit", Some(&cookies[0])).await;
    let actions: Vec<&str> =
        amy.body["events"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"user.signed_up") && !actions.contains(&"user.disabled"), "{actions:?}");

    // Retention: events before the cutoff go, and the purge is itself recorded.
    let cutoff = base + time::Duration::minutes(90);
    let purge = AuditEvent::new(AuditAction::AuditPurged, Actor::System, services.clock.now(), &client);
    assert_eq!(services.audit_query.purge(cutoff, purge).await.expect("purge"), 2);
    let left = services
        .audit_query
        .query(&AuditFilter { action: Some("audit.purged".into()), limit: 10, ..AuditFilter::default() })
        .await
        .expect("query");
    assert_eq!(left[0].details["deleted"], 2);
    let after = app.service(Method::GET, &window("/v1/admin/audit?limit=1000"), &key, None).await;
    assert_eq!(ids(&after.body["events"]), vec![e3, e2]);
    other.finish().await;
    app.finish().await;
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
