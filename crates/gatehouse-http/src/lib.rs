//! The HTTP layer of Gatehouse: one route table, the extractors, the middleware and the
//! problem+json error type. Handlers translate between HTTP and the core; they hold no rules.

mod accounts;
pub mod admin;
pub mod api_reference;
pub mod breached;
pub mod client_ip;
pub mod csrf;
mod devices;
pub mod email;
pub mod error;
pub mod extract;
pub mod forward_auth;
mod health;
pub mod identities;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod passkeys;
pub mod password;
pub mod privacy;
mod profile;
pub mod rate_limit;
pub mod request_id;
pub mod router;
pub mod service_keys;
pub mod sessions;
pub mod state;
mod telemetry;
pub mod templates;
pub mod tokens;
pub mod vault;
pub mod webhooks;
pub mod workspaces;

pub use error::{ApiError, FieldError};
pub use extract::{ApiJson, ApiPath, ApiQuery};
pub use metrics::MetricsRenderer;
pub use router::{metrics_router, router, routes, with_layers};
pub use state::{AppState, CookieSettings, HttpSettings, Services};
