//! Time as a dependency. Expiry rules take the current time from a [`Clock`] so tests can freeze
//! or advance it instead of sleeping.

use std::sync::Mutex;
use time::OffsetDateTime;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until told to move; for tests of expiry logic.
#[derive(Debug)]
pub struct FrozenClock {
    now: Mutex<OffsetDateTime>,
}

impl FrozenClock {
    pub fn at(now: OffsetDateTime) -> Self {
        Self { now: Mutex::new(now) }
    }

    pub fn advance(&self, by: time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for FrozenClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let clock = FrozenClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(time::Duration::minutes(5));
        assert_eq!(clock.now(), start + time::Duration::minutes(5));
    }
}
