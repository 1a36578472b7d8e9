//! Logs and metrics for the process.
//!
//! Logs go to stderr: JSON lines in production, readable text in development. What they may
//! contain is decided where they are written (the request log line takes no header, query or
//! body), so there is nothing to scrub after the fact. Metrics go to one process-wide Prometheus
//! recorder, rendered on `/metrics`.

use std::io::IsTerminal as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gatehouse_core::store::DatabaseProbe;
use gatehouse_http::MetricsRenderer;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global log subscriber. `RUST_LOG`, when set, overrides `log.level`.
/// A second call (tests that build several apps in one process) leaves the first in place.
pub fn init_logging(config: &LogConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_installed = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Latency buckets in seconds, from sub-millisecond session checks to slow logins.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; Gatehouse metrics may be missing");
            }
            describe();
            metrics::gauge!("gatehouse_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("http_requests_total", "HTTP requests answered, by method, route template and status.");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and route template."
    );
    metrics::describe_gauge!("http_requests_in_flight", "HTTP requests being handled now.");
    metrics::describe_gauge!("gatehouse_db_pool_connections", "Open database connections in the pool.");
    metrics::describe_gauge!("gatehouse_db_pool_idle_connections", "Idle database connections in the pool.");
    metrics::describe_gauge!("gatehouse_build_info", "Always 1; the version label says which build runs.");
    metrics::describe_counter!(
        "gatehouse_cache_fallbacks_total",
        "Redis operations skipped or failed and served from SQL instead, by operation."
    );
    metrics::describe_counter!(
        "gatehouse_rate_limit_decisions_total",
        "Rate-limit decisions by policy, outcome (allowed, limited) and backend (redis, in_process, failure_mode)."
    );
    metrics::describe_counter!(
        "gatehouse_rate_limit_fallbacks_total",
        "Rate-limit decisions Redis could not make, decided by rate_limit.failure_mode instead."
    );
    metrics::describe_gauge!("gatehouse_connections_open", "Open client connections, by listener.");
    metrics::describe_gauge!("gatehouse_connections_max", "The connection cap, by listener (server.max_connections).");
    metrics::describe_counter!(
        "gatehouse_connections_closed_total",
        "Connections Gatehouse closed itself, by listener and reason: header_timeout, idle_timeout, displaced (gave way at the cap), refused (at the cap with every connection busy)."
    );
    metrics::describe_counter!(
        "gatehouse_accept_errors_total",
        "Failed accepts (most often: out of file descriptors), by listener; accepting backs off from 5 ms to 1 s."
    );
    metrics::describe_gauge!(
        "gatehouse_password_hash_queue_capacity",
        "Password hashes that may wait for a hashing thread (password.queue_secs of work at the rate measured at start)."
    );
    metrics::describe_gauge!("gatehouse_password_hash_queue_depth", "Password hashes waiting for a hashing thread.");
    metrics::describe_counter!(
        "gatehouse_password_hash_refused_total",
        "Signups, logins, password changes and resets answered 503 overloaded because the hashing queue was full."
    );
    metrics::describe_gauge!("gatehouse_cache_up", "1 while Redis is in use, 0 while its circuit breaker is open.");
}

/// Renders the recorder, first refreshing the gauges that are read rather than counted.
#[derive(Debug)]
pub struct PrometheusRenderer {
    handle: PrometheusHandle,
    database: Arc<dyn DatabaseProbe>,
}

impl PrometheusRenderer {
    pub fn new(handle: PrometheusHandle, database: Arc<dyn DatabaseProbe>) -> Self {
        Self { handle, database }
    }
}

impl MetricsRenderer for PrometheusRenderer {
    fn render(&self) -> String {
        let pool = self.database.pool_stats();
        metrics::gauge!("gatehouse_db_pool_connections").set(f64::from(pool.size));
        metrics::gauge!("gatehouse_db_pool_idle_connections").set(f64::from(pool.idle));
        self.handle.render()
    }
}

/// Drains histogram samples periodically so memory stays bounded when nobody scrapes.
pub async fn metrics_upkeep(handle: PrometheusHandle, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}
