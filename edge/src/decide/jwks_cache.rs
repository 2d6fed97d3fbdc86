//! The verification keys: pinned, or fetched from the origin's `GET /api/auth/jwks` and
//! cached.
//!
//! With `JWKS_JSON` set the key set is fixed and nothing is ever fetched. Otherwise:
//!
//! - the key set lives in isolate memory ([`JwksState`]) and in the Cache API under a
//!   synthetic URL on the worker's own host, in its reserved `/__edge/` namespace
//!   ([`cache_url`]), with the time it was fetched, so a new isolate in the same location
//!   starts from it instead of asking the origin;
//! - no key set yet, a key set older than [`REFRESH_AFTER`] (5 min), or a token whose `kid`
//!   is unknown triggers a refresh: the Cache API first (if it holds a newer set that will
//!   do), then the origin;
//! - an unknown `kid` triggers at most one refresh per [`REFETCH_COOLDOWN`] (30 s) per
//!   isolate, so forged `kid`s cannot make the edge hammer the origin (the price: a key
//!   rotated in within 30 s of such a refresh is usable at most 30 s later); the other
//!   refreshes are retried at most once per cooldown while they fail (origin down);
//! - when the origin is unreachable the last key set keeps working for [`STALE_LIMIT`]
//!   (24 h) after it was fetched; past that, JWTs get 503 until a fetch succeeds (fail
//!   closed, never open).

use std::rc::Rc;

use edgeauth_token::KeySet;

/// A key set older than this (seconds) is refreshed on the next use.
pub const REFRESH_AFTER: u64 = 300;

/// At most one refresh attempt per isolate per this many seconds.
pub const REFETCH_COOLDOWN: u64 = 30;

/// A key set fetched longer ago than this (seconds) is no longer used.
pub const STALE_LIMIT: u64 = 86_400;

/// The response header carrying, in the Cache API, when the key set was fetched (unix
/// seconds).
pub const FETCHED_AT_HEADER: &str = "x-edgeauth-fetched-at";

/// The synthetic Cache API key for the key set of the origin at `origin_url`, on the host
/// the worker serves (`request_origin`, e.g. `https://app.example.com`): under `/__edge/`,
/// which is never forwarded, so it cannot collide with the application's own URLs.
pub fn cache_url(request_origin: &str, origin_url: &str) -> String {
    let encoded: String =
        percent_encoding::utf8_percent_encode(origin_url, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    format!("{request_origin}/__edge/cache/jwks/{encoded}")
}

/// The `Cache-Control` the Cache API entry is stored with: kept as long as it may be used.
pub fn cache_control() -> String {
    format!("max-age={STALE_LIMIT}")
}

/// Where a token's key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    /// A usable key set holding the token's `kid`.
    Found(Rc<KeySet>),
    /// A usable, up-to-date key set without that `kid`: the token is refused (401).
    UnknownKid,
    /// No usable key set, or the `kid` is missing and the last refresh failed: the edge
    /// cannot decide (503).
    Unavailable,
}

/// The isolate's fetched key set and its refresh bookkeeping.
#[derive(Debug, Clone, Default)]
pub struct JwksState {
    keys: Option<Rc<KeySet>>,
    fetched_at: u64,
    /// The last refresh of any kind.
    last_attempt: Option<u64>,
    /// The last refresh triggered by an unknown `kid`.
    last_unknown_kid: Option<u64>,
    last_failed: bool,
}

/// Why a key set would be refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// No usable key set, or one older than [`REFRESH_AFTER`].
    Due,
    /// The token's `kid` is not in the key set.
    UnknownKid,
}

fn cooled_down(last: Option<u64>, now: u64) -> bool {
    last.is_none_or(|at| now >= at.saturating_add(REFETCH_COOLDOWN))
}

impl JwksState {
    /// The key set, if it may still be used at `now`.
    pub fn usable(&self, now: u64) -> Option<Rc<KeySet>> {
        self.keys
            .clone()
            .filter(|_| now < self.fetched_at.saturating_add(STALE_LIMIT))
    }

