//! Reusing a session's JWT: `get-session` answers every call with a JWT (`set-auth-jwt`, as
//! Better Auth's JWT plugin does), and most calls (the edge's session lookups, pages polling
//! the session) come for a session whose claims have not changed since the last one. Signing
//! and serialising the claims was a fifth of `get-session`'s cost; a token minted for the same
//! session, user and signing key is handed out again while most of its lifetime is left.
//!
//! A reused token is the token minted then: its `iat` is the minting time, and it has at
//! least three quarters of its lifetime left ([`MintCache::REUSE_FRACTION`]), so a client
//! that keeps it until `exp` sees no difference. Any change of the user (name, email,
//! verification, image, two-factor) or of the signing key (rotation) mints afresh; a revoked
//! session never reaches the cache, since the session is looked up before minting.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::db::User;

/// One reusable token.
struct Entry {
    user: User,
    kid: String,
    minted_at: i64,
    jwt: String,
}

/// Tokens minted for sessions, by session id, bounded in size.
#[derive(Default)]
pub struct MintCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MintCache {
    /// The share of a token's lifetime during which it is handed out again (the rest of the
    /// lifetime is what its holder is sure to have).
    pub const REUSE_FRACTION: (i64, i64) = (1, 4);

    /// At most this many sessions' tokens are kept; when full, the cache starts over (a
    /// memory bound, not an eviction policy: a miss only costs one signature).
    pub const MAX_ENTRIES: usize = 10_000;

    /// The token minted for this session, user and key, if it may be handed out at `now`.
    pub fn get(
        &self,
        session_id: &str,
        user: &User,
        kid: &str,
        expires_in: u64,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(session_id)?;
        let age = now.timestamp() - entry.minted_at;
        let (num, den) = Self::REUSE_FRACTION;
        let window = i64::try_from(expires_in).unwrap_or(i64::MAX) / den * num;
        (age >= 0 && age < window && entry.kid == kid && entry.user == *user)
            .then(|| entry.jwt.clone())
    }

    /// Remembers a token minted at `now` for this session, user and key.
    pub fn put(&self, session_id: &str, user: &User, kid: &str, now: DateTime<Utc>, jwt: &str) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= Self::MAX_ENTRIES && !entries.contains_key(session_id) {
            entries.clear();
        }
        entries.insert(
            session_id.to_string(),
            Entry {
                user: user.clone(),
                kid: kid.to_string(),
                minted_at: now.timestamp(),
                jwt: jwt.to_string(),
            },
        );
    }

    /// How many tokens are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether no token is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn user(name: &str) -> User {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        User {
            id: "u1".into(),
            name: name.into(),
            email: "a@example.com".into(),
            email_verified: false,
            image: None,
            created_at: at,
            updated_at: at,
            two_factor_enabled: false,
            extra: Default::default(),
        }
    }

    #[test]
    fn a_token_is_reused_for_a_quarter_of_its_lifetime_only() {
        let cache = MintCache::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        cache.put("s1", &user("A"), "k1", now, "jwt-1");
        assert_eq!(
            cache.get("s1", &user("A"), "k1", 900, now).as_deref(),
            Some("jwt-1")
        );
        let later = now + Duration::seconds(224);
        assert_eq!(
            cache.get("s1", &user("A"), "k1", 900, later).as_deref(),
            Some("jwt-1")
        );
        assert_eq!(
            cache.get("s1", &user("A"), "k1", 900, now + Duration::seconds(225)),
            None
        );
        // A clock that went back does not make an old token young.
        assert_eq!(
            cache.get("s1", &user("A"), "k1", 900, now - Duration::seconds(1)),
            None
        );
    }

    #[test]
    fn a_changed_user_another_key_or_another_session_mints_afresh() {
        let cache = MintCache::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        cache.put("s1", &user("A"), "k1", now, "jwt-1");
        assert_eq!(cache.get("s1", &user("B"), "k1", 900, now), None);
        assert_eq!(cache.get("s1", &user("A"), "k2", 900, now), None);
        assert_eq!(cache.get("s2", &user("A"), "k1", 900, now), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = MintCache::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for i in 0..MintCache::MAX_ENTRIES + 5 {
            cache.put(&format!("s{i}"), &user("A"), "k1", now, "jwt");
        }
        assert!(cache.len() <= MintCache::MAX_ENTRIES);
        assert!(!cache.is_empty());
    }
}
