//! How the job queue looks from outside: its entry in `/health` and its Prometheus gauges.
//!
//! The queue lives in the main database, so readiness already covers reaching it. What `/health`
//! adds is whether work is keeping up: when the oldest job that is due has waited longer than
//! [`STALE_AFTER`], no worker is draining the queue (all instances run with `jobs.enabled` off, or
//! the workers are failing), and the queue reports `degraded`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::clock::Clock;
use gatehouse_core::health::{DependencyCheck, DependencyReport};
use gatehouse_core::jobs::{JobStore, QueueStats};
use tokio::sync::watch;

/// A due job waiting longer than this means the queue is not being drained.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// How often the gauges are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct QueueCheck {
    pub store: Arc<dyn JobStore>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl DependencyCheck for QueueCheck {
    fn name(&self) -> &'static str {
        "jobs"
    }

    async fn check(&self) -> DependencyReport {
        let started = Instant::now();
        let stats = self.store.stats(self.clock.now()).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match stats {
            Err(_) => DependencyReport::down(latency_ms, "the job queue cannot be read"),
            Ok(stats) => match stats.oldest_ready_age {
                Some(age) if age > STALE_AFTER => DependencyReport::degraded(
                    Some(latency_ms),
                    format!("the oldest due job has waited {} s: no worker is keeping up", age.as_secs()),
                ),
                _ => DependencyReport::ok(latency_ms),
            },
        }
    }
}

fn record(stats: &QueueStats) {
    for (kind, state, count) in &stats.counts {
        #[allow(clippy::cast_precision_loss)]
        let count = *count as f64;
        metrics::gauge!("gatehouse_jobs", "kind" => kind.clone(), "state" => state.as_str()).set(count);
    }
    let age = stats.oldest_ready_age.map_or(0.0, |age| age.as_secs_f64());
    metrics::gauge!("gatehouse_jobs_oldest_ready_age_seconds").set(age);
}

/// Refreshes `gatehouse_jobs{kind,state}` and `gatehouse_jobs_oldest_ready_age_seconds` until `stop`.
pub async fn gauges(check: QueueCheck, stop: watch::Receiver<bool>) {
    let check = &check;
    crate::app::on_each_tick(tokio::time::interval(GAUGE_INTERVAL), stop, move || async move {
        if let Ok(stats) = check.store.stats(check.clock.now()).await {
            record(&stats);
        }
    })
    .await;
}
