//! Per-request metrics and the request log line.
//!
//! Labels use the matched route template (`/v1/sessions/{id}`), never the raw path, so label
//! cardinality stays bounded and ids or tokens in paths never reach the metrics. The log line
//! carries the request id, method, route, status and latency, and nothing from headers, the
//! query string or the body.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::client_ip::ClientIp;
use crate::request_id::current_request_id;

/// Routes that probes and scrapers hit every few seconds: logged at debug level only.
fn is_noisy(route: &str) -> bool {
    route.starts_with("/health") || route == "/metrics"
}

/// Decrements the in-flight gauge even when the request future is dropped mid-way.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!("http_requests_in_flight").increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
    }
}

pub(crate) async fn middleware(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let client_ip = request.extensions().get::<ClientIp>().and_then(|ip| ip.0);
    let request_id = current_request_id().unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );

    let _in_flight = InFlight::enter();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();

    let labels = [("method", method.clone()), ("route", route.clone()), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());

    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    let client_ip = client_ip.map(|ip| ip.to_string()).unwrap_or_default();
    span.in_scope(|| {
        if is_noisy(&route) {
            tracing::debug!(client_ip, "request completed");
        } else {
            tracing::info!(client_ip, "request completed");
        }
    });
    response
}
