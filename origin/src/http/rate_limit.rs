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
//! on its /64 ([`super::client_ip`], GHSA-p6v2-xcpg-h6xw); the path is normalised before
//! the rule lookup and the key ([`normalize_path`], GHSA-x732-6j76-qmhm), so
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::client_ip::ClientIp;
use super::error::ApiError;
use super::{AppState, BASE_PATH};
use crate::config::{Config, RateLimitStorage};
use crate::db::{Db, RateLimitHit};

/// A limit: at most `max` requests while each follows the previous within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The window, in milliseconds.
    pub window_ms: i64,
    /// Requests admitted per window.
    pub max: i64,
}

impl Rule {
    /// Better Auth's default: 100 requests per 10 s.
    pub const DEFAULT: Rule = Rule {
        window_ms: 10_000,
        max: 100,
    };
    /// Better Auth's rule for sign-in, sign-up, change-password, change-email: 3 per 10 s.
    pub const STRICT: Rule = Rule {
        window_ms: 10_000,
        max: 3,
    };
}

impl Rule {
    /// Better Auth 1.7's rule for the endpoints that send mail: 3 per 60 s, so one client
    /// cannot flood an inbox (1.4 leaves them at the default).
    pub const MAIL: Rule = Rule {
        window_ms: 60_000,
        max: 3,
    };
}

/// Paths (relative to `/api/auth`) under [`Rule::MAIL`], matched as prefixes.
pub const MAIL_PREFIXES: [&str; 2] = ["/request-password-reset", "/send-verification-email"];

/// Paths (relative to `/api/auth`) under [`Rule::STRICT`], matched as prefixes.
pub const STRICT_PREFIXES: [&str; 4] =
    ["/sign-in", "/sign-up", "/change-password", "/change-email"];

/// The rule for a normalised path relative to `/api/auth`.
pub fn rule_for(path: &str) -> Rule {
    if MAIL_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        Rule::MAIL
    } else if STRICT_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
    {
        Rule::STRICT
    } else {
        Rule::DEFAULT
    }
}

/// A URL path in one spelling: percent-encoded unreserved characters (`A-Z a-z 0-9 - . _
/// ~`) decoded and other escapes upper-cased (RFC 3986 §6.2.2), then empty segments
/// (repeated and trailing slashes) dropped and `.` / `..` segments resolved (never above
/// the root). The result starts with `/` and has no trailing slash (except `/` itself).
pub fn normalize_path(path: &str) -> String {
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    format!("/{}", segments.join("/"))
}

fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok().map(|b| (b, hex)));
        match escape {
            Some((byte, _)) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some((_, hex)) => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
                i += 3;
            }
            None => {
                let len = path[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&path[i..i + len]);
                i += len;
            }
        }
    }
    out
}

/// The normalised path relative to `/api/auth` (`/sign-in/email`), or `None` for paths
/// outside it (`/healthz`), which are not limited.
pub fn auth_relative_path(path: &str) -> Option<String> {
    let path = normalize_path(path);
    let rest = path.strip_prefix(BASE_PATH)?;
    if rest.is_empty() {
        Some("/".to_string())
    } else if rest.starts_with('/') {
        Some(rest.to_string())
    } else {
        None
    }
}

/// Longest path kept in a key: longer ones (404s all) share the key of their prefix, so a
/// flood of long paths cannot make keys large.
const MAX_KEY_PATH: usize = 128;

/// The per-address key: `<address>|<path>` (Better Auth's shape).
pub fn address_key(ip: &ClientIp, path: &str) -> String {
    let mut end = path.len().min(MAX_KEY_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}|{}", ip.limit_key(), &path[..end])
}

/// Longest email kept readable in a key; longer ones are hashed.
const MAX_KEY_EMAIL: usize = 320;

