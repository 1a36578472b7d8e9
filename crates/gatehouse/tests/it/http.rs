//! The HTTP surface every route shares: problem+json errors, request ids, security headers, CORS.

use axum::body::Body;
use http::{StatusCode, header};

use crate::support::{TestDb, call, config_for, get, json, random_master_secret};

async fn app(extra: &[(&str, &str)]) -> (gatehouse::app::App, TestDb) {
    let db = TestDb::sqlite();
    let app = gatehouse::app::build(config_for(&db.url, extra)).await.expect("app builds");
    (app, db)
}

#[tokio::test]
async fn unknown_routes_are_problem_json_404() {
    let (app, _db) = app(&[]).await;
    let (status, headers, body) = call(&app.router, get("/v1/no/such/route?token=abc")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let body = json(&body);
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], "urn:gatehouse:problem:not_found");
    assert_eq!(body["request_id"], headers["x-request-id"].to_str().expect("ascii"));
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let (app, _db) = app(&[]).await;
    let request = http::Request::delete("/health/ready").body(Body::from("{}")).expect("request");
    let (status, headers, body) = call(&app.router, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(&body)["code"], "method_not_allowed");
    assert!(headers[header::ALLOW].to_str().expect("ascii").contains("GET"));
}

#[tokio::test]
async fn request_ids_are_echoed_when_safe_and_replaced_when_not() {
    let (app, _db) = app(&[]).await;
    let with_id = http::Request::get("/nope").header("x-request-id", "trace-abc_123").body(Body::empty()).expect("req");
    let (_, headers, body) = call(&app.router, with_id).await;
    assert_eq!(headers["x-request-id"], "trace-abc_123");
    assert_eq!(json(&body)["request_id"], "trace-abc_123");

    let hostile =
        http::Request::get("/nope").header("x-request-id", "evil id\" injected").body(Body::empty()).expect("req");
    let (_, headers, _) = call(&app.router, hostile).await;
    let replaced = headers["x-request-id"].to_str().expect("ascii");
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
}

#[tokio::test]
async fn security_headers_are_on_every_response_and_hsts_only_in_production() {
    let (dev, _db) = app(&[]).await;
    for path in ["/health/live", "/missing"] {
        let (_, headers, _) = call(&dev.router, get(path)).await;
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers["content-security-policy"].to_str().expect("ascii").contains("frame-ancestors 'none'"));
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }
    let secret = random_master_secret();
    let (prod, _db2) = app(&[
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", &secret),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
    ])
    .await;
    let (_, headers, _) = call(&prod.router, get("/health/live")).await;
    assert!(headers[header::STRICT_TRANSPORT_SECURITY].to_str().expect("ascii").starts_with("max-age="));
}

#[tokio::test]
async fn cors_answers_only_allowlisted_origins_with_credentials() {
    let (app, _db) = app(&[("GATEHOUSE_SERVER_CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &str| {
        http::Request::options("/health")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .expect("request")
    };
    let (_, allowed, _) = call(&app.router, preflight("https://app.example.com")).await;
    assert_eq!(allowed[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    assert_eq!(allowed[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

    let (_, refused, _) = call(&app.router, preflight("https://evil.example.net")).await;
    assert!(!refused.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn no_cors_headers_without_an_allowlist() {
    let (app, _db) = app(&[]).await;
    let request =
        http::Request::get("/health/live").header(header::ORIGIN, "https://app.example.com").body(Body::empty());
    let (status, headers, _) = call(&app.router, request.expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}
