//! Health and readiness tell the truth: live without I/O, ready only when the database answers and
//! its schema is current, and nothing secret in either.

use std::time::Duration;

use http::StatusCode;

use crate::support::proxy::{Mode, TcpProxy};
use crate::support::{TestDb, call, config_for, get, json};

#[tokio::test]
async fn sqlite_is_ready_and_health_names_the_backend_only() {
    let db = TestDb::sqlite();
    let app = gatehouse::app::build(config_for(&db.url, &[])).await.expect("app");

    let (status, _, body) = call(&app.router, get("/health/live")).await;
    assert_eq!((status, json(&body)["status"].clone()), (StatusCode::OK, "ok".into()));

    let (status, _, body) = call(&app.router, get("/health/ready")).await;
    let body = json(&body);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["migrations"]["status"], "ok");

    let (status, _, body) = call(&app.router, get("/health")).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    let body = json(&body);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["mode"], "development");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["dependencies"]["database"]["backend"], "sqlite");
    assert!(body["dependencies"]["database"]["latency_ms"].is_u64());
    assert!(!text.contains("gatehouse.db") && !text.contains(&db.url), "{text}");
}

#[tokio::test]
async fn not_ready_when_the_schema_falls_behind_the_binary() {
    let db = TestDb::sqlite();
    let app = gatehouse::app::build(config_for(&db.url, &[])).await.expect("app");
    assert_eq!(call(&app.router, get("/health/ready")).await.0, StatusCode::OK);

    // As if the database were restored from a backup taken before the latest migration.
    let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(&pool)
        .await
        .expect("forget a migration");
    pool.close().await;

    let (status, _, body) = call(&app.router, get("/health/ready")).await;
    let body = json(&body);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["migrations"]["status"], "down");
    assert!(body["detail"].as_str().expect("detail").contains("run `gatehouse migrate`"), "{body}");
}

#[tokio::test]
async fn without_migrate_on_start_an_unmigrated_database_is_refused_with_the_fix() {
    let db = TestDb::sqlite();
    let config = config_for(&db.url, &[("GATEHOUSE_DATABASE_MIGRATE_ON_START", "false")]);
    let error = gatehouse::app::build(config).await.expect_err("no schema");
    assert!(format!("{error:#}").contains("run `gatehouse migrate` first"), "{error:#}");
}

#[tokio::test]
async fn postgres_readiness_follows_the_database() {
    let Some(db) = TestDb::postgres().await else { return };
    let (proxy, via_proxy) = TcpProxy::in_front_of(&db.url, 5432).await;
    let via_proxy = url::Url::parse(&via_proxy).expect("url");
    let password_url = {
        let mut with_password = via_proxy.clone();
        with_password.set_username("postgres").expect("user");
        with_password.set_password(Some("pg-password-not-for-output")).expect("password");
        with_password
    };
    let config = config_for(password_url.as_str(), &[("GATEHOUSE_DATABASE_ACQUIRE_TIMEOUT_MS", "500")]);
    let app = gatehouse::app::build(config).await.expect("app on postgres");

    let (status, _, body) = call(&app.router, get("/health/ready")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (_, _, health) = call(&app.router, get("/health")).await;
    let health_text = String::from_utf8_lossy(&health).into_owned();
    assert_eq!(json(&health)["dependencies"]["database"]["backend"], "postgres");
    assert!(!health_text.contains("pg-password") && !health_text.contains(&proxy.addr.port().to_string()));

    let signup = http::Request::post("/v1/signup")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(r#"{"email":"alive@example.com","password":"a long passphrase here"}"#))
        .expect("request");
    let (_, headers, _) = call(&app.router, signup).await;
    let cookie = headers[http::header::SET_COOKIE].to_str().expect("ascii").split(';').next().expect("pair").to_owned();
    let csrf = crate::support::csrf_token(&app.router, &cookie).await;
    let origin = app.config.public_url.origin().ascii_serialization();

    proxy.set(Mode::Down);
    // A logout that cannot reach the database says so; it never claims a logout that did not happen.
    let logout = crate::support::with_csrf(http::Request::post("/v1/logout"), &cookie, csrf.as_deref(), &origin);
    let (status, headers, body) = call(&app.router, logout.body(axum::body::Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["code"], "database_unavailable");
    assert!(!headers.contains_key(http::header::SET_COOKIE), "the cookie is kept: the session still exists");
    let started = std::time::Instant::now();
    let (status, headers, body) = call(&app.router, get("/health/ready")).await;
    let body = json(&body);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[http::header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["code"], "not_ready");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(body["detail"].as_str().expect("detail").starts_with("database: "), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "each check is bounded by its timeout");
    let (status, _, _) = call(&app.router, get("/health/live")).await;
    assert_eq!(status, StatusCode::OK, "liveness does no dependency I/O");
    // A request that needs the database while it is down is a 503 with a stable code, not a 500.
    let signup = http::Request::post("/v1/signup")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(r#"{"email":"down@example.com","password":"a long passphrase here"}"#))
        .expect("request");
    let (status, headers, body) = call(&app.router, signup).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["code"], "database_unavailable");
    assert!(headers.contains_key(http::header::RETRY_AFTER));

    proxy.set(Mode::Pass);
    let (status, _, body) = call(&app.router, get("/health/ready")).await;
    assert_eq!(status, StatusCode::OK, "ready again once the database is back: {}", String::from_utf8_lossy(&body));
    app.database.close().await;
    db.finish().await;
}

#[tokio::test]
async fn health_shows_a_queue_that_no_worker_drains() {
    // No worker runs here, as if every instance had jobs.enabled off.
    let app = crate::support::app::TestApp::sqlite(&[]).await;
    assert_eq!(app.signup("queue@example.com").await.status, StatusCode::CREATED);
    let fresh = app.get("/health", None).await;
    assert_eq!(fresh.body["dependencies"]["jobs"]["status"], "ok", "{}", fresh.body);
    assert_eq!(fresh.body["status"], "ok");

    app.advance(gatehouse::queue::STALE_AFTER + Duration::from_secs(1));
    let stale = app.get("/health", None).await;
    assert_eq!(stale.body["dependencies"]["jobs"]["status"], "degraded", "{}", stale.body);
    assert!(stale.body["dependencies"]["jobs"]["detail"].as_str().expect("detail").contains("no worker"));
    assert_eq!(stale.body["status"], "degraded");
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK, "a slow queue does not take the instance out of rotation");
    app.finish().await;
}
