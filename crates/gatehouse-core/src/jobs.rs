//! The durable job queue: what a job is, how it is retried, and the storage port the SQL adapters
//! implement.
//!
//! Jobs live in the SQL database, so nothing Gatehouse promises to send is lost on a crash or a
//! deploy. A worker *claims* a ready job with a lease (a fresh claim token and an expiry), extends
//! the lease while it works, and finishes it with that token; a job whose lease runs out is stalled
//! and claimed again by anyone. Every state change names the claim token, so a worker that lost
//! its lease can no longer complete, fail or extend a job someone else now holds.
//!
//! States: `ready` (waiting for `run_at`), `running` (leased), `succeeded`, `dead` (out of attempts,
//! or failed permanently; kept, listed, and retryable by command). A failed attempt with attempts
//! left goes back to `ready` with a later `run_at`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::store::StoreError;

/// A kind of job: its stable name, its payload type, and how it is retried.
pub trait JobType {
    /// Stored with every job; never rename one that may still be queued.
    const NAME: &'static str;
    type Payload: Serialize + DeserializeOwned + Send;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    /// How long one attempt may take before it counts as failed.
    fn timeout() -> Duration {
        Duration::from_secs(30)
    }
}

/// Exponential backoff with jitter: attempt `n` (1-based) that failed is retried after
/// `base * 2^(n-1)`, capped at `max`, scaled by a random factor in [0.5, 1.0) so that jobs that
/// failed together do not all come back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. At least 1.
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 8, base: Duration::from_secs(5), max: Duration::from_secs(3600) }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt after `failed_attempt` failed, or `None` when that was
    /// the last one. `jitter` is a uniform random number in [0, 1).
    pub fn next_delay(&self, failed_attempt: u32, jitter: f64) -> Option<Duration> {
        if failed_attempt >= self.max_attempts {
            return None;
        }
        let exponent = failed_attempt.saturating_sub(1).min(31);
        let full = self.base.saturating_mul(1_u32 << exponent).min(self.max);
        Some(full.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0))
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: OffsetDateTime,
    pub max_attempts: u32,
}

impl NewJob {
    /// A job of type `J`, ready at `run_at`.
    pub fn of<J: JobType>(payload: &J::Payload, run_at: OffsetDateTime) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::new_v4(),
            kind: J::NAME.to_owned(),
            payload: serde_json::to_value(payload)?,
            run_at,
            max_attempts: J::retry_policy().max_attempts.max(1),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Ready,
    Running,
    Succeeded,
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [Self::Ready, Self::Running, Self::Succeeded, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    /// Attempts started so far, the running one included.
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub run_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// A job this worker holds: the job and the claim token that proves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub job: Job,
    pub token: Uuid,
}

/// Queue figures for metrics, `/health` and `gatehouse jobs stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Jobs per kind and state.
    pub counts: Vec<(String, JobState, u64)>,
    /// How long the oldest job that is ready to run now has been waiting.
    pub oldest_ready_age: Option<Duration>,
}

/// How a failed attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Run again at this time.
    RetryAt(OffsetDateTime),
    /// No more attempts: the job is dead.
    Dead,
}

