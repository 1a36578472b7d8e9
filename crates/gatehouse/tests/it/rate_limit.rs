//! Rate limits: enforced on login and signup with the IETF headers, exact under concurrency on
//! Redis and in process, never unlimited by accident when Redis fails, and the decision API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use http::{StatusCode, header};

use crate::support::app::{PASSWORD, TestApp};
use crate::support::proxy::{Mode, TcpProxy};
use crate::support::{TestDb, call, json, redis};

fn from_ip(app: &TestApp, ip: &str) -> axum::Router {
    app.app.router.clone().layer(MockConnectInfo(SocketAddr::new(ip.parse().expect("ip"), 40_000)))
}

async fn login(router: &axum::Router, email: &str) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let request = http::Request::post("/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::json!({ "email": email, "password": "not the passphrase" }).to_string()))
        .expect("request");
    let (status, headers, body) = call(router, request).await;
    (status, headers, json(&body))
}

#[tokio::test]
async fn login_is_limited_per_ip_with_standard_headers() {
    let app = TestApp::sqlite(&[("GATEHOUSE_RATE_LIMIT_POLICIES", "login_ip = { limit = 3, period_secs = 60 }")]).await;
    let router = from_ip(&app, "203.0.113.5");
    for attempt in 0..3 {
        let (status, headers, _) = login(&router, &format!("user{attempt}@example.com")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        let policy = headers["ratelimit-policy"].to_str().expect("ascii");
        assert!(policy.contains(r#""login_ip";q=3;w=60"#), "{policy}");
        let state = headers["ratelimit"].to_str().expect("ascii");
        assert!(state.contains(&format!(r#""login_ip";r={};t="#, 2 - attempt)), "{state}");
    }
    let (status, headers, body) = login(&router, "user9@example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let retry: u64 = headers[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=20).contains(&retry), "{retry}");
    assert!(headers["ratelimit"].to_str().expect("ascii").contains(r#""login_ip";r=0"#));

    let (other_ip, _, _) = login(&from_ip(&app, "198.51.100.7"), "user9@example.com").await;
    assert_eq!(other_ip, StatusCode::UNAUTHORIZED, "another client is not affected");
    app.finish().await;
}

#[tokio::test]
async fn login_is_limited_per_account_across_ips_and_malformed_floods_still_count() {
    let app = TestApp::sqlite(&[(
        "GATEHOUSE_RATE_LIMIT_POLICIES",
        "login_account = { limit = 2, period_secs = 900 }\nlogin_ip = { limit = 5, period_secs = 60 }",
    )])
    .await;
    app.signup("target@example.com").await;
    for (i, ip) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        assert_eq!(login(&from_ip(&app, ip), " TARGET@example.com").await.0, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (status, _, body) = login(&from_ip(&app, "192.0.2.3"), "target@example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a third IP is stopped by the account limit: {body}");
    // Even the right password waits: the limit comes before any password work.
    let right = http::Request::post("/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::json!({ "email": "target@example.com", "password": PASSWORD }).to_string()))
        .expect("request");
    assert_eq!(call(&from_ip(&app, "192.0.2.4"), right).await.0, StatusCode::TOO_MANY_REQUESTS);

    // Malformed bodies from one IP are counted by the IP limit before they are read.
    let flood = from_ip(&app, "192.0.2.9");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let request =
            http::Request::post("/v1/login").header(header::CONTENT_TYPE, "application/json").body(Body::from("{"));
        statuses.push(call(&flood, request.expect("request")).await.0);
    }
    assert_eq!(statuses[..5], [StatusCode::BAD_REQUEST; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    app.finish().await;
}

async fn decide(router: &axum::Router, key: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    let request = http::Request::post("/v1/rate-limit/check")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, body) = call(router, request).await;
    (status, json(&body))
}

/// 1,000 concurrent decisions for one key against a limit of 100, spread over `routers`.
async fn exactly_100_of_1000(routers: Vec<axum::Router>, key: &str) -> usize {
    let routers = Arc::new(routers);
    let tasks = (0..1000).map(|i| {
        let routers = routers.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            let router = &routers[i % routers.len()];
            let body = serde_json::json!({ "limit": 100, "period_secs": 3600, "key": "exact" });
            let (status, reply) = decide(router, &key, body).await;
            assert_eq!(status, StatusCode::OK, "{reply}");
            reply["allowed"].as_bool().expect("allowed")
        })
    });
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.expect("join"));
    }
    allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_decisions_are_exact() {
    let app = TestApp::sqlite(&[]).await;
    let key = app.service_key(&["rate_limit"]).await;
    assert_eq!(exactly_100_of_1000(vec![app.app.router.clone()], &key).await, 100);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_are_exact() {
    let Some((url, prefix)) = redis() else { return };
    let shared = [("GATEHOUSE_REDIS_URL", url.as_str()), ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str())];
    let first = TestApp::sqlite(&shared).await;
    let second =
        gatehouse::app::build(crate::support::config_for(&first.db.url, &shared)).await.expect("second instance");
    let key = first.service_key(&["rate_limit"]).await;
    assert_eq!(exactly_100_of_1000(vec![first.app.router.clone(), second.router.clone()], &key).await, 100);
    assert_eq!(first.get("/health", None).await.body["dependencies"]["rate_limiter"]["status"], "ok");
    first.finish().await;
}

#[tokio::test]
async fn the_decision_api_checks_scope_and_input() {
    let app = TestApp::sqlite(&[(
        "GATEHOUSE_RATE_LIMIT_POLICIES",
        "uploads = { limit = 2, period_secs = 60, key = [\"api_key\"] }",
    )])
    .await;
    let router = app.app.router.clone();
    let key = app.service_key(&["rate_limit"]).await;
    let auditor = app.service_key(&["audit"]).await;

    let (status, body) = decide(&router, &auditor, serde_json::json!({ "policy": "uploads", "key": "u1" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    let (first, _) = decide(&router, &key, serde_json::json!({ "policy": "uploads", "key": "u1" })).await;
    assert_eq!(first, StatusCode::OK);
    let (_, second) = decide(&router, &key, serde_json::json!({ "policy": "uploads", "key": "u1" })).await;
    assert_eq!(
        (second["allowed"].as_bool(), second["remaining"].as_u64(), second["limit"].as_u64()),
        (Some(true), Some(0), Some(2))
    );
    let (_, third) = decide(&router, &key, serde_json::json!({ "policy": "uploads", "key": "u1" })).await;
    assert_eq!(third["allowed"], false);
    assert!(third["retry_after_ms"].as_i64().expect("retry") > 0);
    let (_, other) = decide(&router, &key, serde_json::json!({ "policy": "uploads", "key": "u2", "cost": 2 })).await;
    assert_eq!(other["allowed"], true, "keys are independent and cost counts");

    for bad in [
        serde_json::json!({ "policy": "nope", "key": "k" }),
        serde_json::json!({ "key": "k" }),
        serde_json::json!({ "limit": 0, "period_secs": 60, "key": "k" }),
        serde_json::json!({ "limit": 5, "period_secs": 60, "key": "" }),
        serde_json::json!({ "limit": 5, "period_secs": 60, "key": "k", "cost": 0 }),
    ] {
        let (status, body) = decide(&router, &key, bad.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
            "{bad}"
        );
    }
    app.finish().await;
}

/// Redis unreachable: `fallback` keeps limits per instance (exactly, no 5xx), `open` allows,
/// `closed` refuses, and /health says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_fails_limits_follow_the_failure_mode() {
    let Some((url, prefix)) = redis() else { return };
    let (proxy, via_proxy) = TcpProxy::in_front_of(&url, 6379).await;
    proxy.set(Mode::Down);
    let db = TestDb::sqlite();
    let mut apps = Vec::new();
    for mode in ["fallback", "open", "closed"] {
        let vars = [
            ("GATEHOUSE_REDIS_URL", via_proxy.as_str()),
            ("GATEHOUSE_REDIS_KEY_PREFIX", prefix.as_str()),
            ("GATEHOUSE_RATE_LIMIT_FAILURE_MODE", mode),
        ];
        let mut config_vars = crate::support::app::FAST_HASHING.to_vec();
        config_vars.extend_from_slice(&vars);
        apps.push(gatehouse::app::build(crate::support::config_for(&db.url, &config_vars)).await.expect("app"));
    }
    let holder = TestApp::start(TestDb::sqlite(), &[]).await;
    let secret = holder.service_key(&["rate_limit"]).await;
    // The key lives in the holder's database; copy it into the shared one the three apps use.
    let key_record = holder.app.database.api_keys().api_keys().await.expect("keys").remove(0);
    let hash = gatehouse_core::api_keys::ApiKeySecret::parse(&secret).expect("secret").hash();
    apps[0].database.api_keys().create_api_key(&key_record, &hash, &[]).await.expect("copy key");

    assert_eq!(exactly_100_of_1000(vec![apps[0].router.clone()], &secret).await, 100, "fallback: exact per instance");
    let health = crate::support::call(&apps[0].router, crate::support::get("/health")).await;
    assert_eq!(json(&health.2)["dependencies"]["rate_limiter"]["status"], "degraded");

    let body = serde_json::json!({ "limit": 1, "period_secs": 3600, "key": "modes" });
    for _ in 0..3 {
        assert_eq!(decide(&apps[1].router, &secret, body.clone()).await.1["allowed"], true, "open allows");
        assert_eq!(decide(&apps[2].router, &secret, body.clone()).await.1["allowed"], false, "closed refuses");
    }
    holder.finish().await;
}