/// The per-account key: `signin-failures|<lower-cased email>` (the address sign-in looks
/// up), or a SHA-256 of it for addresses too long to be real.
pub fn signin_failure_key(email: &str) -> String {
    let email = email.to_lowercase();
    if email.len() <= MAX_KEY_EMAIL {
        format!("signin-failures|{email}")
    } else {
        format!(
            "signin-failures|sha256:{}",
            hex::encode(Sha256::digest(email.as_bytes()))
        )
    }
}

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
struct Counter {
    count: i64,
    last_request: i64,
}

/// Better Auth's algorithm: the counter after admitting a request at `now`, or the seconds
/// to wait when it is refused.
fn step(previous: Option<Counter>, now: i64, rule: Rule) -> Result<Counter, u64> {
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

/// Counters in this process's memory, bounded: expired counters (last request more than
/// their window ago, which the algorithm treats like no counter) are swept whenever the
/// map has doubled since the last sweep, and if live counters still reach the capacity
/// the least recently used quarter is dropped (a flood of distinct keys then costs the
/// oldest counters their history, not the process its memory).
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
    capacity: usize,
}

#[derive(Debug)]
struct Memory {
    entries: HashMap<String, Entry>,
    /// Sweep before inserting a new key once the map holds this many.
    sweep_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    counter: Counter,
    window_ms: i64,
}

/// Fewest entries worth a sweep.
const MIN_SWEEP: usize = 1024;

impl MemoryStore {
    /// Default capacity: at most about 60 MB of counters (keys are capped in length),
    /// typically far less.
    pub const DEFAULT_CAPACITY: usize = 250_000;