#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Enqueues jobs on their own. Jobs caused by another change are enqueued by that change's
    /// store method, in its transaction.
    async fn enqueue(&self, jobs: &[NewJob], now: OffsetDateTime) -> Result<(), StoreError>;

    /// Claims up to `max` of the ready jobs of `kinds` that have waited longest (or stalled ones
    /// whose lease expired), leasing them until `now + lease`, in one round trip. A stalled job
    /// that has used all its attempts is marked dead instead of being run again.
    async fn claim_many(
        &self,
        kinds: &[&str],
        now: OffsetDateTime,
        lease: Duration,
        max: u32,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// [`JobStore::claim_many`] for one job.
    async fn claim(&self, kinds: &[&str], now: OffsetDateTime, lease: Duration) -> Result<Option<Claimed>, StoreError> {
        Ok(self.claim_many(kinds, now, lease, 1).await?.pop())
    }

    /// Extends a lease; `false` when the claim is no longer this worker's.
    async fn heartbeat(&self, claim: &Claimed, until: OffsetDateTime) -> Result<bool, StoreError>;

    /// Completes many claims in as few statements as the claim batches allow; returns the ids of
    /// the jobs that were still this worker's.
    async fn complete_many(&self, claims: &[Claimed], now: OffsetDateTime) -> Result<Vec<Uuid>, StoreError>;

    /// [`JobStore::complete_many`] for one claim; `false` when it was no longer this worker's.
    async fn complete(&self, claim: &Claimed, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(!self.complete_many(std::slice::from_ref(claim), now).await?.is_empty())
    }

    async fn fail(
        &self,
        claim: &Claimed,
        error: &str,
        outcome: Failure,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Gives a job back without counting the attempt (a shutdown): ready again at once.
    async fn release(&self, claim: &Claimed) -> Result<bool, StoreError>;

    async fn job(&self, id: Uuid) -> Result<Option<Job>, StoreError>;

    /// Jobs in `state`, the most recent first.
    async fn jobs_in(&self, state: JobState, limit: u32) -> Result<Vec<Job>, StoreError>;

    /// Makes a dead job ready again with a fresh set of attempts; `false` if it is not dead.
    async fn retry_dead(&self, id: Uuid, now: OffsetDateTime, events: &[AuditEvent]) -> Result<bool, StoreError>;

    async fn stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError>;
}

/// `now` moved on by a standard duration (leases, retry delays), saturating instead of overflowing.
pub fn after(now: OffsetDateTime, by: Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| now.checked_add(by))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

/// Error texts are stored and shown to operators; they are cut to this many characters.
pub const MAX_ERROR_CHARS: usize = 1000;

/// `text` cut to [`MAX_ERROR_CHARS`] characters.
pub fn truncate_error(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_and_stops_after_the_last_attempt() {
        let policy = RetryPolicy { max_attempts: 6, base: Duration::from_secs(5), max: Duration::from_secs(60) };
        let top = |attempt| policy.next_delay(attempt, 0.999_999).expect("more attempts").as_secs_f64().round();
        assert_eq!([top(1), top(2), top(3), top(4), top(5)], [5.0, 10.0, 20.0, 40.0, 60.0]);
        assert_eq!(policy.next_delay(6, 0.5), None, "the sixth attempt was the last");
        assert_eq!(policy.next_delay(7, 0.5), None);
    }

    #[test]
    fn jitter_spreads_each_delay_over_its_upper_half() {
        let policy = RetryPolicy { max_attempts: 3, base: Duration::from_secs(10), max: Duration::from_secs(100) };
        assert_eq!(policy.next_delay(1, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(policy.next_delay(1, 0.5), Some(Duration::from_millis(7_500)));
        assert!(policy.next_delay(1, 0.999).expect("delay") < Duration::from_secs(10));
        assert_eq!(policy.next_delay(1, 7.0), Some(Duration::from_secs(10)), "out-of-range jitter is clamped");
    }

    #[test]
    fn moving_time_saturates_instead_of_panicking() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        assert_eq!(after(now, Duration::from_secs(60)), now + time::Duration::minutes(1));
        let end = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(after(now, Duration::from_secs(u64::MAX)), end, "past what a duration holds");
        assert_eq!(after(now, Duration::from_secs(400 * 365 * 86_400 * 100)), end, "past year 9999");
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let policy = RetryPolicy { max_attempts: u32::MAX, base: Duration::from_secs(1), max: Duration::from_secs(7) };
        assert_eq!(policy.next_delay(1000, 0.999_999).map(|d| d.as_secs_f64().round()), Some(7.0));
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
        }
        assert_eq!(JobState::parse("exploded"), None);
    }

    #[test]
    fn errors_are_cut_by_characters_not_bytes() {
        let long = "é".repeat(MAX_ERROR_CHARS + 5);
        assert_eq!(truncate_error(&long).chars().count(), MAX_ERROR_CHARS);
        assert_eq!(truncate_error("short"), "short");
    }
}
