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
    let mut vars = vec![
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_MASTER_SECRET", secret.as_str()),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
    ];
    vars.extend_from_slice(crate::support::PRODUCTION_EMAIL);
    let (prod, _db2) = app(&vars).await;
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

fn signup_request(body: impl Into<Body>, content_type: Option<&str>) -> http::Request<Body> {
    let mut request = http::Request::post("/v1/signup");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(body.into()).expect("request")
}

async fn assert_problem(
    router: &axum::Router,
    request: http::Request<Body>,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    let (got, headers, body) = call(router, request).await;
    let body = json(&body);
    assert_eq!(got, status, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["request_id"].is_string());
    body
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, _db) = app(&[]).await;
    let body = assert_problem(
        &app.router,
        signup_request(r#"{"email": "a@example.com",,}"#, Some("application/json")),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    assert!(body["detail"].as_str().expect("detail").contains("not valid JSON"));
}

#[tokio::test]
async fn a_missing_or_wrong_content_type_is_415() {
    let (app, _db) = app(&[]).await;
    let json_text = r#"{"email":"a@example.com","password":"a long passphrase"}"#;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        assert_problem(
            &app.router,
            signup_request(json_text, content_type),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let (app, _db) = app(&[("GATEHOUSE_SERVER_BODY_LIMIT_BYTES", "1024")]).await;
    let big = format!(r#"{{"email":"a@example.com","password":"{}"}}"#, "p".repeat(2048));
    let body = assert_problem(
        &app.router,
        signup_request(big, Some("application/json")),
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    )
    .await;
    assert!(body["detail"].as_str().expect("detail").contains("1024 bytes"));
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_422() {
    let (app, _db) = app(&[]).await;
    for json_text in [r#"{"email":"a@example.com","password":12345678}"#, r#"{"password":"a long passphrase"}"#, "[]"] {
        assert_problem(
            &app.router,
            signup_request(json_text, Some("application/json")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        )
        .await;
    }
}

async fn boom() -> &'static str {
    panic!("handler bug with a secret-ish detail")
}

#[tokio::test]
async fn slow_requests_are_cut_off_and_panics_are_a_500_that_reveals_nothing() {
    let (app, _db) = app(&[("GATEHOUSE_SERVER_REQUEST_TIMEOUT_SECS", "1")]).await;
    let routes = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                "finally"
            }),
        )
        .route("/boom", axum::routing::get(boom));
    let router = gatehouse_http::with_layers(routes, app.state.clone());

    let slow = assert_problem(&router, get("/slow"), StatusCode::SERVICE_UNAVAILABLE, "timeout").await;
    assert!(slow["detail"].as_str().expect("detail").contains("1000 ms"));
    let boom = assert_problem(&router, get("/boom"), StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
    assert!(!boom.to_string().contains("secret-ish"));
}
