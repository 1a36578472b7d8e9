//! Per-request metrics and the request log line.
//!
//! Labels use the matched route template (`/v1/sessions/{id}`), never the raw path, so label
//! cardinality stays bounded and ids or tokens in paths never reach the metrics. The log line
//! carries the request id, method, route, status and latency, and nothing from headers, the
//! query string or the body.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use http::Method;
use metrics::{Counter, Histogram};
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

/// Metric handles per route, method and status, registered on first use. Looking a handle up
/// here costs a hash of the route and a short scan; building the label set every time cost about
/// 5% of a session check (allocated label strings, key hashing, registry lookups).
#[derive(Debug, Default)]
pub(crate) struct RequestMetrics {
    routes: RwLock<HashMap<String, RouteMetrics>>,
}

#[derive(Debug, Default)]
struct RouteMetrics {
    requests: Vec<(Method, u16, Counter)>,
    durations: Vec<(Method, Histogram)>,
}

impl RouteMetrics {
    fn find(&self, method: &Method, status: u16) -> Option<(Counter, Histogram)> {
        let requests = self.requests.iter().find(|(m, s, _)| m == method && *s == status)?;
        let duration = self.durations.iter().find(|(m, _)| m == method)?;
        Some((requests.2.clone(), duration.1.clone()))
    }
}

impl RequestMetrics {
    fn handles(&self, route: &str, method: &Method, status: u16) -> (Counter, Histogram) {
        let found =
            self.routes.read().unwrap_or_else(PoisonError::into_inner).get(route).and_then(|r| r.find(method, status));
        if let Some(handles) = found {
            return handles;
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let entry = routes.entry(route.to_owned()).or_default();
        if let Some(handles) = entry.find(method, status) {
            return handles;
        }
        let labels =
            [("method", method.as_str().to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
        let counter = metrics::counter!("http_requests_total", &labels);
        entry.requests.push((method.clone(), status, counter));
        if !entry.durations.iter().any(|(m, _)| m == method) {
            let histogram = metrics::histogram!("http_request_duration_seconds", &labels[..2]);
            entry.durations.push((method.clone(), histogram));
        }
        entry.find(method, status).expect("both handles were just registered")
    }
}

/// Methods outside the standard set are counted as `OTHER`: a client can send any token as a
/// method, and labels must stay a bounded set.
fn bounded(method: &Method) -> Method {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    if STANDARD.contains(method) { method.clone() } else { Method::from_bytes(b"OTHER").unwrap_or_default() }
}

/// One request being observed: started by the edge middleware before the request runs, finished
/// with its response.
pub(crate) struct Observation {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    client_ip: Option<IpAddr>,
    span: Span,
    _in_flight: InFlight,
}

impl Observation {
    pub(crate) fn begin(request: &Request, request_id: &str, client_ip: ClientIp) -> Self {
        let method = bounded(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            route = route.as_ref().map_or("unmatched", MatchedPath::as_str),
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        Self { started: Instant::now(), method, route, client_ip: client_ip.0, span, _in_flight: InFlight::enter() }
    }

    /// The span the request runs in, so its log lines carry the request id and route.
    pub(crate) fn span(&self) -> Span {
        self.span.clone()
    }

    pub(crate) fn finish(self, metrics: &RequestMetrics, response: &Response) {
        let elapsed = self.started.elapsed();
        let status = response.status().as_u16();
        let route = self.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let (requests, duration) = metrics.handles(route, &self.method, status);
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());

        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.span.record("status", status);
        self.span.record("latency_ms", latency_ms);
        // Formatted only when the line is actually written.
        let client_ip = self.client_ip.map(tracing::field::display);
        self.span.in_scope(|| {
            if is_noisy(route) {
                tracing::debug!(client_ip, "request completed");
            } else {
                tracing::info!(client_ip, "request completed");
            }
        });
    }
}
