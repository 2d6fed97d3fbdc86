//! Rate limiting: Better Auth's limiter per client address and path, and a per-account
//! limit on failed sign-ins, which Better Auth lacks. Both are active only with rate
//! limiting on (`EDGEAUTH_RATE_LIMIT`; default on in production, off in development).
//!
//! **Per address** (Better Auth 1.4's rules and algorithm, as a middleware over every path
//! under `/api/auth`): a counter per `<address>|<path>` key, the path relative to
//! `/api/auth`; windows of 10 s, at most 3 requests for paths starting `/sign-in`,
//! `/sign-up`, `/change-password` or `/change-email`, 3 per 60 s for the mail-sending
//! `/request-password-reset` and `/send-verification-email` (Better Auth 1.7's rule), and
//! 100 for the rest. A request is
//! refused when the counter's last admitted request is less than a window ago and the count
//! has reached the maximum; otherwise the count restarts at 1 if the last admitted request is
//! more than a window ago, else it increments, and the last-request time becomes now (a
//! refused request changes nothing). The refusal is 429 with `X-Retry-After` (see
//! [`ApiError::too_many_requests`]).
//!
//! Fixes over Better Auth: the address comes only from a trusted source and IPv6 is keyed
//! on its /64 ([`crate::http::extract::client_ip`], GHSA-p6v2-xcpg-h6xw); the path is normalised before
//! the rule lookup and the key (the wire contract's
//! [`edgeauth_token::wire::normalize_path`], GHSA-x732-6j76-qmhm), so
//! `//api/auth/sign-in/email`, `/api/auth/sign-in/email/`, `/api/auth/./sign-in/email` or
//! `/api/auth/sign%2Din/email` all spend the `/sign-in/email` budget. (The router matches
//! paths literally, so those spellings answer 404 anyway and never reach a handler; the
//! limiter sits outside the router so it sees them, and does not depend on that.) A request
//! whose address is unknown is limited under one shared key, not waved through. CORS
//! preflights (`OPTIONS`) are not counted.
//!
//! **Per account**: `POST /sign-in/email` counts attempts per lower-cased email address,
//! from any client address, with the same algorithm (`EDGEAUTH_SIGNIN_FAILURE_LIMIT`
//! attempts, default 10 and never more than NIST's 100, each within
//! `EDGEAUTH_SIGNIN_FAILURE_WINDOW` of the previous, default 15 minutes). The
//! attempt is counted *before* the password is checked, in one atomic step, so concurrent
//! guesses cannot slip past the limit; a successful sign-in deletes the counter, so what
//! accumulates is failures. Once the limit is reached, sign-ins for that address answer 429
//! until a window has passed since the last counted attempt (refused attempts are not
//! counted, so the lock always ends on its own). Every address is counted, registered or
//! not, so the 429 reveals nothing about accounts. Other endpoints (password reset, when it
//! exists) are not affected by the lock.
//!
//! **Storage** (`EDGEAUTH_RATE_LIMIT_STORAGE`): this process's memory, bounded
//! ([`MemoryStore`]), or Better Auth's `rateLimit` table, shared by every origin process
//! (one upsert per request, see `db/rate_limit.rs`). If the database fails, the limiter does
//! not fail open and does not answer errors either: for the next few seconds it counts in
//! this process's memory instead (limits stay, per process), logging one warning per
//! episode; the endpoint itself then reports the database's state as usual.
//!
//! Time comes from the application's clock; windows are compared in milliseconds.

mod algorithm;
mod memory;
mod rules;

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

pub use self::algorithm::{retry_after_secs, Decision};
pub use self::memory::MemoryStore;
pub use self::rules::{address_key, signin_failure_key, PathRule, Rule, Rules};
use crate::config::{Config, RateLimitStorage};
use crate::db::{Db, RateLimitHit};
use crate::http::error::ApiError;

/// After a database failure, how long the limiter counts in memory before trying the
/// database again.
const DATABASE_RETRY_MS: i64 = 5_000;

/// How often (at most) a process deletes old `rateLimit` rows.
const PURGE_EVERY_MS: i64 = 5 * 60 * 1000;

