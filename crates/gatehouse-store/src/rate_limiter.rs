//! Rate-limit backends: Redis (one atomic Lua call per decision, shared by every instance) and an
//! in-process limiter (sharded, bounded), with the configured behaviour when Redis fails.
//!
//! Never unlimited by accident: when Redis cannot answer, `fallback` (the default) decides in
//! process, so limits still hold per instance; `open` and `closed` are explicit choices to allow or
//! refuse. Every decision and fallback is counted.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gatehouse_core::circuit::BreakerState;
use gatehouse_core::clock::Clock;
use gatehouse_core::health::{DependencyCheck, DependencyReport};
use gatehouse_core::rate_limit::{Decision, Policy, decide};

use crate::redis::Redis;

/// GCRA in Lua, the same arithmetic as `gatehouse_core::rate_limit::decide`, on Redis's clock.
/// KEYS[1] = bucket; ARGV = emission interval ms, tolerance ms, cost.
const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
local allowed = 0
local stored = tat
if now >= allow_at then
  allowed = 1
  stored = new_tat
  redis.call('SET', KEYS[1], stored, 'PX', math.max(stored - now, 1))
end
local remaining = math.floor((now + tolerance - stored) / interval)
if remaining < 0 then remaining = 0 end
local retry = 0
if allowed == 0 then retry = allow_at - now end
return {allowed, remaining, stored - now, retry}
";

const SHARDS: usize = 64;

/// What to do when Redis cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Decide in process: limits hold per instance.
    Fallback,
    /// Allow the request.
    Open,
    /// Refuse the request.
    Closed,
}

/// Which backend made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    Redis,
    InProcess,
    /// Redis failed and the failure mode decided without counting.
    FailureMode,
}

impl DecidedBy {
    fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Redis => "redis",
            DecidedBy::InProcess => "in_process",
            DecidedBy::FailureMode => "failure_mode",
        }
    }
}

/// In-process GCRA: one TAT per key, in shards so concurrent decisions rarely contend. Each shard
/// holds at most `max_keys / SHARDS` keys; when full, keys whose bucket has refilled (TAT in the
/// past, equivalent to an absent key) are dropped first, then the stalest.
#[derive(Debug)]
pub struct LocalLimiter {
    shards: Vec<Mutex<HashMap<String, i64>>>,
    max_per_shard: usize,
}

impl LocalLimiter {
    pub fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            max_per_shard: (max_keys / SHARDS).max(16),
        }
    }

    pub fn decide(&self, policy: &Policy, key: &str, now_ms: i64, cost: u32) -> Decision {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % SHARDS as u64).unwrap_or(0);
        let mut shard = self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (decision, tat) = decide(policy, now_ms, shard.get(key).copied(), cost);
        if decision.allowed {
            if shard.len() >= self.max_per_shard && !shard.contains_key(key) {
                shard.retain(|_, tat| *tat > now_ms);
                if shard.len() >= self.max_per_shard
                    && let Some(stalest) = shard.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| k.clone())
                {
                    shard.remove(&stalest);
                }
            }
            shard.insert(key.to_owned(), tat);
        }
        decision
    }

    /// Keys held now, for tests of the bound.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The limiter the application uses.
