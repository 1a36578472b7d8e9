//! The state every handler shares: settings, the storage ports and the metrics renderer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::mode::RunMode;
use gatehouse_core::store::DatabaseProbe;
use http::HeaderValue;
use ipnet::IpNet;

use crate::metrics::MetricsRenderer;

/// The HTTP layer's settings, already parsed and validated by the binary's config.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub mode: RunMode,
    pub version: &'static str,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Origins allowed to make credentialed cross-origin requests. Never `*`.
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub trusted_proxies: Vec<IpNet>,
    /// Whether `/metrics` is served on the main listener (false when it has its own).
    pub metrics_on_main_listener: bool,
}

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: HttpSettings,
    database: Arc<dyn DatabaseProbe>,
    metrics: Arc<dyn MetricsRenderer>,
    started: Instant,
}

impl AppState {
    pub fn new(settings: HttpSettings, database: Arc<dyn DatabaseProbe>, metrics: Arc<dyn MetricsRenderer>) -> Self {
        Self(Arc::new(Inner { settings, database, metrics, started: Instant::now() }))
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.0.settings
    }

    pub fn database(&self) -> &dyn DatabaseProbe {
        self.0.database.as_ref()
    }

    pub fn metrics(&self) -> &dyn MetricsRenderer {
        self.0.metrics.as_ref()
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }

    pub(crate) fn body_limit_bytes(&self) -> usize {
        self.0.settings.body_limit_bytes
    }

    pub(crate) fn trusted_proxies(&self) -> &[IpNet] {
        &self.0.settings.trusted_proxies
    }
}
