//! Better Auth's rate-limit algorithm, one counter at a time, with no storage of its own.

use super::rules::Rule;

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted (and counted).
    Allowed,
    /// Refused: retry in this many seconds (at least 1).
    Limited {
        /// `X-Retry-After`.
        retry_after_secs: u64,
    },
}

/// One counter: admitted requests and the time of the last one (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counter {
    pub(super) count: i64,
    pub(super) last_request: i64,
}

/// Better Auth's algorithm: the counter after admitting a request at `now`, or the seconds
/// to wait when it is refused.
pub(super) fn step(previous: Option<Counter>, now: i64, rule: Rule) -> Result<Counter, u64> {
    let Some(previous) = previous else {
        return Ok(Counter {
            count: 1,
            last_request: now,
        });
    };
    let since_last = now.saturating_sub(previous.last_request);
    if since_last < rule.window_ms && previous.count >= rule.max {
        return Err(retry_after_secs(previous.last_request, now, rule.window_ms));
    }
    let count = if since_last > rule.window_ms {
        1
    } else {
        previous.count.saturating_add(1)
    };
    Ok(Counter {
        count,
        last_request: now,
    })
}

/// `ceil((last_request + window - now) / 1 s)`, at least 1.
pub fn retry_after_secs(last_request: i64, now: i64, window_ms: i64) -> u64 {
    let remaining = last_request.saturating_add(window_ms).saturating_sub(now);
    u64::try_from(remaining.saturating_add(999) / 1000)
        .unwrap_or(0)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::super::memory::MemoryStore;
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use chrono::{Duration, TimeZone, Utc};

    fn clock() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }

    #[test]
    fn the_algorithm_at_its_boundaries() {
        let clock = clock();
        let store = MemoryStore::new(100);
        let rule = Rule::STRICT;
        let hit = |clock: &ManualClock| store.hit("k", rule, clock.now().timestamp_millis());
        let ms = |n| Duration::milliseconds(n);
        assert_eq!(hit(&clock), Decision::Allowed);
        clock.advance(ms(1));
        assert_eq!(hit(&clock), Decision::Allowed);
        clock.advance(ms(1));
        assert_eq!(hit(&clock), Decision::Allowed); // t = 2: count 3
        clock.advance(ms(1));
        // t = 3: refused; retry = ceil((2 + 10000 - 3) / 1000) = 10.
        assert_eq!(
            hit(&clock),
            Decision::Limited {
                retry_after_secs: 10
            }
        );
        clock.advance(ms(9_998)); // t = 10001: 9999 ms after the last admitted request
        assert_eq!(
            hit(&clock),
            Decision::Limited {
                retry_after_secs: 1
            }
        );
        clock.advance(ms(1)); // t = 10002: exactly one window: admitted, count 4
        assert_eq!(hit(&clock), Decision::Allowed);
        clock.advance(ms(1)); // the window slid to the last admitted request
        assert_eq!(
            hit(&clock),
            Decision::Limited {
                retry_after_secs: 10
            }
        );
        clock.advance(ms(10_000)); // t = 20003: 10001 ms since the last admitted: restart
        assert_eq!(hit(&clock), Decision::Allowed);
        assert_eq!(hit(&clock), Decision::Allowed);
        assert_eq!(hit(&clock), Decision::Allowed);
        assert!(matches!(hit(&clock), Decision::Limited { .. }));
        // Other keys and rules are independent.
        let now = clock.now().timestamp_millis();
        assert_eq!(store.hit("k2", rule, now), Decision::Allowed);
        assert_eq!(store.hit("k3", Rule::DEFAULT, now), Decision::Allowed);
        store.reset("k");
        assert_eq!(hit(&clock), Decision::Allowed);
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        assert_eq!(retry_after_secs(0, 0, 10_000), 10);
        assert_eq!(retry_after_secs(0, 1, 10_000), 10);
        assert_eq!(retry_after_secs(0, 1_000, 10_000), 9);
        assert_eq!(retry_after_secs(0, 9_999, 10_000), 1);
        assert_eq!(retry_after_secs(0, 10_000, 10_000), 1);
        assert_eq!(retry_after_secs(0, -5_000, 10_000), 15);
    }
}