    /// An empty store holding at most `capacity` counters.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(4);
        MemoryStore {
            inner: Mutex::new(Memory {
                entries: HashMap::new(),
                sweep_at: MIN_SWEEP.min(capacity),
            }),
            capacity,
        }
    }

    /// Counts a request against `key` at `now` (epoch ms).
    pub fn hit(&self, key: &str, rule: Rule, now: i64) -> Decision {
        let mut memory = self.lock();
        let previous = memory.entries.get(key).map(|e| e.counter);
        match step(previous, now, rule) {
            Err(retry_after_secs) => Decision::Limited { retry_after_secs },
            Ok(counter) => {
                let entry = Entry {
                    counter,
                    window_ms: rule.window_ms,
                };
                if let Some(slot) = memory.entries.get_mut(key) {
                    *slot = entry;
                } else {
                    if memory.entries.len() >= memory.sweep_at {
                        memory.sweep(now, self.capacity);
                    }
                    memory.entries.insert(key.to_string(), entry);
                }
                Decision::Allowed
            }
        }
    }

    /// Forgets `key`.
    pub fn reset(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    /// Counters held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map, even if a thread panicked while holding it (counters stay consistent:
    /// every update is a single insert).
    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Memory {
    fn sweep(&mut self, now: i64, capacity: usize) {
        self.entries
            .retain(|_, e| now.saturating_sub(e.counter.last_request) <= e.window_ms);
        let target = capacity - capacity / 4;
        if self.entries.len() >= capacity {
            let excess = self.entries.len() - target;
            let mut times: Vec<i64> = self
                .entries
                .values()
                .map(|e| e.counter.last_request)
                .collect();
            let (_, cutoff, _) = times.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            let mut to_drop = excess;
            self.entries.retain(|_, e| {
                if to_drop > 0 && e.counter.last_request <= cutoff {
                    to_drop -= 1;
                    false
                } else {
                    true
                }
            });
            tracing::warn!(
                dropped = excess,
                capacity,
                "rate limiter memory full: dropped the least recently used counters"
            );
        }
        self.sweep_at = self
            .entries
            .len()
            .saturating_mul(2)
            .max(MIN_SWEEP)
            .min(capacity);
    }
}

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
    /// The limiter `config` asks for, storing in `db` if the storage is `database`.
    pub fn new(config: &Config, db: &Db) -> Self {
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
        limiter.purge_age_ms = signin_failures.window_ms.max(MIN_PURGE_AGE_MS);
        limiter
    }

    /// A limiter counting in memory (tests, and the base of [`RateLimiter::new`]).
    pub fn in_memory(enabled: bool, signin_failures: Rule, capacity: usize) -> Self {
        RateLimiter {
            enabled,
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

    /// The in-memory counters (the storage, or the database fallback).
    pub fn memory(&self) -> &MemoryStore {
        &self.memory
    }

    /// Counts a request against `key` under `rule` at `now`.
    pub async fn hit(&self, key: &str, rule: Rule, now: DateTime<Utc>) -> Decision {
        let now = now.timestamp_millis();
        if let Some(db) = &self.database {
            if now >= self.database_retry_at.load(Ordering::Relaxed) {
                let id = crate::ids::generate_id();
                match db
                    .rate_limit_hit(&id, key, now, rule.window_ms, rule.max)
                    .await
                {
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

/// The per-address limiter, as a middleware around the whole router (so it also sees
/// paths the router will not match).
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limiter = state.rate_limiter();
    // CORS preflights are not counted: they do nothing, and counting them would halve a
    // cross-origin browser's sign-in budget (Better Auth never sees them either: the host
    // framework's CORS layer answers them).
    if !limiter.enabled() || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let Some(path) = auth_relative_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let ip = ClientIp::from_config(request.headers(), request.extensions(), state.config());
    match limiter
        .hit(&address_key(&ip, &path), rule_for(&path), state.now())
        .await
    {
        Decision::Allowed => next.run(request).await,
        Decision::Limited { retry_after_secs } => {
            tracing::info!(path = %path, retry_after = retry_after_secs, "rate limited");
            ApiError::too_many_requests(retry_after_secs).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use chrono::{Duration, TimeZone};

    #[test]
    fn paths_have_one_spelling() {
        for (raw, normal) in [
            ("/api/auth/sign-in/email", "/api/auth/sign-in/email"),
            ("//api/auth/sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth//sign-in///email", "/api/auth/sign-in/email"),
            ("/api/auth/sign-in/email/", "/api/auth/sign-in/email"),
            ("/api/auth/./sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth/x/../sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth/%2E/sign-in/email", "/api/auth/sign-in/email"),
            (
                "/api/auth/x/%2e%2E/sign-in/email",
                "/api/auth/sign-in/email",
            ),
            ("/api/auth/sign%2Din/email", "/api/auth/sign-in/email"),
            ("/api/auth/%73ign-in/%65mail", "/api/auth/sign-in/email"),
            ("/../../api/auth/sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth/sign-in%2femail", "/api/auth/sign-in%2Femail"),
            ("/api/auth/a%zzb%", "/api/auth/a%zzb%"),
            ("/api/auth/%c3%a9", "/api/auth/%C3%A9"),
            ("/api/auth/é", "/api/auth/é"),
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/..", "/"),
        ] {
            assert_eq!(normalize_path(raw), normal, "{raw:?}");
        }
    }

    #[test]
    fn rules_apply_to_normalised_auth_paths() {
        assert_eq!(
            auth_relative_path("//api/auth/sign-in/email/").as_deref(),
            Some("/sign-in/email")
        );
        assert_eq!(auth_relative_path("/api/auth").as_deref(), Some("/"));
        assert_eq!(auth_relative_path("/api/auth/").as_deref(), Some("/"));
        assert_eq!(auth_relative_path("/api/authx/sign-in"), None);
        assert_eq!(auth_relative_path("/healthz"), None);
        assert_eq!(
            auth_relative_path("/x/../api/auth/ok").as_deref(),
            Some("/ok")
        );
        for strict in [
            "/sign-in/email",
            "/sign-up/email",
            "/change-password",
            "/change-email",
            "/sign-in",
        ] {
            assert_eq!(rule_for(strict), Rule::STRICT, "{strict}");
        }
        for mail in ["/request-password-reset", "/send-verification-email"] {
            assert_eq!(rule_for(mail), Rule::MAIL, "{mail}");
        }
        for default in ["/get-session", "/sign-out", "/ok", "/", "/update-user"] {
            assert_eq!(rule_for(default), Rule::DEFAULT, "{default}");
        }
        let ip = ClientIp::known("2001:db8::7".parse().unwrap());
        assert_eq!(
            address_key(&ip, "/sign-in/email"),
            "2001:db8::/64|/sign-in/email"
        );
        assert_eq!(address_key(&ClientIp::unknown(), "/ok"), "unknown|/ok");
        let long = format!("/{}", "a".repeat(1000));
        assert_eq!(
            address_key(&ClientIp::unknown(), &long).len(),
            "unknown|".len() + MAX_KEY_PATH
        );
    }

    #[test]
    fn signin_keys_follow_the_lookup() {
        assert_eq!(
            signin_failure_key("Ada@Example.COM"),
            "signin-failures|ada@example.com"
        );
        let long = format!("{}@example.com", "a".repeat(400));
        let key = signin_failure_key(&long);
        assert!(
            key.starts_with("signin-failures|sha256:") && key.len() < 100,
            "{key}"
        );
        assert_eq!(key, signin_failure_key(&long.to_uppercase()));
    }

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

    #[test]
    fn memory_sweeps_expired_counters() {
        let store = MemoryStore::new(MemoryStore::DEFAULT_CAPACITY);
        let rule = Rule::STRICT;
        for i in 0..MIN_SWEEP {
            store.hit(&format!("a{i}"), rule, 0);
        }
        assert_eq!(store.len(), MIN_SWEEP);
        // Still live at exactly one window: kept (the algorithm still counts them).
        store.hit("b", rule, rule.window_ms);
        assert_eq!(store.len(), MIN_SWEEP + 1);
        // The next sweep comes when the map has doubled; by then the first keys expired.
        for i in 0..MIN_SWEEP {
            store.hit(&format!("c{i}"), rule, rule.window_ms + 1);
        }
        assert!(store.len() <= MIN_SWEEP + 1, "{}", store.len());
        // A flood of distinct keys in one window stays under the capacity.
        let small = MemoryStore::new(100);
        for i in 0..10_000 {
            small.hit(&format!("f{i}"), rule, i);
            assert!(small.len() <= 100);
        }
        // The most recent counters survive; the oldest were dropped.
        assert!(matches!(
            small.hit("f9999", rule, 10_000),
            Decision::Allowed
        ));
        assert_eq!(small.hit("f9999", rule, 10_000), Decision::Allowed);
        assert!(matches!(
            small.hit("f9999", rule, 10_000),
            Decision::Limited { .. }
        ));
    }

    /// The whole app, driven without a socket (so without `ConnectInfo`), rate limiting on,
    /// on a fresh SQLite file, with a manual clock.
    async fn app(
        extra: &[&str],
    ) -> (
        axum::Router,
        std::sync::Arc<ManualClock>,
        std::path::PathBuf,
    ) {
        use clap::Parser;
        let path = std::env::temp_dir().join(format!(
            "edgeauth-limit-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let secret = "s".repeat(32);
        let argv = [
            "edgeauth",
            "serve",
            "--secret",
            &secret,
            "--database-url",
            &url,
            "--rate-limit",
            "on",
        ];
        let cli = crate::cli::Cli::try_parse_from(argv.iter().chain(extra)).unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            unreachable!()
        };
        let clock = std::sync::Arc::new(clock());
        let state = crate::server::prepare(&args, clock.clone()).await.unwrap();
        (super::super::app(state), clock, path)
    }

    async fn send(
        app: &axum::Router,
        path: &str,
        peer: Option<[u8; 4]>,
        headers: &[(&str, &str)],
    ) -> Response {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder().method("POST").uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(axum::body::Body::empty()).unwrap();
        if let Some(peer) = peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from((peer, 40000)),
            ));
        }
        app.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn the_middleware_normalises_paths_and_reads_no_forwarded_headers() {
        let (app, clock, path) = app(&[]).await;
        // Preflights are not counted.
        for _ in 0..5 {
            use tower::ServiceExt;
            let preflight = axum::http::Request::builder()
                .method("OPTIONS")
                .uri("/api/auth/sign-in/email")
                .body(axum::body::Body::empty())
                .unwrap();
            let reply = app.clone().oneshot(preflight).await.unwrap();
            assert_ne!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        }
        // No ConnectInfo: unknown address, one shared budget, and handlers still run.
        let first = send(&app, "//api/auth/sign-in/email", None, &[]).await;
        assert_eq!(first.status(), axum::http::StatusCode::NOT_FOUND);
        let second = send(&app, "/api/auth/sign-in/email/", None, &[]).await;
        assert_eq!(second.status(), axum::http::StatusCode::NOT_FOUND);
        let third = send(&app, "/api/auth/sign-in/email", None, &[]).await;
        assert_eq!(third.status(), axum::http::StatusCode::BAD_REQUEST);
        for variant in [
            "/api/auth/sign-in/email",
            "/api/auth/./sign-in/email",
            "/api/auth/sign%2Din/email",
        ] {
            let refused = send(&app, variant, None, &[]).await;
            assert_eq!(
                refused.status(),
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "{variant}"
            );
            assert_eq!(refused.headers()["x-retry-after"], "10");
            let body = axum::body::to_bytes(refused.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(
                &body[..],
                br#"{"message":"Too many requests. Please try again later."}"#
            );
        }
        // Other paths have their own (default) budget; paths outside /api/auth none.
        assert_eq!(
            send(&app, "/api/auth/sign-out", None, &[]).await.status(),
            axum::http::StatusCode::OK
        );
        assert_eq!(
            send(&app, "/healthz", None, &[]).await.status(),
            axum::http::StatusCode::METHOD_NOT_ALLOWED
        );
        // Peers are told apart; X-Forwarded-For is not read.
        let peer = Some([192, 0, 2, 1]);
        for n in 0..3 {
            let spoof = format!("198.51.100.{n}");
            let reply = send(
                &app,
                "/api/auth/sign-in/email",
                peer,
                &[("x-forwarded-for", &spoof)],
            )
            .await;
            assert_ne!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        }
        let reply = send(
            &app,
            "/api/auth/sign-in/email",
            peer,
            &[("x-forwarded-for", "203.0.113.1")],
        )
        .await;
        assert_eq!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        // The window is the app's clock: 9.999 s later still refused, 10 s later admitted.
        clock.advance(Duration::milliseconds(9_999));
        let reply = send(&app, "/api/auth/sign-in/email", peer, &[]).await;
        assert_eq!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.headers()["x-retry-after"], "1");
        clock.advance(Duration::milliseconds(1));
        let reply = send(&app, "/api/auth/sign-in/email", peer, &[]).await;
        assert_eq!(reply.status(), axum::http::StatusCode::BAD_REQUEST);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn a_trusted_header_replaces_the_peer() {
        let (app, _clock, path) = app(&["--trusted-ip-header", "x-client-ip"]).await;
        let peer = Some([192, 0, 2, 1]);
        let hit = |ip: &'static str| {
            let app = app.clone();
            async move {
                send(
                    &app,
                    "/api/auth/sign-up/email",
                    peer,
                    &[("x-client-ip", ip)],
                )
                .await
                .status()
            }
        };
        for _ in 0..3 {
            assert_ne!(
                hit("2001:db8:0:1::1").await,
                axum::http::StatusCode::TOO_MANY_REQUESTS
            );
        }
        // Same /64, other spelling: same budget. Another /64, another budget.
        assert_eq!(
            hit("2001:0db8:0000:0001:ffff::9").await,
            axum::http::StatusCode::TOO_MANY_REQUESTS
        );
        assert_ne!(
            hit("2001:db8:0:2::1").await,
            axum::http::StatusCode::TOO_MANY_REQUESTS
        );
        // Junk is unknown: one shared budget, whatever the junk.
        for junk in ["junk", "1.2.3.4, 5.6.7.8", "1.2.3.4:80"] {
            assert_ne!(
                hit(junk).await,
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "{junk}"
            );
        }
        assert_eq!(
            hit("more junk").await,
            axum::http::StatusCode::TOO_MANY_REQUESTS
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
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
