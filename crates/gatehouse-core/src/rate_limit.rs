//! Rate limiting: named policies and the GCRA decision.
//!
//! GCRA (the generic cell rate algorithm) keeps one number per key, the theoretical arrival time
//! (TAT) of the next request at the sustained rate. A request is allowed when, after adding its
//! cost, the TAT is no more than `burst` emission intervals ahead of now. It is as exact as a
//! sliding window and, unlike a fixed window, never lets twice the limit through at a window edge.
//! The same arithmetic runs in-process and inside Redis (as a Lua script), so both backends agree.

use std::time::Duration;

/// What a policy counts by. A policy's key joins the values of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    /// The client IP, as resolved through the trusted proxies.
    Ip,
    /// The signed-in user.
    User,
    /// The email or account submitted in the request (login, signup, reset), normalized.
    Account,
    /// The route template.
    Route,
    /// The service API key.
    ApiKey,
}

impl KeyPart {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ip" => Some(KeyPart::Ip),
            "user" => Some(KeyPart::User),
            "account" => Some(KeyPart::Account),
            "route" => Some(KeyPart::Route),
            "api_key" => Some(KeyPart::ApiKey),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyPart::Ip => "ip",
            KeyPart::User => "user",
            KeyPart::Account => "account",
            KeyPart::Route => "route",
            KeyPart::ApiKey => "api_key",
        }
    }
}

/// `limit` requests per `period`, of which up to `burst` may come at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub limit: u32,
    pub period: Duration,
    pub burst: u32,
    pub key: Vec<KeyPart>,
}

impl Policy {
    /// Time between two requests at the sustained rate, in milliseconds (at least 1), rounded
    /// up: a rate that does not divide into whole milliseconds is held slightly under its limit,
    /// never over it (600 a second is one per 2 ms, 500 a second, not one per 1 ms).
    pub fn emission_interval_ms(&self) -> i64 {
        let period_ms = i64::try_from(self.period.as_millis()).unwrap_or(i64::MAX);
        let limit = i64::from(self.limit.max(1));
        (period_ms / limit + i64::from(period_ms % limit != 0)).max(1)
    }

    /// How far ahead of now the TAT may run: the whole burst.
    pub fn tolerance_ms(&self) -> i64 {
        self.emission_interval_ms().saturating_mul(i64::from(self.burst.max(1)))
    }
}

/// The policies that ship turned on, by name. They protect the credential endpoints against
/// stuffing and enumeration, with numbers a person never meets: many people can share one IP
/// (offices, mobile carriers), so per-IP limits are generous and per-account limits tight.
pub fn builtin_policies() -> Vec<Policy> {
    let policy = |name: &str, limit, period_secs, burst, key: &[KeyPart]| Policy {
        name: name.to_owned(),
        limit,
        period: Duration::from_secs(period_secs),
        burst,
        key: key.to_vec(),
    };
    vec![
        policy("signup_ip", 30, 3600, 10, &[KeyPart::Ip]),
        policy("login_ip", 100, 300, 50, &[KeyPart::Ip]),
        policy("login_account", 10, 900, 10, &[KeyPart::Account]),
        policy("password_reset_ip", 20, 3600, 5, &[KeyPart::Ip]),
        policy("password_reset_account", 5, 3600, 3, &[KeyPart::Account]),
        policy("magic_link_ip", 20, 3600, 5, &[KeyPart::Ip]),
        policy("magic_link_account", 5, 3600, 3, &[KeyPart::Account]),
        policy("verification_ip", 20, 3600, 5, &[KeyPart::Ip]),
        policy("verification_account", 5, 3600, 3, &[KeyPart::Account]),
        policy("oauth_ip", 60, 300, 30, &[KeyPart::Ip]),
    ]
}

/// The outcome of one decision, in the shape the headers and the decision API need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The burst: how many requests a fresh key may make at once.
    pub limit: u32,
    pub remaining: u32,
    /// Until the key is back to its full burst.
    pub reset_after_ms: i64,
    /// Until a request of this cost would be allowed; 0 when allowed.
    pub retry_after_ms: i64,
}

/// Where decisions are made (Redis, or in process): the port the HTTP layer calls.
#[async_trait::async_trait]
pub trait Limiter: Send + Sync + std::fmt::Debug {
    /// Decides one request of `cost` for `key` (already namespaced by the caller) under `policy`.
    async fn decide(&self, policy: &Policy, key: &str, cost: u32) -> Decision;
}