    /// When the key set in use was fetched (0 when none).
    pub fn fetched_at(&self) -> u64 {
        self.fetched_at
    }

    /// Whether verifying a token with `kid` at `now` should first refresh the key set, and
    /// why: [`Refresh::Due`] (no usable set, or one older than [`REFRESH_AFTER`]) unless the
    /// last attempt of any kind failed less than [`REFETCH_COOLDOWN`] ago;
    /// [`Refresh::UnknownKid`] unless an unknown `kid` already triggered one within the
    /// cooldown.
    pub fn should_refresh(&self, kid: &str, now: u64) -> Option<Refresh> {
        let (due, unknown) = match self.usable(now) {
            None => (true, false),
            Some(keys) => (
                now >= self.fetched_at.saturating_add(REFRESH_AFTER),
                keys.get(kid).is_none(),
            ),
        };
        let retry_ok = !self.last_failed || cooled_down(self.last_attempt, now);
        if due && retry_ok {
            Some(Refresh::Due)
        } else if unknown && cooled_down(self.last_unknown_kid, now) {
            Some(Refresh::UnknownKid)
        } else {
            None
        }
    }

    /// Records that a refresh starts at `now` (before any await, so the isolate's other
    /// requests see the cooldown at once).
    pub fn begin_refresh(&mut self, why: Refresh, now: u64) {
        self.last_attempt = Some(now);
        if why == Refresh::UnknownKid {
            self.last_unknown_kid = Some(now);
        }
    }

    /// Takes `keys`, fetched at `fetched_at`, unless the set held is newer. Returns whether
    /// it was taken.
    pub fn adopt(&mut self, keys: KeySet, fetched_at: u64) -> bool {
        if self.keys.is_some() && fetched_at < self.fetched_at {
            return false;
        }
        self.keys = Some(Rc::new(keys));
        self.fetched_at = fetched_at;
        true
    }

    /// Records the outcome of asking the origin.
    pub fn origin_answered(&mut self, ok: bool) {
        self.last_failed = !ok;
    }