/// `rateLimit` rows untouched for this long are deleted (at least an hour, so rows a Better
/// Auth server sharing the table keeps for longer custom windows survive).
const MIN_PURGE_AGE_MS: i64 = 60 * 60 * 1000;

/// The limiter: its switch, its storage and the sign-in failure rule.
#[derive(Debug)]
pub struct RateLimiter {
    enabled: bool,
    /// The per-path rules the features contribute.
    rules: Rules,
    /// `Some`: counters live in the `rateLimit` table.
    database: Option<Db>,
    /// Memory storage, and the fallback while the database fails.
    memory: MemoryStore,
    signin_failures: Rule,
    /// Epoch ms before which the database is not tried (it failed recently).
    database_retry_at: AtomicI64,
    /// Epoch ms of the next purge of old rows.
    next_purge_at: AtomicI64,
    purge_age_ms: i64,
}

impl RateLimiter {
    /// The limiter `config` asks for, with the features' `rules`, storing in `db` if the
    /// storage is `database`.
    pub fn new(config: &Config, db: &Db, rules: Rules) -> Self {
        let signin_failures = Rule {
            window_ms: i64::try_from(config.signin_failure_window)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            max: i64::from(config.signin_failure_limit),
        };
        let mut limiter = Self::in_memory(
            config.rate_limit,
            signin_failures,
            MemoryStore::DEFAULT_CAPACITY,
        );
        if config.rate_limit_storage == RateLimitStorage::Database {
            limiter.database = Some(db.clone());
        }
        limiter.rules = rules;
        limiter.purge_age_ms = signin_failures.window_ms.max(MIN_PURGE_AGE_MS);
        limiter
    }

    /// A limiter counting in memory (tests, and the base of [`RateLimiter::new`]).
    pub fn in_memory(enabled: bool, signin_failures: Rule, capacity: usize) -> Self {
        RateLimiter {
            enabled,
            rules: Rules::default(),
            database: None,
            memory: MemoryStore::new(capacity),
            signin_failures,
            database_retry_at: AtomicI64::new(i64::MIN),
            next_purge_at: AtomicI64::new(i64::MIN),
            purge_age_ms: MIN_PURGE_AGE_MS,
        }
    }

    /// Whether rate limiting is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The per-path rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The in-memory counters (the storage, or the database fallback).
    pub fn memory(&self) -> &MemoryStore {
        &self.memory
    }

