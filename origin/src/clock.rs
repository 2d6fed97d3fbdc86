//! Time. The one place the origin reads the wall clock is [`SystemClock`]; everything else
//! takes the current time from a [`Clock`] (`clippy.toml` bans `SystemTime::now` elsewhere),
//! so tests can drive time with [`ManualClock`].

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Duration, DurationRound, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, at millisecond precision (what Better Auth stores).
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        to_millis(DateTime::<Utc>::from(system_now()))
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(to_millis(at)))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = to_millis(at);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|now| *now).unwrap_or_default()
    }
}

/// Seconds since the Unix epoch, from the wall clock. A clock set before 1970 reads as 0.
pub fn now_unix() -> u64 {
    system_now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[expect(clippy::disallowed_methods, reason = "the origin's single clock read")]
fn system_now() -> SystemTime {
    SystemTime::now()
}

fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::milliseconds(1)).unwrap_or(at)
}
