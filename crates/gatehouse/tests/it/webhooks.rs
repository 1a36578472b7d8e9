//! Webhooks end to end: endpoints managed with a `webhooks` key, events delivered by the real
//! worker to a receiver that checks every signature with the official `standardwebhooks` library,
//! failures retried on the schedule and listed with their classes.

use std::time::Duration;

use gatehouse_core::clock::Clock as _;
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::app::TestApp;
use crate::support::receiver::Receiver;
use crate::support::{PRODUCTION_EMAIL, TestDb, random_master_secret};

/// Quick polls and a schedule of 2 s waits that tests pass by moving the clock, staying well
/// inside the receivers' five-minute timestamp tolerance.
const WEBHOOK_TEST_ENV: &[(&str, &str)] =
    &[("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "20"), ("GATEHOUSE_WEBHOOKS_RETRY_SCHEDULE", "2s,2s,2s")];

async fn app_on(backend: &str, extra: &[(&str, &str)]) -> Option<TestApp> {
    let db = if backend == "postgres" { TestDb::postgres().await? } else { TestDb::sqlite() };
    let mut vars = WEBHOOK_TEST_ENV.to_vec();
    vars.extend_from_slice(extra);
    let mut app = TestApp::start(db, &vars).await;
    app.run_jobs();
    Some(app)
}

/// Creates an endpoint for `types` at `url`; returns its id and secret.
async fn endpoint(app: &TestApp, key: &str, url: &str, types: &[&str]) -> (String, String) {
    let created = app
        .service(Method::POST, "/v1/webhooks/endpoints", key, Some(json!({ "url": url, "event_types": types })))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    (created.body["id"].as_str().expect("id").to_owned(), created.body["secret"].as_str().expect("secret").to_owned())
}

/// The endpoint's deliveries once the newest has `attempts` attempts (bounded wait).
async fn deliveries_after(app: &TestApp, key: &str, endpoint: &str, attempts: usize) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let listed =
            app.service(Method::GET, &format!("/v1/webhooks/endpoints/{endpoint}/deliveries"), key, None).await;
        assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
        let count = listed.body["deliveries"][0]["attempts"].as_array().map_or(0, Vec::len);
        if count >= attempts {
            return listed.body["deliveries"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no attempt {attempts}: {:?}", listed.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the worker has scheduled the retry of `delivery`'s `attempts`th attempt (the
/// first of `deliveries`). The attempt is recorded a moment before, so a clock moved in between
/// would push the retry past the jump.
async fn retry_scheduled(app: &TestApp, deliveries: &serde_json::Value, attempts: u32) {
    let delivery = deliveries[0]["id"].as_str().expect("delivery id");
    let jobs = app.app.database.jobs();
    let started = std::time::Instant::now();
    loop {
        let ready = jobs.jobs_in(gatehouse_core::jobs::JobState::Ready, 50).await.expect("jobs");
        if ready.iter().any(|job| job.payload["delivery_id"] == delivery && job.attempts >= attempts) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "attempt {attempts} was not rescheduled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

macro_rules! on_every_database {
    ($($story:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $story() { super::$story("sqlite").await; })* }
        mod postgres { $(#[tokio::test] async fn $story() { super::$story("postgres").await; })* }
    };
}

on_every_database!(
    a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt,
    housekeeping_removes_what_expired_and_keeps_what_someone_may_act_on,
    a_fan_out_reaches_each_enabled_subscriber_once_however_often_it_runs,
);

async fn a_fan_out_reaches_each_enabled_subscriber_once_however_often_it_runs(backend: &str) {
    let db = if backend == "postgres" { TestDb::postgres().await } else { Some(TestDb::sqlite()) };
    let Some(db) = db else { return };
    // No worker: the delivery jobs stay where the fan-out put them.
    let app = TestApp::start(db, WEBHOOK_TEST_ENV).await;
    let key = app.service_key(&["webhooks"]).await;
    let url = "http://127.0.0.1:9/hook";
    let (exact, _) = endpoint(&app, &key, url, &["invoice.paid"]).await;
    let (wildcard, _) = endpoint(&app, &key, url, &["*"]).await;
    endpoint(&app, &key, url, &["invoice.voided"]).await;
    let off = json!({ "url": url, "event_types": ["*"], "enabled": false });
    let disabled = app.service(Method::POST, "/v1/webhooks/endpoints", &key, Some(off)).await;
    assert_eq!(disabled.status, StatusCode::CREATED);

    let store = app.app.database.webhooks();
    let now = app.clock.now();
    let event = gatehouse_core::webhooks::Event::new("invoice.paid", json!({ "amount": 42 }), now);
    assert_eq!(store.fan_out(&event, now).await.expect("fan out"), 2, "the exact and the wildcard subscriber");
    assert_eq!(store.fan_out(&event, now).await.expect("again"), 0, "a second run creates nothing");

    let jobs = app.app.database.jobs().jobs_in(gatehouse_core::jobs::JobState::Ready, 50).await.expect("jobs");
    let deliveries: Vec<&serde_json::Value> =
        jobs.iter().filter(|job| job.kind == "webhook.deliver").map(|job| &job.payload["delivery_id"]).collect();
    assert_eq!(deliveries.len(), 2, "{jobs:?}");
    for id in [exact, wildcard] {
        let listed = app.service(Method::GET, &format!("/v1/webhooks/endpoints/{id}/deliveries"), &key, None).await;
        let listed = listed.body["deliveries"].as_array().expect("deliveries").clone();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(deliveries.contains(&&listed[0]["id"]), "each delivery has its job");
    }
    app.finish().await;
}

async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(backend: &str) {
    let receiver = Receiver::start();
    let Some(app) = app_on(backend, &[]).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    let (id, secret) = endpoint(&app, &key, &receiver.url("flaky"), &["invoice.paid"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.configure("flaky", json!({ "secret": secret, "fail": 2, "status": 503 })).await;

    let published = app
        .service(
            Method::POST,
            "/v1/webhooks/events",
            &key,
            Some(json!({ "type": "invoice.paid", "payload": { "amount": 42 } })),
        )
        .await;
    assert_eq!(published.status, StatusCode::ACCEPTED, "{:?}", published.body);
    let event_id = published.body["id"].as_str().expect("event id").to_owned();

    for attempt in 1..=2_u32 {
        let deliveries = deliveries_after(&app, &key, &id, attempt as usize).await;
        retry_scheduled(&app, &deliveries, attempt).await;
        app.advance(Duration::from_secs(3));
    }
    let deliveries = deliveries_after(&app, &key, &id, 3).await;
    let records = receiver.wait_for("flaky", 3).await;
    assert_eq!(records.len(), 3, "{records:?}");
    for record in &records {
        assert_eq!(record["verified"], true, "standardwebhooks verified every attempt: {record}");
        assert_eq!(record["id"], event_id.as_str(), "one webhook-id across attempts");
        assert_eq!(
            record["payload"],
            json!({ "type": "invoice.paid", "timestamp": record["payload"]["timestamp"], "data": { "amount": 42 } })
        );
    }
    assert_eq!(records.iter().map(|r| r["answered"].as_u64().expect("status")).collect::<Vec<_>>(), [503, 503, 200]);
    assert_ne!(records[0]["signature"], records[1]["signature"], "each attempt is signed afresh");
    assert_ne!(records[0]["timestamp"], records[2]["timestamp"]);

    assert_eq!(deliveries.as_array().expect("list").len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["event_type"], "invoice.paid");
    let attempts = delivery["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3);
    for failed in &attempts[..2] {
        assert_eq!(failed["status_code"], 503);
        assert_eq!(failed["error_class"], "http_status");
        assert!(failed["response_excerpt"].as_str().expect("excerpt").contains("says no"), "{failed}");
        assert!(failed["latency_ms"].is_u64());
    }
    assert_eq!(attempts[2]["status_code"], 200);
    assert!(attempts[2]["error_class"].is_null());
    app.finish().await;
}

#[tokio::test]
async fn endpoints_are_managed_with_the_webhooks_scope() {
    let app = TestApp::sqlite(&[]).await;
    let key = app.service_key(&["webhooks"]).await;
    let auditor = app.service_key(&["audit"]).await;
    let body = json!({ "url": "https://app.example.com/hooks", "event_types": ["user.created", "invoice.paid"] });
    let refused = app.service(Method::POST, "/v1/webhooks/endpoints", &auditor, Some(body.clone())).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    let created = app.service(Method::POST, "/v1/webhooks/endpoints", &key, Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["enabled"], true);
    assert_eq!(created.body["event_types"], json!(["invoice.paid", "user.created"]));
    let id = created.body["id"].as_str().expect("id");
    let path = format!("/v1/webhooks/endpoints/{id}");

    let shown = app.service(Method::GET, &path, &key, None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.get("secret").is_none(), "the secret is shown once: {:?}", shown.body);
    let patched =
        app.service(Method::PATCH, &path, &key, Some(json!({ "enabled": false, "event_types": ["*"] }))).await;
    assert_eq!((patched.body["enabled"].clone(), patched.body["event_types"].clone()), (json!(false), json!(["*"])));
    let listed = app.service(Method::GET, "/v1/webhooks/endpoints", &key, None).await;
    assert_eq!(listed.body["endpoints"].as_array().map(Vec::len), Some(1));

    let rotated = app.service(Method::POST, &format!("{path}/rotate-secret"), &key, None).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_ne!(rotated.body["secret"], created.body["secret"]);
    assert!(rotated.body["previous_secret_expires_at"].is_string());

    let bad = app
        .service(
            Method::POST,
            "/v1/webhooks/endpoints",
            &key,
            Some(json!({ "url": "ftp://x", "event_types": ["Nope"] })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> =
        bad.body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["url", "event_types[0]"]);
    let wildcard_event =
        app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "*", "payload": {} }))).await;
    assert_eq!(wildcard_event.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.service(Method::DELETE, &path, &key, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.service(Method::GET, &path, &key, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.service(Method::DELETE, &path, &key, None).await.status, StatusCode::NOT_FOUND);
    let retry = app.service(Method::POST, &format!("/v1/webhooks/deliveries/{id}/retry"), &key, None).await;
    assert_eq!(retry.status, StatusCode::NOT_FOUND);
    app.finish().await;
}

#[tokio::test]
async fn a_fanned_out_event_is_delivered_without_waiting_for_the_poll() {
    // On SQLite nothing but this instance wakes its worker. With a ten-minute poll, the delivery
    // arrives within the receiver's wait only if the fan-out job wakes the worker for it.
    let receiver = Receiver::start();
    let Some(app) = app_on("sqlite", &[("GATEHOUSE_JOBS_POLL_INTERVAL_MS", "600000")]).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    let (_, secret) = endpoint(&app, &key, &receiver.url("prompt"), &["a.b"]).await;
    receiver.configure("prompt", json!({ "secret": secret })).await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": 1 }))).await;
    assert_eq!(receiver.wait_for("prompt", 1).await[0]["verified"], true);
    app.finish().await;
}

#[tokio::test]
async fn a_rotated_secret_keeps_signing_beside_the_new_one_during_the_grace_period() {
    let receiver = Receiver::start();
    let Some(app) = app_on("sqlite", &[]).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    let (old_id, old_secret) = endpoint(&app, &key, &receiver.url("old"), &["*"]).await;
    let rotated =
        app.service(Method::POST, &format!("/v1/webhooks/endpoints/{old_id}/rotate-secret"), &key, None).await;
    let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    // Two receivers behind one endpoint would be odd; instead, the one receiver checks with the
    // old secret first, then the new one.
    receiver.configure("old", json!({ "secret": old_secret })).await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": 1 }))).await;
    assert_eq!(receiver.wait_for("old", 1).await[0]["verified"], true, "the old secret still verifies");
    receiver.configure("old", json!({ "secret": new_secret })).await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": 2 }))).await;
    let records = receiver.wait_for("old", 2).await;
    assert_eq!(records[1]["verified"], true, "the new secret verifies");
    assert_eq!(records[1]["signature"].as_str().expect("signature").split(' ').count(), 2, "both sign");

    app.advance(Duration::from_secs(86_401));
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": 3 }))).await;
    let records = receiver.wait_for("old", 3).await;
    assert_eq!(records[2]["signature"].as_str().expect("signature").split(' ').count(), 1, "the grace period ended");
    app.finish().await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_network_failures_have_their_classes() {
    let receiver = Receiver::start();
    let Some(app) = app_on("sqlite", &[("GATEHOUSE_WEBHOOKS_TIMEOUT_SECS", "1")]).await else { return };
    let key = app.service_key(&["webhooks"]).await;

    let (gone, secret) = endpoint(&app, &key, &receiver.url("gone"), &["a.b"]).await;
    receiver.configure("gone", json!({ "secret": secret, "fail": 1, "status": 410 })).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let (refused, _) = endpoint(&app, &key, &format!("http://{closed}/nobody-listens"), &["a.b"]).await;
    let (slow, secret) = endpoint(&app, &key, &receiver.url("slow"), &["a.b"]).await;
    receiver.configure("slow", json!({ "secret": secret, "hang": true })).await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": {} }))).await;

    let gone_deliveries = deliveries_after(&app, &key, &gone, 1).await;
    assert_eq!(gone_deliveries[0]["attempts"][0]["status_code"], 410);
    assert_eq!(gone_deliveries[0]["status"], "failed", "{gone_deliveries}");
    let shown = app.service(Method::GET, &format!("/v1/webhooks/endpoints/{gone}"), &key, None).await;
    assert_eq!(shown.body["enabled"], false);
    assert!(shown.body["disabled_reason"].as_str().expect("reason").contains("410"));
    let audit: Vec<String> =
        app.app.state.services().audit.recent(20).await.expect("audit").into_iter().map(|e| e.action).collect();
    assert!(audit.contains(&"webhook.endpoint_disabled".to_owned()), "{audit:?}");

    let connect = deliveries_after(&app, &key, &refused, 1).await;
    assert_eq!(connect[0]["attempts"][0]["error_class"], "connect");
    assert_eq!(connect[0]["status"], "pending", "retried on the schedule");
    // Disabled before its retry, the delivery fails without another attempt.
    retry_scheduled(&app, &connect, 1).await;
    let path = format!("/v1/webhooks/endpoints/{refused}");
    assert_eq!(app.service(Method::PATCH, &path, &key, Some(json!({ "enabled": false }))).await.status, StatusCode::OK);
    app.advance(Duration::from_secs(3));
    let started = std::time::Instant::now();
    loop {
        let listed = app.service(Method::GET, &format!("{path}/deliveries"), &key, None).await;
        if listed.body["deliveries"][0]["status"] == "failed" {
            assert_eq!(listed.body["deliveries"][0]["attempts"].as_array().map(Vec::len), Some(1));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", listed.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let timeout = deliveries_after(&app, &key, &slow, 1).await;
    assert_eq!(timeout[0]["attempts"][0]["error_class"], "timeout");

    // Re-enabled, the endpoint gets the retried delivery.
    let path = format!("/v1/webhooks/endpoints/{gone}");
    let enabled = app.service(Method::PATCH, &path, &key, Some(json!({ "enabled": true }))).await;
    assert!(enabled.body["disabled_reason"].is_null());
    let delivery = gone_deliveries[0]["id"].as_str().expect("delivery id");
    let retried = app.service(Method::POST, &format!("/v1/webhooks/deliveries/{delivery}/retry"), &key, None).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED);
    let after = deliveries_after(&app, &key, &gone, 2).await;
    assert_eq!(after[0]["status"], "succeeded", "{after}");
    app.finish().await;
}

#[tokio::test]
async fn production_refuses_private_destinations_on_the_resolved_address() {
    let receiver = Receiver::start();
    let secret = random_master_secret();
    let mut vars = vec![
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
        // Production refuses the test suite's cheap hashing; no password is hashed here anyway.
        ("GATEHOUSE_PASSWORD_ARGON2_MEMORY_KIB", "19456"),
        ("GATEHOUSE_PASSWORD_ARGON2_ITERATIONS", "2"),
    ];
    vars.extend_from_slice(PRODUCTION_EMAIL);
    let Some(app) = app_on("sqlite", &vars).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    // By name (checked on what `localhost` resolves to) and by address.
    let by_name = receiver.url("private").replace("127.0.0.1", "localhost");
    let (named, secret) = endpoint(&app, &key, &by_name, &["a.b"]).await;
    receiver.configure("private", json!({ "secret": secret })).await;
    let (literal, _) = endpoint(&app, &key, &receiver.url("private"), &["a.b"]).await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": {} }))).await;
    for id in [named, literal] {
        let deliveries = deliveries_after(&app, &key, &id, 1).await;
        assert_eq!(deliveries[0]["attempts"][0]["error_class"], "refused", "{deliveries}");
    }
    assert!(receiver.records("private").await.is_empty(), "nothing reached the private address");
    app.finish().await;
}

#[tokio::test]
async fn gatehouse_reports_its_own_events_with_the_changes_that_cause_them() {
    let receiver = Receiver::start();
    let api = crate::support::mail::EmailApi::start().await;
    let Some(app) = app_on("sqlite", &api.env()).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    let (_, secret) = endpoint(&app, &key, &receiver.url("all"), &["*"]).await;
    receiver.configure("all", json!({ "secret": secret })).await;

    let signup = app.signup("ada@example.com").await;
    assert_eq!(signup.status, StatusCode::CREATED);
    // A refused signup commits nothing, so it reports nothing either.
    assert_eq!(app.signup("ADA@example.com").await.status, StatusCode::CONFLICT);
    let token = api.next().await.token();
    assert_eq!(app.post_json("/v1/email/verify", None, json!({ "token": token })).await.status, StatusCode::OK);
    let login = app.login("ada@example.com", crate::support::app::PASSWORD).await.cookie();
    let logout = app.signed(http::Request::post("/v1/logout"), &login).await;
    assert_eq!(app.send(logout.body(axum::body::Body::empty()).expect("request")).await.status, StatusCode::NO_CONTENT);
    app.post_json("/v1/password/forgot", None, json!({ "email": "ada@example.com" })).await;
    let reset = api.next().await.token();
    let changed =
        app.post_json("/v1/password/reset", None, json!({ "token": reset, "password": "a brand new passphrase" }));
    assert_eq!(changed.await.status, StatusCode::NO_CONTENT);

    let records = receiver.wait_for("all", 7).await;
    assert!(records.iter().all(|r| r["verified"] == true), "{records:?}");
    let mut types: Vec<&str> = records.iter().filter_map(|r| r["payload"]["type"].as_str()).collect();
    types.sort_unstable();
    // The reset found the address verified already, so it reports no change to it.
    let expected = [
        "email.verified",
        "password.changed",
        "session.created",
        "session.created",
        "session.revoked",
        "user.created",
        "user.updated",
    ];
    assert_eq!(types, expected);
    let user_id = signup.body["user"]["id"].clone();
    let created = records.iter().find(|r| r["payload"]["type"] == "user.created").expect("user.created");
    assert_eq!(created["payload"]["data"]["user"]["id"], user_id);
    assert_eq!(created["payload"]["data"]["user"]["email"], "ada@example.com");
    assert_eq!(created["payload"]["data"]["user"]["email_verified"], false);
    let updated = records.iter().find(|r| r["payload"]["type"] == "user.updated").expect("user.updated");
    assert_eq!(updated["payload"]["data"]["user"]["id"], user_id);
    assert_eq!(updated["payload"]["data"]["user"]["email_verified"], true, "the user as it is now");
    assert_eq!(updated["payload"]["data"]["changed"], json!(["email_verified"]));
    let revoked = records.iter().find(|r| r["payload"]["type"] == "session.revoked").expect("session.revoked");
    assert_eq!(revoked["payload"]["data"]["reason"], "logout");
    assert!(api.quiet_for(Duration::from_millis(100)).await);
    assert_eq!(receiver.records("all").await.len(), 7, "no event twice, none for the refused signup");

    // Following a sign-in link also proves the address, and says so.
    app.signup("bob@example.com").await;
    api.next().await; // bob's verification email, left unread
    app.post_json("/v1/magic-link", None, json!({ "email": "bob@example.com" })).await;
    let magic = api.next().await.token();
    assert_eq!(app.post_json("/v1/magic-link/verify", None, json!({ "token": magic })).await.status, StatusCode::OK);
    let records = receiver.wait_for("all", 12).await;
    let mut bobs: Vec<&str> = records[7..].iter().filter_map(|r| r["payload"]["type"].as_str()).collect();
    bobs.sort_unstable();
    assert_eq!(bobs, ["email.verified", "session.created", "session.created", "user.created", "user.updated"]);
    app.finish().await;
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled_and_tls_failures_have_their_class() {
    let receiver = Receiver::start();
    let extra = [("GATEHOUSE_WEBHOOKS_DISABLE_AFTER_SECS", "60")];
    let Some(app) = app_on("sqlite", &extra).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let (failing, _) = endpoint(&app, &key, &format!("http://{closed}/down"), &["a.b"]).await;
    // TLS spoken to a plain-HTTP server fails in the handshake.
    let tls_url = receiver.url("tls").replace("http://", "https://");
    let (tls, _) = endpoint(&app, &key, &tls_url, &["a.b"]).await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": {} }))).await;

    let tls_attempt = deliveries_after(&app, &key, &tls, 1).await[0]["attempts"][0].clone();
    assert_eq!(tls_attempt["error_class"], "tls", "{tls_attempt}");
    let streak = deliveries_after(&app, &key, &failing, 1).await;
    retry_scheduled(&app, &streak, 1).await;
    let shown = app.service(Method::GET, &format!("/v1/webhooks/endpoints/{failing}"), &key, None).await;
    assert!(shown.body["failing_since"].is_string(), "the streak starts: {:?}", shown.body);
    app.advance(Duration::from_secs(61));
    let deliveries = deliveries_after(&app, &key, &failing, 2).await;
    assert_eq!(deliveries[0]["status"], "failed");
    let shown = app.service(Method::GET, &format!("/v1/webhooks/endpoints/{failing}"), &key, None).await;
    assert_eq!(shown.body["enabled"], false);
    assert!(shown.body["disabled_reason"].as_str().expect("reason").contains("failing for over 60 s"));
    app.finish().await;
}

async fn housekeeping_removes_what_expired_and_keeps_what_someone_may_act_on(backend: &str) {
    let receiver = Receiver::start();
    let api = crate::support::mail::EmailApi::start().await;
    let Some(app) = app_on(backend, &api.env()).await else { return };
    let key = app.service_key(&["webhooks"]).await;
    let (id, secret) = endpoint(&app, &key, &receiver.url("kept"), &["a.b"]).await;
    receiver.configure("kept", json!({ "secret": secret })).await;
    app.signup("old@example.com").await; // a session, a verification link, its email, an event
    api.next().await;
    app.service(Method::POST, "/v1/webhooks/events", &key, Some(json!({ "type": "a.b", "payload": {} }))).await;
    deliveries_after(&app, &key, &id, 1).await;
    api.answer(&[422]); // this email's job dies, and stays
    app.post_json("/v1/magic-link", None, json!({ "email": "old@example.com" })).await;
    assert_eq!(api.next().await.status, 422);
    let jobs = app.app.database.jobs();
    let started = std::time::Instant::now();
    while jobs.jobs_in(gatehouse_core::jobs::JobState::Dead, 10).await.expect("jobs").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the job did not die");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The worker records a completion after the receiver has answered; wait for every job to be
    // finished before moving the clock, or a late completion is stamped with the future time.
    loop {
        let stats = jobs.stats(app.clock.now()).await.expect("stats");
        let settled = stats.counts.iter().all(|(_, state, _)| {
            matches!(state, gatehouse_core::jobs::JobState::Succeeded | gatehouse_core::jobs::JobState::Dead)
        });
        if settled {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the queue did not settle: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = app.app.database.housekeeping();
    let clock = app.clock.as_ref();
    let week = Duration::from_secs(7 * 86_400);
    let nothing_yet = gatehouse::housekeeping::pass(store.as_ref(), clock, week).await.expect("pass");
    assert_eq!(nothing_yet, gatehouse_core::store::Removed::default(), "nothing has expired yet");

    app.advance(week + Duration::from_secs(3600));
    let removed = gatehouse::housekeeping::pass(store.as_ref(), clock, week).await.expect("pass");
    assert!(removed.jobs >= 4, "email, fan-outs and the delivery job: {removed:?}");
    assert_eq!(removed.webhook_deliveries, 1);
    assert_eq!(removed.sessions, 1, "idle for over a week");
    assert_eq!(removed.email_links, 2, "the verification and the sign-in link");
    assert_eq!(jobs.jobs_in(gatehouse_core::jobs::JobState::Dead, 10).await.expect("jobs").len(), 1, "dead jobs stay");
    let stats = jobs.stats(app.clock.now()).await.expect("stats");
    assert!(stats.counts.iter().all(|(_, state, _)| *state != gatehouse_core::jobs::JobState::Succeeded), "{stats:?}");
    app.finish().await;
}