    /// Counts a request against `key` under `rule` at `now`.
    pub async fn hit(&self, key: &str, rule: Rule, now: DateTime<Utc>) -> Decision {
        let now = now.timestamp_millis();
        if let Some(db) = &self.database {
            if now >= self.database_retry_at.load(Ordering::Relaxed) {
                let hit = match db.row_id("rateLimit").await {
                    Ok(id) => {
                        db.rate_limit_hit(&id, key, now, rule.window_ms, rule.max)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match hit {
                    Ok(hit) => {
                        self.maybe_purge(db, now);
                        return match hit {
                            RateLimitHit::Allowed => Decision::Allowed,
                            RateLimitHit::Limited { last_request } => Decision::Limited {
                                retry_after_secs: last_request
                                    .map_or(1, |last| retry_after_secs(last, now, rule.window_ms)),
                            },
                        };
                    }
                    Err(e) => {
                        self.database_retry_at
                            .store(now.saturating_add(DATABASE_RETRY_MS), Ordering::Relaxed);
                        tracing::warn!(
                            error = %e,
                            "rate limit storage failed: counting in this process's memory for {} s",
                            DATABASE_RETRY_MS / 1000
                        );
                    }
                }
            }
        }
        self.memory.hit(key, rule, now)
    }

    /// Forgets `key` in every storage (a failure is logged: the counter then simply
    /// expires with its window).
    pub async fn reset(&self, key: &str) {
        if let Some(db) = &self.database {
            if let Err(e) = db.rate_limit_reset(key).await {
                tracing::warn!(error = %e, "could not reset a rate limit counter");
            }
        }
        self.memory.reset(key);
    }

    /// Counts a sign-in attempt for `email` (see the module docs); 429 when the account's
    /// failure limit is reached. Nothing when rate limiting is off.
    pub async fn count_sign_in_attempt(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        match self
            .hit(&signin_failure_key(email), self.signin_failures, now)
            .await
        {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after_secs } => {
                tracing::warn!(
                    retry_after = retry_after_secs,
                    "sign-in refused: too many failed attempts for the account"
                );
                crate::metrics::rate_limited(crate::metrics::SIGNIN_FAILURES_RULE);
                Err(ApiError::too_many_requests(retry_after_secs))
            }
        }
    }

    /// Clears `email`'s failure count after a successful sign-in.
    pub async fn sign_in_succeeded(&self, email: &str) {
        if self.enabled {
            self.reset(&signin_failure_key(email)).await;
        }
    }

    /// Deletes long-untouched `rateLimit` rows, at most every [`PURGE_EVERY_MS`] per
    /// process, in the background.
    fn maybe_purge(&self, db: &Db, now: i64) {
        let due = self.next_purge_at.load(Ordering::Relaxed);
        if now < due
            || self
                .next_purge_at
                .compare_exchange(
                    due,
                    now.saturating_add(PURGE_EVERY_MS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let db = db.clone();
        let before = now.saturating_sub(self.purge_age_ms);
        tokio::spawn(async move {
            match db.rate_limit_purge(before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "old rate limit counters deleted"),
                Err(e) => tracing::warn!(error = %e, "could not delete old rate limit counters"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use chrono::{Duration, TimeZone};

    fn clock() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }

    #[tokio::test]
    async fn a_failing_database_falls_back_to_memory() {
        // Nothing listens on port 1: every database call fails.
        let db = Db::connect(Some("postgres://edgeauth@127.0.0.1:1/none")).unwrap();
        let mut limiter = RateLimiter::in_memory(true, Rule::STRICT, 100);
        limiter.database = Some(db);
        let clock = clock();
        for _ in 0..3 {
            assert_eq!(
                limiter.hit("k", Rule::STRICT, clock.now()).await,
                Decision::Allowed
            );
        }
        // Still limited (in memory), and the database is left alone for a while.
        assert!(matches!(
            limiter.hit("k", Rule::STRICT, clock.now()).await,
            Decision::Limited { .. }
        ));
        let retry_at = limiter.database_retry_at.load(Ordering::Relaxed);
        assert_eq!(retry_at, clock.now().timestamp_millis() + DATABASE_RETRY_MS);
    }

    #[tokio::test]
    async fn sign_in_failures_lock_and_release() {
        let clock = clock();
        let rule = Rule {
            window_ms: 900_000,
            max: 3,
        };
        let limiter = RateLimiter::in_memory(true, rule, 1000);
        for _ in 0..3 {
            limiter
                .count_sign_in_attempt("a@example.com", clock.now())
                .await
                .unwrap();
            clock.advance(Duration::seconds(60));
        }
        let refused = limiter
            .count_sign_in_attempt("A@EXAMPLE.COM", clock.now())
            .await
            .unwrap_err();
        assert_eq!(refused.retry_after(), Some(840));
        // Other accounts are unaffected.
        limiter
            .count_sign_in_attempt("b@example.com", clock.now())
            .await
            .unwrap();
        // Refused attempts do not extend the lock: it ends a window after the last failure.
        clock.advance(Duration::seconds(839));
        assert!(limiter
            .count_sign_in_attempt("a@example.com", clock.now())
            .await
            .is_err());
        clock.advance(Duration::seconds(1));
        limiter
            .count_sign_in_attempt("a@example.com", clock.now())
            .await
            .unwrap();
        // That attempt succeeds: the count is cleared.
        limiter.sign_in_succeeded("a@example.com").await;
        for _ in 0..3 {
            limiter
                .count_sign_in_attempt("a@example.com", clock.now())
                .await
                .unwrap();
        }
        assert!(limiter
            .count_sign_in_attempt("a@example.com", clock.now())
            .await
            .is_err());
        // Off: nothing is counted.
        let off = RateLimiter::in_memory(false, rule, 1000);
        for _ in 0..10 {
            off.count_sign_in_attempt("a@example.com", clock.now())
                .await
                .unwrap();
        }
        assert!(off.memory().is_empty());
    }
}
