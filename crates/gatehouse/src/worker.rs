//! Runs jobs from the durable queue: claims them with a lease, keeps the lease alive while a job
//! runs, records the outcome with the job type's retry policy, and on shutdown stops claiming,
//! lets running jobs finish within the shutdown timeout and gives back the leases of those that
//! do not, so another instance takes them at once.
//!
//! Wake-ups: [`Worker::waker`] wakes the loop when this instance enqueues; the poll interval is
//! the safety net for jobs enqueued elsewhere or coming due.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::clock::Clock;
use gatehouse_core::jobs::{Claimed, Failure, JobStore, JobType, RetryPolicy, after};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Worth another attempt, on the job type's backoff schedule.
    Retry(String),
    /// Worth another attempt, not before this long (a receiver's `Retry-After`).
    RetryAfter { error: String, after: Duration },
    /// Will never succeed (a 4xx from an email API, a malformed payload): dead at once.
    Permanent(String),
}

impl JobError {
    fn message(&self) -> &str {
        match self {
            Self::Retry(error) | Self::RetryAfter { error, .. } | Self::Permanent(error) => error,
        }
    }
}

/// The handler of a job type. It names the [`JobType`] it performs rather than being one, so the
/// name, retry policy and timeout the worker applies are the ones enqueuers use.
#[async_trait]
pub trait Perform: Send + Sync + 'static {
    type Job: JobType;
    async fn perform(&self, payload: <Self::Job as JobType>::Payload) -> Result<(), JobError>;
}

/// Finished jobs waiting for their success to be recorded, at most this many per statement.
const MAX_COMPLETION_BATCH: usize = 500;

/// Successes waiting to be recorded, per worker slot. A finished job gives its slot back at once
/// (the next claim need not wait for the previous batch's write), and holds one of these until its
/// success is recorded, so a slow database still slows the claims down.
const RECORDING_PER_SLOT: usize = 4;

/// A job that succeeded, holding a recording permit until the success is recorded.
struct Finished {
    claim: Claimed,
    _slot: OwnedSemaphorePermit,
}

/// A handler with its payload type erased, so handlers of every type share one table.
#[async_trait]
trait Handler: Send + Sync {
    fn policy(&self) -> RetryPolicy;
    fn timeout(&self) -> Duration;
    async fn run(&self, payload: serde_json::Value) -> Result<(), JobError>;
}

#[async_trait]
impl<T: Perform> Handler for T {
    fn policy(&self) -> RetryPolicy {
        T::Job::retry_policy()
    }

    fn timeout(&self) -> Duration {
        T::Job::timeout()
    }

    async fn run(&self, payload: serde_json::Value) -> Result<(), JobError> {
        let payload = serde_json::from_value::<<T::Job as JobType>::Payload>(payload)
            .map_err(|error| JobError::Permanent(format!("the payload does not fit {}: {error}", T::Job::NAME)))?;
        self.perform(payload).await
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs run at once by this instance.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How often to look for due jobs when nothing woke the worker.
    pub poll_interval: Duration,
    /// How long running jobs get to finish on shutdown before their leases are given back.
    pub shutdown_timeout: Duration,
}

pub struct Worker {
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    settings: WorkerSettings,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("kinds", &self.handlers.keys()).field("settings", &self.settings).finish()
    }
}

impl Worker {
    pub fn new(store: Arc<dyn JobStore>, clock: Arc<dyn Clock>, settings: WorkerSettings) -> Self {
        Self { store, clock, handlers: HashMap::new(), settings, wake: Arc::new(Notify::new()) }
    }

    /// Registers the handler of one job type.
    #[must_use]
    pub fn with<T: Perform>(mut self, handler: T) -> Self {
        self.handlers.insert(T::Job::NAME, Arc::new(handler));
        self
    }

