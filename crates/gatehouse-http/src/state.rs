//! The state every handler shares: settings, the storage ports, the clock, password hashing and the
//! metrics renderer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::accounts::AccountStore;
use gatehouse_core::api_keys::ApiKeyStore;
use gatehouse_core::audit::AuditLog;
use gatehouse_core::clock::Clock;
use gatehouse_core::csrf::CsrfKey;
use gatehouse_core::email::LinkStore;
use gatehouse_core::health::DependencyCheck;
use gatehouse_core::mode::RunMode;
use gatehouse_core::rate_limit::Limiter;
use gatehouse_core::sessions::{SessionPolicy, SessionStore};
use gatehouse_core::store::DatabaseProbe;
use http::HeaderValue;
use ipnet::IpNet;

use crate::email::EmailSettings;
use crate::metrics::MetricsRenderer;
use crate::password::PasswordService;
use crate::rate_limit::RateLimitSettings;
use crate::telemetry::RequestMetrics;
use crate::tokens::TokenService;
use crate::webhooks::WebhookSettings;

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
    /// Origins whose unsafe requests are accepted: the public URL's and the CORS allowlist.
    pub trusted_origins: Vec<String>,
}

/// How the session cookie is written.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
    pub domain: Option<String>,
}

/// The ports and services handlers use.
#[derive(Debug, Clone)]
pub struct Services {
    pub database: Arc<dyn DatabaseProbe>,
    /// Dependencies `/health` reports but readiness does not require (Redis).
    pub optional_dependencies: Vec<Arc<dyn DependencyCheck>>,
    pub accounts: Arc<dyn AccountStore>,
    /// A person's own changes: password and name.
    pub profiles: Arc<dyn gatehouse_core::accounts::ProfileStore>,
    /// The devices accounts sign in from, for new-device notices.
    pub devices: Arc<dyn gatehouse_core::devices::DeviceStore>,
    /// The breached-password check of new passwords.
    pub breached: crate::breached::BreachedCheck,
    pub links: Arc<dyn LinkStore>,
    /// The job queue, for requests whose work is done by a job alone.
    pub jobs: Arc<dyn gatehouse_core::jobs::JobStore>,
    pub email: EmailSettings,
    pub webhooks: WebhookSettings,
    /// Providers, sign-in state and linked identities.
    pub oauth: crate::oauth::OAuthSettings,
    /// The token vault.
    pub vault: crate::vault::VaultSettings,
    /// Forward-auth's rules and identity headers.
    pub forward_auth: crate::forward_auth::ForwardAuthSettings,
    /// The hosted pages; `None` when `pages.enabled` is off.
    pub pages: Option<Arc<crate::pages::PageSettings>>,
    /// Wakes this instance's job worker when a request has committed jobs.
    pub jobs_waker: Arc<tokio::sync::Notify>,
    pub sessions: Arc<dyn SessionStore>,
    pub workspaces: Arc<dyn gatehouse_core::workspaces::WorkspaceStore>,
    /// Export and erasure of personal data, and the key of erasure tombstones.
    pub privacy: Arc<dyn gatehouse_core::privacy::PrivacyStore>,
    pub tombstones: gatehouse_core::privacy::TombstoneKey,
    pub user_admin: Arc<dyn gatehouse_core::accounts::UserAdmin>,
    pub audit_query: Arc<dyn gatehouse_core::audit::AuditQuery>,
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
    pub passwords: PasswordService,
    pub mfa: crate::mfa::MfaSettings,
    pub tokens: TokenService,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub limiter: Arc<dyn Limiter>,
    pub csrf: CsrfKey,
    pub rate_limits: RateLimitSettings,
    pub metrics: Arc<dyn MetricsRenderer>,
}

impl Services {
    /// Counts jobs a request committed and wakes this instance's worker for them.
    pub fn enqueued(&self, jobs: &[gatehouse_core::jobs::NewJob]) {
        for job in jobs {
            count_enqueued(&self.jobs_waker, &job.kind, 1);
        }
    }
}

/// Counts `count` committed jobs of `kind` (`gatehouse_jobs_enqueued_total`) and wakes the worker
/// `wake` belongs to; for requests and for job handlers that enqueue more work.
pub fn count_enqueued(wake: &tokio::sync::Notify, kind: &str, count: u64) {
    if count > 0 {
        metrics::counter!("gatehouse_jobs_enqueued_total", "kind" => kind.to_owned()).increment(count);
        wake.notify_one();
    }
}

#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: HttpSettings,
    session_policy: SessionPolicy,
    cookie: CookieSettings,
    services: Services,
    started: Instant,
    request_metrics: RequestMetrics,
    /// The OpenAPI document as served, built on first request.
    openapi: std::sync::OnceLock<axum::body::Bytes>,
}

impl AppState {
    pub fn new(
        settings: HttpSettings,
        session_policy: SessionPolicy,
        cookie: CookieSettings,
        services: Services,
    ) -> Self {
        Self(Arc::new(Inner {
            settings,
            session_policy,
            cookie,
            services,
            started: Instant::now(),
            request_metrics: RequestMetrics::default(),
            openapi: std::sync::OnceLock::new(),
        }))
    }

    /// The OpenAPI document of this instance's routes, as JSON.
    pub fn openapi_document(&self) -> axum::body::Bytes {
        self.0
            .openapi
            .get_or_init(|| {
                let routes = crate::router::routes(self.settings().metrics_on_main_listener);
                let document = crate::openapi::document(routes, &self.cookie().name);
                serde_json::to_vec(&document).unwrap_or_default().into()
            })
            .clone()
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.0.settings
    }

    pub fn session_policy(&self) -> &SessionPolicy {
        &self.0.session_policy
    }

    pub fn cookie(&self) -> &CookieSettings {
        &self.0.cookie
    }

    pub fn services(&self) -> &Services {
        &self.0.services
    }

    pub fn database(&self) -> &dyn DatabaseProbe {
        self.0.services.database.as_ref()
    }

    pub fn metrics(&self) -> &dyn MetricsRenderer {
        self.0.services.metrics.as_ref()
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }

    pub(crate) fn body_limit_bytes(&self) -> usize {
        self.0.settings.body_limit_bytes
    }

    pub(crate) fn request_metrics(&self) -> &RequestMetrics {
        &self.0.request_metrics
    }

    pub(crate) fn trusted_proxies(&self) -> &[IpNet] {
        &self.0.settings.trusted_proxies
    }
}
