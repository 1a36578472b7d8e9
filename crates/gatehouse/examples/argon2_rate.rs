//! Raw argon2id verification rate at Gatehouse's default parameters, on every core: the bound that
//! login throughput is compared against in the benchmark harness. Prints verifications per second.
//!
//! Usage: argon2_rate [seconds]

use std::time::{Duration, Instant};

use gatehouse_core::password::{HashParams, Password, PasswordHasher, Verification};

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let hasher = PasswordHasher::new(HashParams::OWASP_MINIMUM).expect("parameters");
    let password = Password::for_login("a long benchmark passphrase");
    let hash = hasher.hash(&password, [7; 16]).expect("hash");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0_u64;
                    let mut workspace = hasher.workspace();
                    while Instant::now() < deadline {
                        // Login verifies, so verification is what is measured, in reused memory as
                        // Gatehouse's hashing threads do.
                        assert!(matches!(
                            hasher.verify_in(&mut workspace, &hash, &password),
                            Verification::Valid { .. }
                        ));
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    println!("{:.1}", total as f64 / started.elapsed().as_secs_f64());
}