    /// Where the key for `kid` stands at `now`.
    pub fn lookup(&self, kid: &str, now: u64) -> KeyLookup {
        match self.usable(now) {
            Some(keys) if keys.get(kid).is_some() => KeyLookup::Found(keys),
            Some(_) if !self.last_failed => KeyLookup::UnknownKid,
            _ => KeyLookup::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeauth_token::SigningKey;

    const NOW: u64 = 1_800_000_000;

    fn set(kids: &[&str]) -> KeySet {
        let mut set = KeySet::new();
        for (i, kid) in kids.iter().enumerate() {
            let key = SigningKey::from_seed(&[i as u8 + 1; 32], kid).unwrap();
            set.insert(kid, key.public_key()).unwrap();
        }
        set
    }

    fn loaded(kids: &[&str], at: u64) -> JwksState {
        let mut state = JwksState::default();
        state.begin_refresh(Refresh::Due, at);
        assert!(state.adopt(set(kids), at));
        state.origin_answered(true);
        state
    }

    #[test]
    fn an_empty_state_retries_at_most_once_per_cooldown_while_failing() {
        let mut state = JwksState::default();
        assert_eq!(state.should_refresh("k1", NOW), Some(Refresh::Due));
        state.begin_refresh(Refresh::Due, NOW);
        state.origin_answered(false);
        assert_eq!(state.lookup("k1", NOW), KeyLookup::Unavailable);
        for t in 0..REFETCH_COOLDOWN {
            assert_eq!(state.should_refresh("k1", NOW + t), None, "t={t}");
        }
        assert_eq!(
            state.should_refresh("k1", NOW + REFETCH_COOLDOWN),
            Some(Refresh::Due)
        );
    }

    #[test]
    fn known_kids_use_the_set_without_fetching() {
        let state = loaded(&["k1"], NOW);
        assert_eq!(state.should_refresh("k1", NOW + 10), None);
        assert!(matches!(state.lookup("k1", NOW + 10), KeyLookup::Found(_)));
    }

    #[test]
    fn a_rotated_key_is_fetched_even_right_after_a_fetch() {
        let mut state = loaded(&["k1"], NOW);
        assert_eq!(
            state.should_refresh("k2", NOW + 1),
            Some(Refresh::UnknownKid)
        );
        state.begin_refresh(Refresh::UnknownKid, NOW + 1);
        assert!(state.adopt(set(&["k1", "k2"]), NOW + 1));
        state.origin_answered(true);
        assert!(matches!(state.lookup("k2", NOW + 1), KeyLookup::Found(_)));
    }

    #[test]
    fn unknown_kids_refetch_at_most_once_per_cooldown() {
        let mut state = loaded(&["k1"], NOW);
        assert_eq!(
            state.should_refresh("forged", NOW),
            Some(Refresh::UnknownKid)
        );
        state.begin_refresh(Refresh::UnknownKid, NOW);
        state.origin_answered(true);
        // Within the cooldown, forged kids cost nothing and are refused.
        for t in 0..REFETCH_COOLDOWN {
            assert_eq!(state.should_refresh("forged-2", NOW + t), None, "t={t}");
            assert_eq!(state.lookup("forged-2", NOW + t), KeyLookup::UnknownKid);
        }
        assert_eq!(
            state.should_refresh("forged-3", NOW + REFETCH_COOLDOWN),
            Some(Refresh::UnknownKid)
        );
        // Known kids never wait for the cooldown.
        assert!(matches!(state.lookup("k1", NOW + 1), KeyLookup::Found(_)));
    }

    #[test]
    fn old_sets_are_refreshed_and_stale_ones_stop_working() {
        let mut state = loaded(&["k1"], NOW);
        assert_eq!(state.should_refresh("k1", NOW + REFRESH_AFTER - 1), None);
        assert_eq!(
            state.should_refresh("k1", NOW + REFRESH_AFTER),
            Some(Refresh::Due)
        );
        // The origin is down: the set keeps working up to the stale limit.
        state.begin_refresh(Refresh::Due, NOW + REFRESH_AFTER);
        state.origin_answered(false);
        assert_eq!(state.should_refresh("k1", NOW + REFRESH_AFTER + 1), None);
        assert!(matches!(
            state.lookup("k1", NOW + STALE_LIMIT - 1),
            KeyLookup::Found(_)
        ));
        assert_eq!(
            state.lookup("k1", NOW + STALE_LIMIT),
            KeyLookup::Unavailable
        );
        assert!(state.usable(NOW + STALE_LIMIT).is_none());
        // An unknown kid while the origin is down: undecidable, not refused.
        assert_eq!(state.lookup("k2", NOW + 400), KeyLookup::Unavailable);
    }

    #[test]
    fn an_older_set_never_replaces_a_newer_one() {
        let mut state = loaded(&["k2"], NOW);
        assert!(!state.adopt(set(&["k1"]), NOW - 10));
        assert!(matches!(state.lookup("k2", NOW), KeyLookup::Found(_)));
        assert!(state.adopt(set(&["k3"]), NOW + 10));
        assert_eq!(state.fetched_at(), NOW + 10);
    }

    #[test]
    fn the_cache_url_is_synthetic_and_per_origin() {
        assert_eq!(
            cache_url("https://app.example", "http://127.0.0.1:3000"),
            "https://app.example/__edge/cache/jwks/http%3A%2F%2F127%2E0%2E0%2E1%3A3000"
        );
        assert_ne!(
            cache_url("https://app.example", "https://a.example"),
            cache_url("https://app.example", "https://b.example")
        );
        assert_eq!(cache_control(), "max-age=86400");
    }
}
