//! The route table and the middleware every route passes through.
//!
//! Layers, outermost first: request id, client IP, telemetry (metrics and the log line), security
//! headers, CORS, panic catching, the request timeout, the body limit. Unknown routes and methods
//! fall back to problem+json 404 and 405.

use std::any::Any;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_core::mode::RunMode;
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{client_ip, health, metrics, request_id, telemetry};

/// The public API router, with every layer applied.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health", get(health::full));
    if state.settings().metrics_on_main_listener {
        routes = routes.route("/metrics", get(metrics::render));
    }
    with_layers(routes, state)
}

/// The router for a separate metrics listener (`server.metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    with_layers(Router::new().route("/metrics", get(metrics::render)), state)
}

/// Applies the fallbacks and the full middleware stack to a set of routes.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let settings = state.settings().clone();
    let mut router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(CatchPanicLayer::custom(panic_response));
    if !settings.cors_allowed_origins.is_empty() {
        router = router.layer(cors(settings.cors_allowed_origins.clone()));
    }
    router = with_security_headers(router, settings.mode)
        .layer(middleware::from_fn(telemetry::middleware))
        .layer(middleware::from_fn_with_state(state.clone(), client_ip::middleware))
        .layer(middleware::from_fn(request_id::middleware));
    router.with_state(state)
}

fn with_security_headers(router: Router<AppState>, mode: RunMode) -> Router<AppState> {
    let mut router = router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if mode == RunMode::Production {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    router
}

fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static(request_id::REQUEST_ID_HEADER),
        ])
        .expose_headers([HeaderName::from_static(request_id::REQUEST_ID_HEADER), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.settings().request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::Timeout { timeout_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX) }.into_response()
        }
    }
}

fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response {
    // The payload may hold request data; it is not logged. The panic hook already reported where.
    ApiError::Internal("a handler panicked".to_owned()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    //! The shared middleware and the JSON extractor, exercised through `with_layers` with routes
    //! that exist only here: one that takes a JSON body, one that is slow, one that panics.

    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use axum::body::Body;
    use axum::routing::post;
    use gatehouse_core::store::{Backend, DatabaseProbe, PoolStats, SchemaStatus, StoreError};
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;
    use crate::extract::ApiJson;
    use crate::metrics::MetricsRenderer;
    use crate::state::HttpSettings;

    /// These routes never touch the database; the probe only satisfies the state's type.
    #[derive(Debug)]
    struct UnusedDatabase;

    #[async_trait]
    impl DatabaseProbe for UnusedDatabase {
        fn backend(&self) -> Backend {
            Backend::Sqlite
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("not used in these tests".into()))
        }
        async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
            Err(StoreError::Unavailable("not used in these tests".into()))
        }
        fn pool_stats(&self) -> PoolStats {
            PoolStats { size: 0, idle: 0 }
        }
    }

    #[derive(Debug)]
    struct NoMetrics;

    impl MetricsRenderer for NoMetrics {
        fn render(&self) -> String {
            String::new()
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Signup {
        email: String,
        #[allow(dead_code)]
        age: u8,
    }

    async fn echo(ApiJson(body): ApiJson<Signup>) -> String {
        body.email
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "finally"
    }

    async fn boom() -> &'static str {
        panic!("handler bug")
    }

    fn app() -> Router {
        let settings = HttpSettings {
            mode: RunMode::Development,
            version: "test",
            body_limit_bytes: 1024,
            request_timeout: Duration::from_secs(5),
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            metrics_on_main_listener: true,
        };
        let state = AppState::new(settings, Arc::new(UnusedDatabase), Arc::new(NoMetrics));
        let routes = Router::new().route("/echo", post(echo)).route("/slow", get(slow)).route("/boom", get(boom));
        with_layers(routes, state)
    }

    async fn send(request: Request<Body>) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response = app().oneshot(request).await.expect("infallible");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or(serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, body)
    }

    fn post_json(body: impl Into<Body>, content_type: Option<&str>) -> Request<Body> {
        let mut request = Request::post("/echo");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.body(body.into()).expect("request")
    }

    async fn assert_problem(request: Request<Body>, status: StatusCode, code: &str) -> serde_json::Value {
        let (got, headers, body) = send(request).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status.as_u16());
        assert!(body["request_id"].is_string());
        body
    }

    #[tokio::test]
    async fn a_well_formed_body_reaches_the_handler() {
        let (status, _, body) =
            send(post_json(r#"{"email":"a@example.com","age":30}"#, Some("application/json"))).await;
        assert_eq!((status, body), (StatusCode::OK, serde_json::Value::String("a@example.com".into())));
    }

    #[tokio::test]
    async fn malformed_json_is_400() {
        let body = assert_problem(
            post_json(r#"{"email": "a@example.com",,}"#, Some("application/json")),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        )
        .await;
        assert!(body["detail"].as_str().expect("detail").contains("not valid JSON"));
    }

    #[tokio::test]
    async fn a_missing_or_wrong_content_type_is_415() {
        let json = r#"{"email":"a@example.com","age":30}"#;
        assert_problem(
            post_json(json, Some("text/plain")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert_problem(post_json(json, None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413() {
        let big = format!(r#"{{"email":"{}","age":1}}"#, "a".repeat(2048));
        let body =
            assert_problem(post_json(big, Some("application/json")), StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                .await;
        assert!(body["detail"].as_str().expect("detail").contains("1024 bytes"));
    }

    #[tokio::test]
    async fn wrong_types_missing_and_unknown_fields_are_422() {
        for json in
            [r#"{"email":"a@example.com","age":"old"}"#, r#"{"age":3}"#, r#"{"email":"a","age":3,"admin":true}"#]
        {
            assert_problem(post_json(json, Some("application/json")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
                .await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_requests_are_cut_off_with_503() {
        let response = assert_problem(
            Request::get("/slow").body(Body::empty()).expect("request"),
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
        )
        .await;
        assert!(response["detail"].as_str().expect("detail").contains("5000 ms"));
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_problem_that_reveals_nothing() {
        let body = assert_problem(
            Request::get("/boom").body(Body::empty()).expect("request"),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
        )
        .await;
        assert!(!body.to_string().contains("handler bug"));
    }
}
