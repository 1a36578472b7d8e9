//! The providers' entry in `/health`: `degraded` while any provider cannot be discovered, naming
//! it (never its secret), `ok` when every one is usable, `not_configured` without providers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::health::{DependencyCheck, DependencyReport};
use tokio::sync::watch;

use super::HttpProvider;

/// How often the background loop retries providers that could not be discovered.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct OAuthCheck {
    pub providers: Vec<Arc<HttpProvider>>,
}

#[async_trait]
impl DependencyCheck for OAuthCheck {
    fn name(&self) -> &'static str {
        "oauth"
    }

    async fn check(&self) -> DependencyReport {
        if self.providers.is_empty() {
            return DependencyReport::not_configured();
        }
        let failing: Vec<String> = self
            .providers
            .iter()
            .filter_map(|provider| provider.failure().map(|reason| format!("{}: {reason}", provider.name())))
            .collect();
        if failing.is_empty() {
            DependencyReport { status: gatehouse_core::health::DependencyStatus::Ok, latency_ms: None, detail: None }
        } else {
            DependencyReport::degraded(None, format!("providers not usable, retrying: {}", failing.join("; ")))
        }
    }
}

impl OAuthCheck {
    /// Discovers every provider now, then retries the ones that failed every [`RETRY_INTERVAL`]
    /// until `stop`.
    pub async fn keep_discovering(self, stop: watch::Receiver<bool>) {
        let providers = &self.providers;
        crate::app::on_each_tick(tokio::time::interval(RETRY_INTERVAL), stop, move || async move {
            for provider in providers.iter().filter(|provider| provider.failure().is_some()) {
                provider.ensure_discovered().await;
            }
        })
        .await;
    }
}
