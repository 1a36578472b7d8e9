//! `GET /metrics`: Prometheus text exposition.
//!
//! The recorder lives in the binary (it is process-global); this layer only asks it to render.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::state::AppState;

/// Renders the process's metrics in the Prometheus text format.
pub trait MetricsRenderer: Send + Sync + std::fmt::Debug {
    fn render(&self) -> String;
}

/// `GET /metrics`: Prometheus metrics (on the main listener unless `server.metrics_listen` moves them).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain")),
)]
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    let body = state.metrics().render();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