    /// Wakes the worker at once; call it after enqueueing on this instance.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Runs until `stop` turns true, then shuts down as the module describes.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let kinds: Vec<&'static str> = this.handlers.keys().copied().collect();
        let slots = Arc::new(Semaphore::new(this.settings.concurrency.max(1)));
        let recording = Arc::new(Semaphore::new(this.settings.concurrency.max(1) * RECORDING_PER_SLOT));
        let (abandon_tx, abandon) = watch::channel(false);
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(Arc::clone(&this).record_successes(finished_rx));
        let mut running = JoinSet::new();
        let mut failing = false;
        while !*stop.borrow() {
            while running.try_join_next().is_some() {}
            // Wait for one free slot, then take every other free one: one claim fills them all.
            let first = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = stop.changed() => break,
            };
            let mut permits = vec![first];
            permits.extend(std::iter::from_fn(|| Arc::clone(&slots).try_acquire_owned().ok()));
            let wanted = u32::try_from(permits.len()).unwrap_or(u32::MAX);
            match this.store.claim_many(&kinds, this.clock.now(), this.settings.lease, wanted).await {
                Ok(claims) => {
                    failing = false;
                    let filled = claims.len() == permits.len();
                    for claim in claims {
                        let permit = permits.pop().expect("one permit per claimed job");
                        let (this, abandon, finished) = (Arc::clone(&this), abandon.clone(), finished_tx.clone());
                        let recording = Arc::clone(&recording);
                        running.spawn(async move { this.run_one(claim, permit, recording, finished, abandon).await });
                    }
                    if filled {
                        continue;
                    }
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "cannot claim jobs; retrying every poll interval");
                    }
                    failing = true;
                }
            }
            // Fewer jobs were due than slots were free: wait for news.
            drop(permits);
            tokio::select! {
                () = this.wake.notified() => {}
                () = tokio::time::sleep(this.settings.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }

        let finished = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(this.settings.shutdown_timeout, finished).await.is_err() {
            tracing::warn!(still_running = running.len(), "giving the leases of unfinished jobs back");
            let _ = abandon_tx.send(true);
            while running.join_next().await.is_some() {}
        }
        drop(finished_tx);
        let _ = recorder.await;
    }

    /// Records finished jobs in batches: one statement completes every job that finished while
    /// the previous one ran, which is what lets a single-writer database keep up. A job's recording
    /// permit is freed once its success is recorded. A crash before that runs the job again (at
    /// least once).
    async fn record_successes(self: Arc<Self>, mut finished: mpsc::UnboundedReceiver<Finished>) {
        let mut batch = Vec::new();
        while finished.recv_many(&mut batch, MAX_COMPLETION_BATCH).await > 0 {
            let claims: Vec<Claimed> = batch.drain(..).map(|done: Finished| done.claim).collect();
            match self.store.complete_many(&claims, self.clock.now()).await {
                Ok(completed) => {
                    let completed: HashSet<Uuid> = completed.into_iter().collect();
                    for claim in &claims {
                        if completed.contains(&claim.job.id) {
                            metrics::counter!("gatehouse_jobs_succeeded_total", "kind" => claim.job.kind.clone())
                                .increment(1);
                        } else {
                            tracing::warn!(job = %claim.job.id, kind = claim.job.kind, "a job finished after its lease was lost");
                        }
                    }
                }
                Err(error) => tracing::warn!(
                    %error,
                    jobs = claims.len(),
                    "could not record finished jobs; they run again when their leases expire"
                ),
            }
        }
    }

    async fn run_one(
        &self,
        claim: Claimed,
        slot: OwnedSemaphorePermit,
        recording: Arc<Semaphore>,
        finished: mpsc::UnboundedSender<Finished>,
        mut abandon: watch::Receiver<bool>,
    ) {
        let kind = claim.job.kind.clone();
        let Some(handler) = self.handlers.get(kind.as_str()).cloned() else {
            // Claimed by kind, so this cannot happen; give it back rather than lose it.
            let _ = self.store.release(&claim).await;
            return;
        };
        metrics::counter!("gatehouse_jobs_started_total", "kind" => kind.clone()).increment(1);
        let work = tokio::time::timeout(handler.timeout(), handler.run(claim.job.payload.clone()));
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = self.keep_leased(&claim) => {
                tracing::warn!(job = %claim.job.id, kind, "lost the lease of a running job; another worker may run it");
                return;
            }
            () = abandoned(&mut abandon) => {
                if let Err(error) = self.store.release(&claim).await {
                    tracing::warn!(job = %claim.job.id, %error, "could not give a job back; it runs again when its lease expires");
                }
                return;
            }
        };
        let now = self.clock.now();
        let error = match outcome {
            Ok(Ok(())) => {
                let permit = recording.acquire_owned().await.expect("the semaphore is never closed");
                drop(slot);
                // The recorder is gone only if the worker stopped; the lease then runs out.
                let _ = finished.send(Finished { claim, _slot: permit });
                return;
            }
            Ok(Err(error)) => error,
            Err(_) => JobError::Retry(format!("timed out after {} s", handler.timeout().as_secs_f64())),
        };
        let failure = next_step(&handler.policy(), claim.job.attempts, &error, now, jitter());
        let dead = failure == Failure::Dead;
        match self.store.fail(&claim, error.message(), failure, now).await {
            Ok(_) if dead => {
                tracing::warn!(job = %claim.job.id, kind, attempts = claim.job.attempts, "a job is dead");
                metrics::counter!("gatehouse_jobs_dead_total", "kind" => kind).increment(1);
            }
            Ok(_) => metrics::counter!("gatehouse_jobs_failed_total", "kind" => kind).increment(1),
            Err(store_error) => tracing::warn!(job = %claim.job.id, %store_error, "could not record a failed attempt"),
        }
    }

    /// Extends the lease every third of its length; returns only when the lease is lost.
    async fn keep_leased(&self, claim: &Claimed) {
        let interval = self.settings.lease / 3;
        loop {
            tokio::time::sleep(interval).await;
            let until = after(self.clock.now(), self.settings.lease);
            match self.store.heartbeat(claim, until).await {
                Ok(true) => {}
                Ok(false) => return,
                // The database is unreachable: keep working; the next beat may get through.
                Err(error) => tracing::warn!(job = %claim.job.id, %error, "could not extend a job's lease"),
            }
        }
    }
}

