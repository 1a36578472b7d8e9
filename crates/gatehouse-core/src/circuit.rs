//! A circuit breaker: after repeated failures a dependency is left alone for a while, so no request
//! waits on something that is down, and then one probe request finds out whether it is back.
//!
//! Pure state: the caller passes the current instant and reports outcomes. Transitions are
//! returned so the caller can log exactly one line per change of state.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call is in flight; others are refused until it reports.
    HalfOpen,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Allowed,
    /// Allowed as the single probe after a cool-down.
    Probe,
    Denied,
}

/// A change of state worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Closed,
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    cool_down: Duration,
    consecutive_failures: u32,
    state: BreakerState,
    open_until: Option<Instant>,
}

impl CircuitBreaker {
    pub fn new(failure_threshold: u32, cool_down: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            cool_down,
            consecutive_failures: 0,
            state: BreakerState::Closed,
            open_until: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            BreakerState::Closed => Permit::Allowed,
            BreakerState::HalfOpen => Permit::Denied,
            BreakerState::Open => {
                if self.open_until.is_some_and(|until| now >= until) {
                    self.state = BreakerState::HalfOpen;
                    Permit::Probe
                } else {
                    Permit::Denied
                }
            }
        }
    }

    pub fn on_success(&mut self) -> Option<Transition> {
        self.consecutive_failures = 0;
        let was_open = self.state != BreakerState::Closed;
        self.state = BreakerState::Closed;
        self.open_until = None;
        was_open.then_some(Transition::Closed)
    }

    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        match self.state {
            BreakerState::HalfOpen => {
                self.open(now);
                None
            }
            BreakerState::Closed if self.consecutive_failures >= self.failure_threshold => {
                self.open(now);
                Some(Transition::Opened)
            }
            BreakerState::Closed | BreakerState::Open => None,
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.open_until = Some(now + self.cool_down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(3, Duration::from_secs(5));
        assert_eq!(breaker.on_failure(start), None);
        assert_eq!(breaker.on_failure(start), None);
        assert_eq!(breaker.permit(start), Permit::Allowed);
        assert_eq!(breaker.on_failure(start), Some(Transition::Opened));
        assert_eq!(breaker.permit(start + Duration::from_secs(4)), Permit::Denied);
        assert_eq!(breaker.permit(start + Duration::from_secs(5)), Permit::Probe);
        assert_eq!(breaker.permit(start + Duration::from_secs(5)), Permit::Denied, "one probe at a time");
        assert_eq!(breaker.on_success(), Some(Transition::Closed));
        assert_eq!(breaker.permit(start + Duration::from_secs(5)), Permit::Allowed);
    }

    #[test]
    fn a_failed_probe_reopens_quietly_and_successes_reset_the_count() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(2, Duration::from_secs(1));
        breaker.on_failure(start);
        breaker.on_success();
        assert_eq!(breaker.on_failure(start), None, "the count restarted after a success");
        assert_eq!(breaker.on_failure(start), Some(Transition::Opened));
        let later = start + Duration::from_secs(1);
        assert_eq!(breaker.permit(later), Permit::Probe);
        assert_eq!(breaker.on_failure(later), None, "still down: no new log line");
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.permit(later), Permit::Denied);
    }
}
