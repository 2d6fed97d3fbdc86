//! The one place the origin reads the wall clock. Everything else takes `now` as an argument
//! (`clippy.toml` bans `SystemTime::now` elsewhere), so time-dependent logic is testable with
//! any clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. A clock set before 1970 reads as 0.
#[expect(clippy::disallowed_methods, reason = "the origin's single clock read")]
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
