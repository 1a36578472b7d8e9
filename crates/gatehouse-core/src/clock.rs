//! Time as a dependency. Expiry rules take the current time from a [`Clock`] so tests can freeze
//! or advance it instead of sleeping.
//!
//! Clocks tick in whole milliseconds, the precision the stores keep, so a time the domain computes
//! is exactly the time that is read back.

use std::sync::Mutex;
use time::OffsetDateTime;

/// Drops everything below the millisecond.
pub fn to_millis(time: OffsetDateTime) -> OffsetDateTime {
    let nanos = time.nanosecond();
    time.replace_nanosecond(nanos - nanos % 1_000_000).unwrap_or(time)
}

/// "2026-12-03 07:16 UTC": a time as the pages and notice emails show it.
pub fn readable_utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{}-{:02}-{:02} {:02}:{:02} UTC", at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute())
}

/// A source of the current wall-clock time, in whole milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        to_millis(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until told to move; for tests of expiry logic.
#[derive(Debug)]
pub struct FrozenClock {
    now: Mutex<OffsetDateTime>,
}

impl FrozenClock {
    pub fn at(now: OffsetDateTime) -> Self {
        Self { now: Mutex::new(to_millis(now)) }
    }

    pub fn advance(&self, by: time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = to_millis(*now + by);
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

    #[test]
    fn clocks_tick_in_whole_milliseconds() {
        let odd = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_234_567_891);
        assert_eq!(FrozenClock::at(odd).now(), OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_234));
        assert_eq!(SystemClock.now().nanosecond() % 1_000_000, 0);
    }
}
