//! The route table and the middleware every route passes through.
//!
//! `routes()` is the one list of routes; the OpenAPI document (`openapi.rs`) is generated from it.
//!
//! Layers, outermost first: the edge (request id, client IP, metrics and the log line, security
//! headers), CORS, the guard (the request timeout around CSRF checks and the handler), panic
//! catching, the body limit. Unknown routes and methods fall back to problem+json 404 and 405.

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
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::Observation;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{
    accounts, admin, client_ip, csrf, email, forward_auth, health, identities, metrics, mfa, oauth, openapi, passkeys,
    privacy, profile, rate_limit, request_id, service_keys, sessions, tokens, vault, webhooks, workspaces,
};

/// The route table: every route, each registered from its handler's `#[utoipa::path]` attribute,
/// so the router and the API document come from this one list. `metrics_here` adds `/metrics`
/// (when it is served on the main listener).
pub fn routes(metrics_here: bool) -> OpenApiRouter<AppState> {
    let mut routes = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::full))
        .routes(routes!(openapi::document_route))
        .routes(routes!(accounts::signup))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(mfa::complete))
        .routes(routes!(mfa::reauthenticate))
        .routes(routes!(mfa::factors))
        .routes(routes!(mfa::enrol, mfa::disable))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::recovery_codes))
        .routes(routes!(passkeys::register_start))
        .routes(routes!(passkeys::register_finish))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::rename, passkeys::delete))
        .routes(routes!(passkeys::authenticate_start))
        .routes(routes!(passkeys::authenticate_finish))
        .routes(routes!(email::request_verification))
        .routes(routes!(email::verify))
        .routes(routes!(email::forgot_password))
        .routes(routes!(email::reset_password))
        .routes(routes!(email::request_magic_link))
        .routes(routes!(email::redeem_magic_link))
        .routes(routes!(profile::update, privacy::erase))
        .routes(routes!(profile::change_password))
        .routes(routes!(profile::request_email_change, profile::email_change, profile::cancel_email_change))
        .routes(routes!(profile::confirm_email_change))
        .routes(routes!(profile::undo_email_change))
        .routes(routes!(sessions::whoami))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::revoke))
        .routes(routes!(sessions::revoke_others))
        .routes(routes!(csrf::token))
        .routes(routes!(tokens::issue))
        .routes(routes!(tokens::jwks))
        .routes(routes!(service_keys::audit_events))
        .routes(routes!(rate_limit::decide))
        .routes(routes!(webhooks::create_endpoint, webhooks::list_endpoints))
        .routes(routes!(webhooks::endpoint, webhooks::update_endpoint, webhooks::delete_endpoint))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(webhooks::publish))
        .routes(routes!(oauth::providers))
        .routes(routes!(oauth::start))
        .routes(routes!(oauth::callback))
        .routes(routes!(identities::list))
        .routes(routes!(identities::start_link, identities::unlink))
        .routes(routes!(vault::token))
        .routes(routes!(vault::connections))
        .routes(routes!(vault::disconnect))
        .routes(routes!(forward_auth::decide))
        .routes(routes!(workspaces::switch))
        .routes(routes!(workspaces::list, workspaces::create))
        .routes(routes!(workspaces::get, workspaces::rename, workspaces::delete))
        .routes(routes!(workspaces::members))
        .routes(routes!(workspaces::change_role, workspaces::remove))
        .routes(routes!(workspaces::invitations, workspaces::invite))
        .routes(routes!(workspaces::withdraw))
        .routes(routes!(workspaces::accept))
        .routes(routes!(privacy::export))
        .routes(routes!(admin::own_audit))
        .routes(routes!(admin::users, admin::create))
        .routes(routes!(admin::user, admin::erase))
        .routes(routes!(admin::disable))
        .routes(routes!(admin::enable))
        .routes(routes!(admin::revoke_user_sessions))
        .routes(routes!(admin::export))
        .routes(routes!(admin::workspaces))
        .routes(routes!(admin::workspace))
        .routes(routes!(admin::audit));
    if metrics_here {
        routes = routes.routes(routes!(metrics::render));
    }
    routes
}

/// The public router: the API and, unless they are switched off, the hosted pages, with every
/// layer applied.
pub fn router(state: AppState) -> Router {
    let (mut routes, _document) = routes(state.settings().metrics_on_main_listener).split_for_parts();
    if state.services().pages.is_some() {
        routes = routes.merge(crate::pages::routes());
    }
    with_layers(routes, state)
}

/// The router for a separate metrics listener (`server.metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    with_layers(Router::new().route("/metrics", get(metrics::render)), state)
}

/// Applies the fallbacks and the full middleware stack to a set of routes.
///
/// Two `from_fn` middlewares rather than one per concern: each one costs a clone of the inner
/// service (an allocation) per request, which showed up in the whoami profile.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let settings = state.settings().clone();
    let mut router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), guard));
    if !settings.cors_allowed_origins.is_empty() {
        router = router.layer(cors(settings.cors_allowed_origins.clone()));
    }
    router.layer(middleware::from_fn_with_state(state.clone(), edge)).with_state(state)
}

/// The outermost layer: request id, client IP, metrics and the log line, security headers.
async fn edge(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let (id, id_header) = request_id::assign(&mut request);
    let (client, peer) = client_ip::of_request(&request, state.trusted_proxies());
    request.extensions_mut().insert(client);
    request.extensions_mut().insert(peer);
    let observation = Observation::begin(&request, &id, client);
    let mut response = request_id::scope(id, next.run(request).instrument(observation.span())).await;

    let headers = response.headers_mut();
    // One growth of the header map instead of one per inserted header.
    headers.reserve(SECURITY_HEADERS.len() + 2);
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    if state.settings().mode == RunMode::Production && !headers.contains_key(header::STRICT_TRANSPORT_SECURITY) {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    headers.insert(request_id::REQUEST_ID, id_header);
    observation.finish(state.request_metrics(), &response);
    response
}

/// Set on every response that did not set its own.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// Production only: development runs on plain http://localhost.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

/// Inside CORS: the CSRF check, then the handler and the new-device check of a sign-in, all
/// within the request timeout.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.settings().request_timeout;
    let cookies = crate::devices::request_cookies(&state, request.headers());
    let checked_and_run = async {
        match csrf::check(&state, request).await {
            Ok(request) => {
                let mut response = next.run(request).await;
                crate::devices::after_response(&state, cookies, response.headers_mut()).await;
                response
            }
            Err(rejection) => rejection,
        }
    };
    match tokio::time::timeout(limit, checked_and_run).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::Timeout { timeout_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX) }.into_response()
        }
    }
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
            request_id::REQUEST_ID,
        ])
        .expose_headers([request_id::REQUEST_ID, header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
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
