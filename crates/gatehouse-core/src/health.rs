//! The health model: what each dependency's state is and how those states add up.
//!
//! `ok`, `degraded` (serving, but through a fallback), `down` (not serving) and `not_configured`
//! are the only states, so `/health`, readiness and metrics all speak the same four words.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyStatus {
    Ok,
    Degraded,
    Down,
    NotConfigured,
}

/// The outcome of checking one dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DependencyReport {
    pub status: DependencyStatus,
    /// How long the check took; absent when nothing was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// A short, secret-free explanation when the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl DependencyReport {
    pub fn ok(latency_ms: u64) -> Self {
        Self { status: DependencyStatus::Ok, latency_ms: Some(latency_ms), detail: None }
    }

    pub fn down(latency_ms: u64, detail: impl Into<String>) -> Self {
        Self { status: DependencyStatus::Down, latency_ms: Some(latency_ms), detail: Some(detail.into()) }
    }

    pub fn degraded(latency_ms: Option<u64>, detail: impl Into<String>) -> Self {
        Self { status: DependencyStatus::Degraded, latency_ms, detail: Some(detail.into()) }
    }

    pub fn not_configured() -> Self {
        Self { status: DependencyStatus::NotConfigured, latency_ms: None, detail: None }
    }
}

/// A dependency that `/health` reports but readiness does not require (a cache, a mail relay):
/// when it fails, Gatehouse degrades rather than stops.
#[async_trait::async_trait]
pub trait DependencyCheck: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    async fn check(&self) -> DependencyReport;
}

/// A dependency Gatehouse knows how to use but was not given.
#[derive(Debug, Clone, Copy)]
pub struct NotConfigured(pub &'static str);

#[async_trait::async_trait]
impl DependencyCheck for NotConfigured {
    fn name(&self) -> &'static str {
        self.0
    }

    async fn check(&self) -> DependencyReport {
        DependencyReport::not_configured()
    }
}

/// The overall status of a set of reports: the worst one wins, `not_configured` counts as fine.
pub fn overall<'a>(reports: impl IntoIterator<Item = &'a DependencyReport>) -> DependencyStatus {
    let mut overall = DependencyStatus::Ok;
    for report in reports {
        match report.status {
            DependencyStatus::Down => return DependencyStatus::Down,
            DependencyStatus::Degraded => overall = DependencyStatus::Degraded,
            DependencyStatus::Ok | DependencyStatus::NotConfigured => {}
        }
    }
    overall
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: DependencyStatus) -> DependencyReport {
        DependencyReport { status, latency_ms: None, detail: None }
    }

    #[test]
    fn the_worst_status_wins() {
        use DependencyStatus::*;
        assert_eq!(overall(&[report(Ok), report(NotConfigured)]), Ok);
        assert_eq!(overall(&[report(Ok), report(Degraded)]), Degraded);
        assert_eq!(overall(&[report(Degraded), report(Down), report(Ok)]), Down);
        assert_eq!(overall(&[]), Ok);
    }
}
