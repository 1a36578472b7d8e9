//! One rate-limit decision on each backend: in process (sharded map, no I/O) and in Redis (one
//! `EVAL` round trip; needs `GATEHOUSE_TEST_REDIS_URL`, skipped otherwise). Keys rotate over a
//! thousand clients so the work is not one hot entry.
//!
//! Run with `cargo bench -p gatehouse --bench rate_limit`. The HTTP comparison with other servers
//! is the benchmark harness's job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use divan::Bencher;
use gatehouse_core::clock::SystemClock;
use gatehouse_core::rate_limit::{KeyPart, Policy};
use gatehouse_store::rate_limiter::{FailureMode, RateLimiter};
use gatehouse_store::redis::{Redis, RedisSettings};

fn main() {
    gatehouse::cli::install_tls_provider();
    divan::main();
}

fn policy() -> Policy {
    // High enough that the benchmark measures decisions, not refusals.
    Policy {
        name: "bench".into(),
        limit: 1_000_000_000,
        period: Duration::from_secs(1),
        burst: 1_000_000,
        key: vec![KeyPart::Ip],
    }
}

fn limiter(backend: &str) -> Option<RateLimiter> {
    let redis = match backend {
        "redis" => {
            let url = std::env::var("GATEHOUSE_TEST_REDIS_URL").ok().filter(|u| !u.is_empty());
            let Some(url) = url else {
                eprintln!("note: redis skipped: set GATEHOUSE_TEST_REDIS_URL to measure it");
                return None;
            };
            let settings = RedisSettings {
                url,
                key_prefix: format!("bench:{}:", uuid::Uuid::new_v4().simple()),
                timeout: Duration::from_millis(250),
                cluster: false,
                tls_ca_pem: None,
            };
            Some(Redis::connect(&settings).expect("redis settings"))
        }
        _ => None,
    };
    Some(RateLimiter::new(redis, 100_000, FailureMode::Fallback, Arc::new(SystemClock)))
}

#[divan::bench(args = ["in_process", "redis"])]
fn decision(bencher: Bencher, backend: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The Redis connection manager starts its background task on the current runtime.
    let _context = runtime.enter();
    let Some(limiter) = limiter(backend) else { return };
    let policy = policy();
    let keys: Vec<String> = (0..1000).map(|i| format!("bench:10.0.{}.{}", i / 256, i % 256)).collect();
    let next = AtomicUsize::new(0);
    bencher.bench_local(|| {
        let key = &keys[next.fetch_add(1, Ordering::Relaxed) % keys.len()];
        let (decision, _) = runtime.block_on(limiter.decide(&policy, key, 1));
        assert!(decision.allowed);
    });
}