#[derive(Debug, Clone)]
pub struct RateLimiter(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Option<Redis>,
    local: LocalLimiter,
    mode: FailureMode,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(redis: Option<Redis>, max_local_keys: usize, mode: FailureMode, clock: Arc<dyn Clock>) -> Self {
        Self(Arc::new(Inner { redis, local: LocalLimiter::new(max_local_keys), mode, clock }))
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.0.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Decides one request of `cost` for `key` under `policy`. `key` is namespaced by the caller.
    pub async fn decide(&self, policy: &Policy, key: &str, cost: u32) -> (Decision, DecidedBy) {
        let outcome = match &self.0.redis {
            None => (self.0.local.decide(policy, key, self.now_ms(), cost), DecidedBy::InProcess),
            Some(redis) => match self.decide_in_redis(redis, policy, key, cost).await {
                Some(decision) => (decision, DecidedBy::Redis),
                None => {
                    metrics::counter!("gatehouse_rate_limit_fallbacks_total").increment(1);
                    match self.0.mode {
                        FailureMode::Fallback => {
                            (self.0.local.decide(policy, key, self.now_ms(), cost), DecidedBy::InProcess)
                        }
                        FailureMode::Open => (unlimited(policy), DecidedBy::FailureMode),
                        FailureMode::Closed => (refused(policy), DecidedBy::FailureMode),
                    }
                }
            },
        };
        let labels = [
            ("policy", if policy.name.starts_with("app:") { "app".to_owned() } else { policy.name.clone() }),
            ("outcome", if outcome.0.allowed { "allowed" } else { "limited" }.to_owned()),
            ("backend", outcome.1.as_str().to_owned()),
        ];
        metrics::counter!("gatehouse_rate_limit_decisions_total", &labels).increment(1);
        outcome
    }

    async fn decide_in_redis(&self, redis: &Redis, policy: &Policy, key: &str, cost: u32) -> Option<Decision> {
        // By its SHA-1: the script is sent once per Redis (again after a restart), not per decision.
        static SCRIPT: std::sync::LazyLock<redis::Script> =
            std::sync::LazyLock::new(|| redis::Script::new(GCRA_SCRIPT));
        let mut invocation = SCRIPT.key(redis.key(&format!("rl:{key}")));
        invocation.arg(policy.emission_interval_ms()).arg(policy.tolerance_ms()).arg(cost);
        let reply: Vec<i64> = redis.invoke(&invocation).await.ok()?;
        let [allowed, remaining, reset_after_ms, retry_after_ms] = reply[..] else { return None };
        Some(Decision {
            allowed: allowed == 1,
            limit: policy.burst.max(1),
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after_ms,
            retry_after_ms,
        })
    }
}

fn unlimited(policy: &Policy) -> Decision {
    Decision {
        allowed: true,
        limit: policy.burst.max(1),
        remaining: policy.burst.max(1),
        reset_after_ms: 0,
        retry_after_ms: 0,
    }
}

fn refused(policy: &Policy) -> Decision {
    let retry = policy.emission_interval_ms();
    Decision { allowed: false, limit: policy.burst.max(1), remaining: 0, reset_after_ms: retry, retry_after_ms: retry }
}

#[async_trait]
impl gatehouse_core::rate_limit::Limiter for RateLimiter {
    async fn decide(&self, policy: &Policy, key: &str, cost: u32) -> Decision {
        RateLimiter::decide(self, policy, key, cost).await.0
    }
}

/// `/health` reports where limits are decided: shared in Redis (`ok`), or per instance because
/// Redis is unreachable (`degraded`).
#[async_trait]
impl DependencyCheck for RateLimiter {
    fn name(&self) -> &'static str {
        "rate_limiter"
    }

    async fn check(&self) -> DependencyReport {
        match &self.0.redis {
            None => DependencyReport {
                status: gatehouse_core::health::DependencyStatus::Ok,
                latency_ms: None,
                detail: Some("in-process (limits per instance)".into()),
            },
            Some(redis) if redis.breaker_state() == BreakerState::Closed => DependencyReport::ok(0),
            Some(_) => DependencyReport::degraded(
                None,
                match self.0.mode {
                    FailureMode::Fallback => "Redis unreachable: limits apply per instance",
                    FailureMode::Open => "Redis unreachable: limits are not enforced (failure_mode = open)",
                    FailureMode::Closed => "Redis unreachable: limited routes refuse requests (failure_mode = closed)",
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::rate_limit::KeyPart;
    use std::time::Duration;

    fn policy(limit: u32) -> Policy {
        Policy { name: "t".into(), limit, period: Duration::from_secs(3600), burst: limit, key: vec![KeyPart::Ip] }
    }

    #[test]
    fn the_local_limiter_is_exact_per_key() {
        let limiter = LocalLimiter::new(10_000);
        let allowed = (0..1000).filter(|_| limiter.decide(&policy(100), "k", 0, 1).allowed).count();
        assert_eq!(allowed, 100);
        assert!(limiter.decide(&policy(100), "other", 0, 1).allowed, "keys are independent");
    }

    #[test]
    fn the_local_limiter_stays_bounded_and_forgets_refilled_keys_first() {
        let limiter = LocalLimiter::new(SHARDS * 16);
        for i in 0..10_000 {
            limiter.decide(&policy(10), &format!("key-{i}"), i, 1);
        }
        assert!(limiter.len() <= SHARDS * 16, "{}", limiter.len());
    }
}
