//! Session liveness for JWTs that name their session (`sid`).
//!
//! A JWT stays valid until `exp` whatever happens to its session, so a session ended at the
//! origin without passing through the edge (an admin action, another edge location, a
//! direct call to the origin) would leave its JWTs working. The edge therefore asks the
//! origin `GET /api/auth/edge/session/{sid}` (with the edge's proof) whether the session is
//! still live, at most once per `SESSION_CACHE_TTL` per `sid`, and caches the answer in
//! isolate memory and KV (`live:sid:<sid>`, [`kv_key`]):
//!
//! - 200 `{"active":true,"userId":...}`: live; the JWT is accepted if `userId` is its `sub`;
//! - 404 `{"active":false}`: ended; the JWT is refused;
//! - anything else (origin down, endpoint missing): unknown; the JWT is accepted (it is valid
//!   and unrevoked as far as the edge knows, and lives at most until `exp`), and the origin is
//!   asked again after [`RETRY_AFTER`] seconds, not on every request.
//!
//! Bound: a JWT whose session ended directly at the origin is refused at most
//! `SESSION_CACHE_TTL` seconds later while the origin answers, and never later than its own
//! `exp` otherwise.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decide::session_cache::{parse_js_date, BadAnswer};

/// Seconds before asking again after the origin could not answer.
pub const RETRY_AFTER: u64 = 10;

/// Most liveness answers one isolate keeps in memory.
pub const MEMORY_CAPACITY: usize = 1024;

/// The KV key of session `sid`'s liveness answer.
pub fn kv_key(sid: &str) -> String {
    format!("live:sid:{sid}")
}

/// The origin's answer about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The session exists and has not expired.
    Active {
        /// Its user.
        user_id: String,
        /// Its expiry (unix seconds), when the origin said.
        expires_at: Option<u64>,
    },
    /// No such live session.
    Inactive,
}

/// Reads the origin's answer to `GET /api/auth/edge/session/{sid}`.
pub fn parse_answer(status: u16, body: &str) -> Result<Liveness, BadAnswer> {
    let value: Value = serde_json::from_str(body).map_err(|_| BadAnswer("not JSON"))?;
    match (status, value.get("active").and_then(Value::as_bool)) {
        (200, Some(true)) => {
            let user_id = value
                .get("userId")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
                .ok_or(BadAnswer("userId missing"))?;
            Ok(Liveness::Active {
                user_id: user_id.to_string(),
                expires_at: value
                    .get("expiresAt")
                    .and_then(Value::as_str)
                    .and_then(parse_js_date),
            })
        }
        (404, Some(false)) => Ok(Liveness::Inactive),
        _ => Err(BadAnswer("unexpected liveness answer")),
    }
}

/// A cached answer: `active` is `None` when the origin could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivenessEntry {
    /// Live, ended, or unknown.
    pub active: Option<bool>,
    /// The session's user, when live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Used before this time only (unix seconds, exclusive).
    pub cached_until: u64,
}

impl LivenessEntry {
    /// The entry for an answer given at `now`: cached `ttl` seconds, never past the
    /// session's expiry.
    pub fn answered(liveness: &Liveness, now: u64, ttl: u64) -> Self {
        match liveness {
            Liveness::Active {
                user_id,
                expires_at,
            } => LivenessEntry {
                active: Some(true),
                user_id: Some(user_id.clone()),
                cached_until: expires_at.map_or(now.saturating_add(ttl), |at| {
                    now.saturating_add(ttl).min(at)
                }),
            },
            Liveness::Inactive => LivenessEntry {
                active: Some(false),
                user_id: None,
                cached_until: now.saturating_add(ttl),
            },
        }
    }

    /// The entry when the origin could not answer at `now` (isolate memory only).
    pub fn unknown(now: u64) -> Self {
        LivenessEntry {
            active: None,
            user_id: None,
            cached_until: now.saturating_add(RETRY_AFTER),
        }
    }

    /// Whether it may still be used at `now`.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.cached_until
    }

    /// Whether a JWT for `user_id` naming this session is accepted.
    pub fn accepts(&self, user_id: &str) -> bool {
        match self.active {
            Some(true) => self.user_id.as_deref() == Some(user_id),
            Some(false) => false,
            None => true,
        }
    }

    /// The JSON stored in KV.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An entry read back from KV.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn parses_the_origins_answers() {
        assert_eq!(
            parse_answer(
                200,
                r#"{"active":true,"userId":"u1","expiresAt":"2027-02-15T08:00:00.000Z"}"#
            ),
            Ok(Liveness::Active {
                user_id: "u1".into(),
                expires_at: parse_js_date("2027-02-15T08:00:00.000Z"),
            })
        );
        assert_eq!(
            parse_answer(200, r#"{"active":true,"userId":"u1"}"#),
            Ok(Liveness::Active {
                user_id: "u1".into(),
                expires_at: None
            })
        );
        assert_eq!(
            parse_answer(404, r#"{"active":false}"#),
            Ok(Liveness::Inactive)
        );
        for (status, body) in [
            (404, ""),
            (404, r#"{"code":"NOT_FOUND"}"#),
            (200, r#"{"active":false}"#),
            (404, r#"{"active":true,"userId":"u1"}"#),
            (200, r#"{"active":true}"#),
            (200, r#"{"active":"true","userId":"u1"}"#),
            (500, r#"{"active":false}"#),
            (503, "Service Unavailable"),
        ] {
            assert!(parse_answer(status, body).is_err(), "{status} {body}");
        }
    }

    #[test]
    fn answers_are_cached_for_the_ttl_and_never_past_the_session() {
        let live = Liveness::Active {
            user_id: "u1".into(),
            expires_at: Some(NOW + 30),
        };
        assert_eq!(
            LivenessEntry::answered(&live, NOW, 60).cached_until,
            NOW + 30
        );
        let long = Liveness::Active {
            user_id: "u1".into(),
            expires_at: Some(NOW + 3600),
        };
        assert_eq!(
            LivenessEntry::answered(&long, NOW, 60).cached_until,
            NOW + 60
        );
        assert_eq!(
            LivenessEntry::answered(&Liveness::Inactive, NOW, 60).cached_until,
            NOW + 60
        );
        let unknown = LivenessEntry::unknown(NOW);
        assert!(unknown.is_fresh(NOW + RETRY_AFTER - 1));
        assert!(!unknown.is_fresh(NOW + RETRY_AFTER));
    }

    #[test]
    fn verdicts() {
        let live = LivenessEntry::answered(
            &Liveness::Active {
                user_id: "u1".into(),
                expires_at: None,
            },
            NOW,
            60,
        );
        assert!(live.accepts("u1"));
        assert!(!live.accepts("u2"));
        assert!(!LivenessEntry::answered(&Liveness::Inactive, NOW, 60).accepts("u1"));
        assert!(LivenessEntry::unknown(NOW).accepts("u1"));
    }

    #[test]
    fn kv_round_trip() {
        let entry = LivenessEntry::answered(
            &Liveness::Active {
                user_id: "u1".into(),
                expires_at: None,
            },
            NOW,
            60,
        );
        assert_eq!(kv_key("s1"), "live:sid:s1");
        assert_eq!(
            entry.to_json(),
            r#"{"active":true,"userId":"u1","cachedUntil":1800000060}"#
        );
        assert_eq!(LivenessEntry::from_json(&entry.to_json()), Some(entry));
        assert_eq!(LivenessEntry::from_json("{}"), None);
    }
}
