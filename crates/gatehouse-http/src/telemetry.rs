//! Per-request metrics and the request log line.
//!
//! Labels use the matched route template (`/v1/sessions/{id}`), never the raw path, so label
//! cardinality stays bounded and ids or tokens in paths never reach the metrics. The log line
//! carries the request id, method, route, status and latency, and nothing from headers, the
//! query string or the body.

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use tracing::Span;

use crate::client_ip::ClientIp;

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

/// One request being observed: started by the edge middleware before the request runs, finished
/// with its response.
pub(crate) struct Observation {
    started: Instant,
    method: String,
    route: String,
    client_ip: Option<IpAddr>,
    span: Span,
    _in_flight: InFlight,
}

impl Observation {
    pub(crate) fn begin(request: &Request, request_id: &str, client_ip: ClientIp) -> Self {
        let method = request.method().as_str().to_owned();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            route = %route,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        Self { started: Instant::now(), method, route, client_ip: client_ip.0, span, _in_flight: InFlight::enter() }
    }

    /// The span the request runs in, so its log lines carry the request id and route.
    pub(crate) fn span(&self) -> Span {
        self.span.clone()
    }

    pub(crate) fn finish(self, response: &Response) {
        let elapsed = self.started.elapsed();
        let status = response.status().as_u16();
        let Self { method, route, span, client_ip, .. } = self;
        let noisy = is_noisy(&route);
        let labels = [("method", method), ("route", route), ("status", status.to_string())];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());

        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        span.record("status", status);
        span.record("latency_ms", latency_ms);
        let client_ip = client_ip.map(|ip| ip.to_string()).unwrap_or_default();
        span.in_scope(|| {
            if noisy {
                tracing::debug!(client_ip, "request completed");
            } else {
                tracing::info!(client_ip, "request completed");
            }
        });
    }
}
