//! Removing what has outlived its use, once an hour on every instance that runs the job worker:
//! succeeded jobs and finished webhook deliveries older than `jobs.retention_secs`, and expired
//! sessions and email links. Deletes are idempotent, so instances doing it at once only repeat
//! work; dead jobs and pending deliveries stay until someone acts on them.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::clock::Clock;
use gatehouse_core::store::{Housekeeping, Removed};
use tokio::sync::watch;

const INTERVAL: Duration = Duration::from_secs(3600);

/// One pass: removes what expired and counts it.
pub async fn pass(store: &dyn Housekeeping, clock: &dyn Clock, retention: Duration) -> Option<Removed> {
    let now = clock.now();
    let before = now - time::Duration::try_from(retention).unwrap_or(time::Duration::MAX);
    match store.remove_expired(now, before).await {
        Ok(removed) => {
            for (what, count) in [
                ("jobs", removed.jobs),
                ("webhook_deliveries", removed.webhook_deliveries),
                ("sessions", removed.sessions),
                ("email_links", removed.email_links),
                ("oauth_states", removed.oauth_states),
            ] {
                metrics::counter!("gatehouse_housekeeping_removed_total", "what" => what).increment(count);
            }
            if removed != Removed::default() {
                tracing::info!(
                    jobs = removed.jobs,
                    webhook_deliveries = removed.webhook_deliveries,
                    sessions = removed.sessions,
                    email_links = removed.email_links,
                    oauth_states = removed.oauth_states,
                    "removed expired records"
                );
            }
            Some(removed)
        }
        Err(error) => {
            tracing::warn!(%error, "housekeeping failed; it runs again in an hour");
            None
        }
    }
}

/// Runs [`pass`] at start and then hourly, until `stop`.
pub async fn run(
    store: Arc<dyn Housekeeping>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    stop: watch::Receiver<bool>,
) {
    let (store, clock) = (store.as_ref(), clock.as_ref());
    crate::app::on_each_tick(tokio::time::interval(INTERVAL), stop, move || pass(store, clock, retention)).await;
}