/// Decides one request of `cost` at `now_ms` for a key whose stored TAT is `tat_ms`. Returns the
/// decision and the TAT to store (unchanged when refused).
pub fn decide(policy: &Policy, now_ms: i64, tat_ms: Option<i64>, cost: u32) -> (Decision, i64) {
    let interval = policy.emission_interval_ms();
    let tolerance = policy.tolerance_ms();
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat.saturating_add(interval.saturating_mul(i64::from(cost)));
    let allow_at = new_tat - tolerance;
    let (allowed, stored_tat) = if now_ms >= allow_at { (true, new_tat) } else { (false, tat) };
    let headroom = now_ms + tolerance - stored_tat;
    let remaining = u32::try_from((headroom / interval).max(0)).unwrap_or(u32::MAX);
    let decision = Decision {
        allowed,
        limit: policy.burst.max(1),
        remaining,
        reset_after_ms: (stored_tat - now_ms).max(0),
        retry_after_ms: if allowed { 0 } else { allow_at - now_ms },
    };
    (decision, stored_tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: u32, period_secs: u64, burst: u32) -> Policy {
        Policy { name: "test".into(), limit, period: Duration::from_secs(period_secs), burst, key: vec![KeyPart::Ip] }
    }

    /// Runs `n` requests at `now`, threading the TAT; returns how many were allowed.
    fn run(policy: &Policy, now: i64, tat: &mut Option<i64>, n: u32) -> u32 {
        (0..n)
            .filter(|_| {
                let (decision, stored) = decide(policy, now, *tat, 1);
                *tat = Some(stored);
                decision.allowed
            })
            .count() as u32
    }

    #[test]
    fn a_burst_is_allowed_at_once_and_then_the_sustained_rate() {
        let p = policy(10, 60, 5);
        let mut tat = None;
        assert_eq!(run(&p, 0, &mut tat, 20), 5, "the burst");
        assert_eq!(run(&p, 5_999, &mut tat, 5), 0, "nothing before one interval");
        assert_eq!(run(&p, 6_000, &mut tat, 5), 1, "one per 6 s interval");
        assert_eq!(run(&p, 60_000, &mut tat, 20), 5, "a full minute later, the full burst again");
    }

    #[test]
    fn no_window_edge_lets_twice_the_limit_through() {
        // 100 per minute, burst 100: however requests are timed, any 60 s span admits at most
        // 100 + the ones that replenished during it, never 200 at an edge.
        let p = policy(100, 60, 100);
        let mut tat = None;
        assert_eq!(run(&p, 59_000, &mut tat, 100), 100);
        assert_eq!(run(&p, 61_000, &mut tat, 100), 3, "only what 2 s replenished (one per 600 ms)");
    }

    #[test]
    fn decisions_report_remaining_reset_and_retry() {
        let p = policy(10, 60, 5);
        let (first, tat) = decide(&p, 0, None, 1);
        assert_eq!((first.allowed, first.limit, first.remaining, first.retry_after_ms), (true, 5, 4, 0));
        assert_eq!(first.reset_after_ms, 6_000);
        let (_, tat) = decide(&p, 0, Some(tat), 4);
        let (refused, unchanged) = decide(&p, 0, Some(tat), 1);
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.retry_after_ms, refused.reset_after_ms), (0, 6_000, 30_000));
        assert_eq!(unchanged, tat, "a refusal costs nothing");
        let (expensive, _) = decide(&p, 0, None, 6);
        assert!(!expensive.allowed, "a cost above the burst never passes");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn policies() -> impl Strategy<Value = Policy> {
            (1_u32..=2_000, 1_u64..=600, 1_u32..=200)
                .prop_map(|(limit, period_secs, burst)| policy(limit, period_secs, burst))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// However requests are timed, no span of one period admits more than the burst plus
            /// the limit: the edge of a window never doubles it, and rounding never raises it.
            #[test]
            fn no_period_admits_more_than_the_limit_plus_the_burst(
                (policy, gaps) in policies().prop_flat_map(|policy| {
                    // Floods (gaps of 0 to a few ms) and paced traffic (around the interval), long
                    // enough to pass the limit plus the burst twice over.
                    let interval = policy.emission_interval_ms();
                    let longest = prop_oneof![Just(0), Just(1), Just(3), Just(interval), Just(interval * 3)];
                    let requests = 2 * (policy.limit + policy.burst) as usize + 10;
                    let gaps = longest.prop_flat_map(move |longest| proptest::collection::vec(0..=longest, requests));
                    (Just(policy), gaps)
                }),
                start in 0_i64..=1_000_000_000,
            ) {
                let period_ms = i64::try_from(policy.period.as_millis()).expect("ms");
                let mut now = start;
                let mut tat = None;
                let mut allowed = Vec::new();
                for gap in gaps {
                    now += gap;
                    let (decision, stored) = decide(&policy, now, tat, 1);
                    tat = Some(stored);
                    prop_assert!(decision.remaining <= policy.burst, "remaining {} > burst", decision.remaining);
                    if decision.allowed {
                        allowed.push(now);
                    } else {
                        prop_assert!(decision.retry_after_ms > 0);
                    }
                }
                let bound = (policy.limit + policy.burst) as usize;
                // For each allowed request, the ones allowed in the period that starts with it.
                let mut end = 0;
                for (first, at) in allowed.iter().enumerate() {
                    while end < allowed.len() && allowed[end] < at + period_ms {
                        end += 1;
                    }
                    let within = end - first;
                    prop_assert!(within <= bound, "{within} allowed in one period from {at}; limit + burst is {bound}");
                }
            }

            /// A refused request is told exactly when it would pass: not a millisecond sooner, and
            /// then it does.
            #[test]
            fn retry_after_is_exact(
                policy in policies(),
                cost in 1_u32..=5,
                flood in 1_u32..=400,
                now in 0_i64..=1_000_000_000,
            ) {
                let mut tat = None;
                for _ in 0..flood {
                    tat = Some(decide(&policy, now, tat, 1).1);
                }
                let (decision, stored) = decide(&policy, now, tat, cost);
                if !decision.allowed && cost <= policy.burst {
                    prop_assert_eq!(stored, tat.expect("tat"), "a refusal stores nothing");
                    let wait = decision.retry_after_ms;
                    prop_assert!(!decide(&policy, now + wait - 1, tat, cost).0.allowed);
                    prop_assert!(decide(&policy, now + wait, tat, cost).0.allowed);
                }
            }
        }
    }
}
