//! Removing what has outlived its use, once an hour on every instance that runs the job worker:
//! succeeded jobs and finished webhook deliveries older than `jobs.retention_secs`, and expired
//! sessions and email links. Deletes are idempotent, so instances doing it at once only repeat
//! work; dead jobs and pending deliveries stay until someone acts on them.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::audit::{Actor, AuditAction, AuditEvent, AuditQuery};
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
                ("second_steps", removed.second_steps),
                ("passkey_ceremonies", removed.passkey_ceremonies),
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
                    second_steps = removed.second_steps,
                    passkey_ceremonies = removed.passkey_ceremonies,
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
/// Deletes audit events older than `retention`, recording how many went (`audit.purged`).
pub async fn purge_audit(audit: &dyn AuditQuery, clock: &dyn Clock, retention: Duration) -> Option<u64> {
    let now = clock.now();
    let before = now - time::Duration::try_from(retention).unwrap_or(time::Duration::MAX);
    let event = AuditEvent::new(AuditAction::AuditPurged, Actor::System, now, &Default::default())
        .detail("before", before.unix_timestamp());
    match audit.purge(before, event).await {
        Ok(deleted) => {
            metrics::counter!("gatehouse_housekeeping_removed_total", "what" => "audit_events").increment(deleted);
            if deleted > 0 {
                tracing::info!(audit_events = deleted, "removed audit events past their retention");
            }
            Some(deleted)
        }
        Err(error) => {
            tracing::warn!(%error, "purging old audit events failed; it runs again in an hour");
            None
        }
    }
}

/// Retention periods: finished jobs and deliveries, and audit events.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub jobs: Duration,
    pub audit: Duration,
}

pub async fn run(
    store: Arc<dyn Housekeeping>,
    audit: Arc<dyn AuditQuery>,
    clock: Arc<dyn Clock>,
    retention: Retention,
    stop: watch::Receiver<bool>,
) {
    let (store, audit, clock) = (store.as_ref(), audit.as_ref(), clock.as_ref());
    crate::app::on_each_tick(tokio::time::interval(INTERVAL), stop, move || async move {
        purge_audit(audit, clock, retention.audit).await;
        pass(store, clock, retention.jobs).await
    })
    .await;
}
