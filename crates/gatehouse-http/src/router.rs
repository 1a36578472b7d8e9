//! The route table and the middleware every route passes through.
//!
//! Layers, outermost first: request id, client IP, telemetry (metrics and the log line), security
//! headers, CORS, CSRF checks, panic catching, the request timeout, the body limit. Unknown routes and methods
//! fall back to problem+json 404 and 405.

use std::any::Any;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use gatehouse_core::mode::RunMode;
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{
    accounts, client_ip, csrf, health, metrics, rate_limit, request_id, service_keys, sessions, telemetry, tokens,
};

/// The public API router, with every layer applied.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health", get(health::full))
        .route("/v1/signup", post(accounts::signup))
        .route("/v1/login", post(accounts::login))
        .route("/v1/logout", post(accounts::logout))
        .route("/v1/session", get(sessions::whoami))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{id}", delete(sessions::revoke))
        .route("/v1/sessions/revoke-others", post(sessions::revoke_others))
        .route("/v1/token", post(tokens::issue))
        .route("/.well-known/jwks.json", get(tokens::jwks))
        .route("/v1/audit-events", get(service_keys::audit_events))
        .route("/v1/rate-limit/check", post(rate_limit::decide))
        .route("/v1/csrf", get(csrf::token));
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
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::middleware));
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