/// Completes once the worker decides to give unfinished jobs back.
async fn abandoned(signal: &mut watch::Receiver<bool>) {
    let decided = signal.wait_for(|abandoned| *abandoned).await.is_ok();
    if !decided {
        // The worker is gone without deciding; its leases simply run out.
        std::future::pending::<()>().await;
    }
}

/// The longest wait a peer's `Retry-After` can impose on one retry: the header comes from outside
/// and must not park a job for years.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The delay a peer's `Retry-After` asks for, in its delta-seconds form (an HTTP date is ignored:
/// the retry schedule applies then).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// An error and its sources, `: `-separated: what a job records of a failed call to a peer.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What happens to a job whose attempt number `attempt` failed with `error`.
fn next_step(policy: &RetryPolicy, attempt: u32, error: &JobError, now: time::OffsetDateTime, jitter: f64) -> Failure {
    let delay = match error {
        JobError::Permanent(_) => None,
        JobError::Retry(_) => policy.next_delay(attempt, jitter),
        JobError::RetryAfter { after, .. } => {
            policy.next_delay(attempt, jitter).map(|backoff| backoff.max((*after).min(MAX_RETRY_AFTER)))
        }
    };
    match delay {
        Some(delay) => Failure::RetryAt(after(now, delay)),
        None => Failure::Dead,
    }
}

/// A uniform random number in [0, 1) for backoff jitter.
fn jitter() -> f64 {
    let mut bytes = [0_u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    // 53 random bits make every double in [0, 1) with a 2^-53 step.
    #[allow(clippy::cast_precision_loss)]
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1_u64 << 53) as f64;
    unit
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy =
        RetryPolicy { max_attempts: 3, base: Duration::from_secs(10), max: Duration::from_secs(60) };

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
    }

    #[test]
    fn failures_follow_the_policy_and_permanent_errors_end_the_job() {
        let retry = JobError::Retry("503".into());
        assert_eq!(next_step(&POLICY, 1, &retry, now(), 0.0), Failure::RetryAt(now() + time::Duration::seconds(5)));
        assert_eq!(next_step(&POLICY, 3, &retry, now(), 0.0), Failure::Dead, "the third attempt was the last");
        assert_eq!(next_step(&POLICY, 1, &JobError::Permanent("400".into()), now(), 0.0), Failure::Dead);
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_the_backoff() {
        let later = JobError::RetryAfter { error: "429".into(), after: Duration::from_secs(120) };
        assert_eq!(next_step(&POLICY, 1, &later, now(), 0.0), Failure::RetryAt(now() + time::Duration::seconds(120)));
        let sooner = JobError::RetryAfter { error: "429".into(), after: Duration::from_secs(1) };
        assert_eq!(next_step(&POLICY, 1, &sooner, now(), 0.0), Failure::RetryAt(now() + time::Duration::seconds(5)));
        assert_eq!(next_step(&POLICY, 3, &later, now(), 0.0), Failure::Dead, "but never past the last attempt");
        let forever = JobError::RetryAfter { error: "429".into(), after: Duration::from_secs(u64::MAX) };
        let capped = now() + time::Duration::try_from(MAX_RETRY_AFTER).expect("a day");
        assert_eq!(next_step(&POLICY, 1, &forever, now(), 0.0), Failure::RetryAt(capped), "a day at most");
    }

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
