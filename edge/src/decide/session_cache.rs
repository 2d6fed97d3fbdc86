//! The session cache: what the edge remembers about a session token, for how long, under
//! which key.
//!
//! A session credential whose HMAC verified is resolved in three steps: isolate memory, then
//! KV (binding `SESSIONS`), then the origin's `GET /api/auth/get-session?disableRefresh=true`
//! (with the credential forwarded as the client sent it). The answer is cached in both.
//!
//! - **Key**: SHA-256 of the raw session token ([`token_hash`]); in KV `session:<hex>`
//!   ([`kv_key`]). The token itself is never a key and never stored.
//! - **Live session**: cached until `min(now + SESSION_CACHE_TTL, session.expiresAt)`
//!   ([`live_until`]), and never past [`JWT_MARGIN`] before the `exp` of the JWT the origin
//!   minted with its answer (`set-auth-jwt`), which the entry keeps ([`session_jwt`]) and the
//!   edge forwards as `x-edgeauth-jwt`.
//! - **No session** (unknown, expired or signed out): cached negatively for
//!   `min(NEGATIVE_TTL, SESSION_CACHE_TTL)` seconds ([`negative_until`]).
//! - **KV** keeps a key at least 60 s (its minimum `expirationTtl`), so every value carries
//!   its own `cachedUntil`; a value read after it is a miss ([`SessionEntry::is_fresh`]).
//!
//! So a session ended at the origin without passing through the edge (an admin action, a
//! database delete) is refused at the edge at most `SESSION_CACHE_TTL` seconds later.
//! Revocations that pass through the edge act at once ([`crate::decide::revocation`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a "no such session" answer is cached, at most (never longer than
/// `SESSION_CACHE_TTL`).
pub const NEGATIVE_TTL: u64 = 10;

/// Workers KV's minimum `expirationTtl`, in seconds.
pub const KV_MIN_TTL: u64 = 60;

/// Most session entries one isolate keeps in memory.
pub const MEMORY_CAPACITY: usize = 1024;

/// A session's JWT is forwarded only while more than this many seconds of it are left (the
/// cache entry ends then, and the next request asks the origin, which mints a new one).
pub const JWT_MARGIN: u64 = 60;

/// Longest JWT the edge keeps for a session.
const MAX_JWT_LEN: usize = 8 * 1024;

/// SHA-256 of a session token: the cache key.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The KV key of a session entry: `session:<hex sha256(token)>`.
pub fn kv_key(hash: &[u8; 32]) -> String {
    format!("session:{}", hex(hash))
}

/// A live session, as much of it as the edge needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedSession {
    /// `session.id`.
    pub session_id: String,
    /// `user.id` (equal to `session.userId`).
    pub user_id: String,
    /// `user.email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `user.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `session.expiresAt`, unix seconds.
    pub expires_at: u64,
    /// The JWT the origin minted for this session with its answer, and its `exp`
    /// ([`session_jwt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<SessionJwt>,
}

/// A JWT the origin minted for a session, kept to be forwarded as `x-edgeauth-jwt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionJwt {
    /// The compact token.
    pub token: String,
    /// Its `exp`, unix seconds.
    pub expires_at: u64,
}

/// The origin's `set-auth-jwt` for a session, if it is one to forward: a compact JWT (only
/// base64url characters and dots, at most 8 KiB) whose `sub` is the session's user and whose
/// `exp` is more than [`JWT_MARGIN`] away. It is read, not verified: it came on the edge's own
/// call to the origin, the edge's decision does not rest on it, and the application that
/// receives it verifies it. Anything else is dropped, so no stale or foreign token is
/// forwarded.
pub fn session_jwt(token: &str, user_id: &str, now: u64) -> Option<SessionJwt> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let compact = token.len() <= MAX_JWT_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !compact {
        return None;
    }
    let claims: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).ok()?).ok()?;
    let expires_at = claims.get("exp").and_then(Value::as_u64)?;
    (claims.get("sub").and_then(Value::as_str) == Some(user_id)
        && expires_at > now.saturating_add(JWT_MARGIN))
    .then(|| SessionJwt {
        token: token.to_string(),
        expires_at,
    })
}

/// What the cache knows about one token: a live session or none, and since/until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    /// The session, or `None` when the origin knew no live session for the token.
    pub session: Option<CachedSession>,
    /// When the origin gave this answer (unix seconds): compared with a user's revocation
    /// marker.
    pub cached_at: u64,
    /// The answer is used before this time only (unix seconds, exclusive).
    pub cached_until: u64,
}

/// When a live session's cache entry ends: `ttl` from now, never after the session does.
pub fn live_until(now: u64, ttl: u64, expires_at: u64) -> u64 {
    now.saturating_add(ttl).min(expires_at)
}

/// When a negative entry ends: [`NEGATIVE_TTL`] from now, never longer than `ttl`.
pub fn negative_until(now: u64, ttl: u64) -> u64 {
    now.saturating_add(NEGATIVE_TTL.min(ttl))
}

/// The `expirationTtl` for writing an entry valid until `until` to KV, or `None` when it is
/// not worth writing (already expired). KV cannot keep a key less than [`KV_MIN_TTL`]; the
/// entry's own `cachedUntil` ends it earlier.
pub fn kv_expiration_ttl(now: u64, until: u64) -> Option<u64> {
    (until > now).then(|| (until - now).max(KV_MIN_TTL))
}

impl SessionEntry {
    /// A live session answered by the origin at `now`.
    pub fn live(session: CachedSession, now: u64, ttl: u64) -> Self {
        let jwt_until = session
            .jwt
            .as_ref()
            .map_or(u64::MAX, |jwt| jwt.expires_at.saturating_sub(JWT_MARGIN));
        let cached_until = live_until(now, ttl, session.expires_at).min(jwt_until);
        SessionEntry {
            session: Some(session),
            cached_at: now,
            cached_until,
        }
    }

    /// "No live session", answered by the origin at `now`.
    pub fn none(now: u64, ttl: u64) -> Self {
        SessionEntry {
            session: None,
            cached_at: now,
            cached_until: negative_until(now, ttl),
        }
    }

    /// Whether the entry may still be used at `now`: within `cachedUntil`, and a cached
    /// session not past its own expiry.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.cached_until && self.session.as_ref().is_none_or(|s| now < s.expires_at)
    }

    /// The JSON stored in KV.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An entry read back from KV; `None` if the text is not one.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// Why an origin answer could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadAnswer(pub &'static str);

/// Reads the body of the origin's `GET /get-session` (status 200): JSON `null` is no
/// session; `{session, user}` is a live session if it expires after `now`.
pub fn parse_get_session(body: &str, now: u64) -> Result<Option<CachedSession>, BadAnswer> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| BadAnswer("get-session answer is not JSON"))?;
    if value.is_null() {
        return Ok(None);
    }
    let text = |section: &str, field: &str| {
        value
            .get(section)
            .and_then(|s| s.get(field))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let session_id = text("session", "id").ok_or(BadAnswer("session.id missing"))?;
    let user_id = text("user", "id").ok_or(BadAnswer("user.id missing"))?;
    if text("session", "userId") != Some(user_id) {
        return Err(BadAnswer("session.userId is not user.id"));
    }
    let expires_at = text("session", "expiresAt")
        .and_then(parse_js_date)
        .ok_or(BadAnswer("session.expiresAt is not a date"))?;
    if expires_at <= now {
        return Ok(None);
    }
    Ok(Some(CachedSession {
        session_id: session_id.to_string(),
        user_id: user_id.to_string(),
        email: text("user", "email").map(str::to_string),
        name: text("user", "name").map(str::to_string),
        expires_at,
        jwt: None,
    }))
}

/// Parses a date as JavaScript's `Date#toJSON` writes it (`2026-12-03T20:03:00.812Z`), or
/// with a `±HH:MM` offset, into unix seconds (fractions dropped). `None` for anything else,
/// and for dates before 1970.
pub fn parse_js_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits
            .iter()
            .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !separators
        .iter()
        .all(|&(at, sep)| bytes.get(at) == Some(&sep))
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
            let minutes = (h1 * 10 + h2) * 60 + m1 * 10 + m2;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn session(expires_at: u64) -> CachedSession {
        CachedSession {
            session_id: "s1".into(),
            user_id: "u1".into(),
            email: Some("ada@example.com".into()),
            name: None,
            expires_at,
            jwt: None,
        }
    }

    #[test]
    fn keys_are_hashes_never_tokens() {
        let token = "0YnKQty8O96CSthmLIeHvNJnuQmeit3f";
        let key = kv_key(&token_hash(token));
        assert!(key.starts_with("session:"));
        assert_eq!(key.len(), "session:".len() + 64);
        assert!(!key.contains(token));
        assert_eq!(
            hex(&token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(token_hash("a"), token_hash("b"));
    }

    #[test]
    fn live_entries_end_at_the_ttl_or_the_session_expiry_whichever_first() {
        assert_eq!(live_until(NOW, 60, NOW + 3600), NOW + 60);
        assert_eq!(live_until(NOW, 60, NOW + 10), NOW + 10);
        assert_eq!(live_until(NOW, 0, NOW + 10), NOW);
        let entry = SessionEntry::live(session(NOW + 30), NOW, 60);
        assert_eq!(entry.cached_at, NOW);
        assert_eq!(entry.cached_until, NOW + 30);
        assert!(entry.is_fresh(NOW + 29));
        assert!(!entry.is_fresh(NOW + 30));
    }

    #[test]
    fn negative_entries_are_short_and_never_longer_than_the_ttl() {
        assert_eq!(negative_until(NOW, 60), NOW + NEGATIVE_TTL);
        assert_eq!(negative_until(NOW, 5), NOW + 5);
        assert_eq!(negative_until(NOW, 0), NOW);
        let entry = SessionEntry::none(NOW, 60);
        assert!(entry.is_fresh(NOW + NEGATIVE_TTL - 1));
        assert!(!entry.is_fresh(NOW + NEGATIVE_TTL));
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        assert!(!SessionEntry::live(session(NOW + 3600), NOW, 0).is_fresh(NOW));
        assert!(!SessionEntry::none(NOW, 0).is_fresh(NOW));
        assert_eq!(kv_expiration_ttl(NOW, NOW), None);
    }

    #[test]
    fn kv_ttls_respect_the_kv_minimum() {
        assert_eq!(kv_expiration_ttl(NOW, NOW + 10), Some(KV_MIN_TTL));
        assert_eq!(kv_expiration_ttl(NOW, NOW + 60), Some(60));
        assert_eq!(kv_expiration_ttl(NOW, NOW + 600), Some(600));
        assert_eq!(kv_expiration_ttl(NOW, NOW - 1), None);
    }

    #[test]
    fn an_entry_read_from_kv_after_its_cached_until_is_a_miss() {
        // Written with a 10 s life; KV keeps it 60 s.
        let entry = SessionEntry::none(NOW, 60);
        let back = SessionEntry::from_json(&entry.to_json()).unwrap();
        assert_eq!(back, entry);
        assert!(back.is_fresh(NOW + 9));
        assert!(!back.is_fresh(NOW + 30));
    }

    #[test]
    fn a_cached_session_past_its_expiry_is_not_fresh() {
        let mut entry = SessionEntry::live(session(NOW + 3600), NOW, 60);
        entry.cached_until = NOW + 7200; // as if written with a longer TTL
        entry.session = Some(session(NOW + 10));
        assert!(!entry.is_fresh(NOW + 10));
    }

    #[test]
    fn kv_json_round_trips_and_junk_is_a_miss() {
        let entry = SessionEntry::live(session(NOW + 3600), NOW, 60);
        let text = entry.to_json();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({
                "session": {"sessionId": "s1", "userId": "u1", "email": "ada@example.com", "expiresAt": NOW + 3600},
                "cachedAt": NOW,
                "cachedUntil": NOW + 60,
            })
        );
        assert_eq!(SessionEntry::from_json(&text), Some(entry));
        for junk in ["", "null", "{}", "[]", r#"{"session":null}"#] {
            assert_eq!(SessionEntry::from_json(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn parses_the_origins_get_session_answer() {
        let body = json!({
            "session": {"id": "s1", "token": "t", "userId": "u1", "expiresAt": "2027-02-15T08:00:00.000Z",
                        "createdAt": "2027-01-08T08:00:00.000Z", "updatedAt": "2027-01-08T08:00:00.000Z",
                        "ipAddress": "", "userAgent": ""},
            "user": {"id": "u1", "email": "ada@example.com", "name": "Ada", "emailVerified": false,
                     "image": null, "createdAt": "2027-01-08T08:00:00.000Z", "updatedAt": "2027-01-08T08:00:00.000Z"}
        })
        .to_string();
        let expires = parse_js_date("2027-02-15T08:00:00.000Z").unwrap();
        assert_eq!(
            parse_get_session(&body, NOW),
            Ok(Some(CachedSession {
                session_id: "s1".into(),
                user_id: "u1".into(),
                email: Some("ada@example.com".into()),
                name: Some("Ada".into()),
                expires_at: expires,
                jwt: None,
            }))
        );
        assert_eq!(parse_get_session("null", NOW), Ok(None));
        // Expired by the time the edge reads it: no session.
        assert_eq!(parse_get_session(&body, expires), Ok(None));
    }

    fn jwt_with(claims: Value) -> String {
        use base64ct::{Base64UrlUnpadded, Encoding};
        format!(
            "eyJhbGciOiJFZERTQSJ9.{}.c2lnbmF0dXJl",
            Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn a_session_keeps_the_origins_jwt_only_if_it_is_the_users_and_not_about_to_expire() {
        let good = jwt_with(json!({"sub": "u1", "exp": NOW + 900}));
        assert_eq!(
            session_jwt(&good, "u1", NOW),
            Some(SessionJwt {
                token: good.clone(),
                expires_at: NOW + 900
            })
        );
        // Another user's, nearly expired, expired, without exp, not a JWT, not header-safe.
        assert_eq!(session_jwt(&good, "u2", NOW), None);
        let soon = jwt_with(json!({"sub": "u1", "exp": NOW + JWT_MARGIN}));
        assert_eq!(session_jwt(&soon, "u1", NOW), None);
        let gone = jwt_with(json!({"sub": "u1", "exp": NOW - 1}));
        assert_eq!(session_jwt(&gone, "u1", NOW), None);
        assert_eq!(
            session_jwt(&jwt_with(json!({"sub": "u1"})), "u1", NOW),
            None
        );
        let injected = format!("{good}\r\nx: y");
        for junk in ["", "a.b", "a.b.c.d", "not a jwt", injected.as_str()] {
            assert_eq!(session_jwt(junk, "u1", NOW), None, "{junk}");
        }
        assert_eq!(session_jwt(&"a".repeat(9000), "u1", NOW), None);
    }

    #[test]
    fn a_session_entry_ends_before_its_jwt_does() {
        let mut with_jwt = session(NOW + 3600);
        with_jwt.jwt = Some(SessionJwt {
            token: "t".into(),
            expires_at: NOW + 200,
        });
        let entry = SessionEntry::live(with_jwt, NOW, 300);
        assert_eq!(entry.cached_until, NOW + 200 - JWT_MARGIN);
        // Without a JWT, the TTL alone.
        assert_eq!(
            SessionEntry::live(session(NOW + 3600), NOW, 300).cached_until,
            NOW + 300
        );
    }

    #[test]
    fn inconsistent_get_session_answers_are_errors() {
        let base = json!({
            "session": {"id": "s1", "userId": "u1", "expiresAt": "2027-02-15T08:00:00.000Z"},
            "user": {"id": "u1"}
        });
        let mut other_user = base.clone();
        other_user["session"]["userId"] = json!("u2");
        let mut no_id = base.clone();
        no_id["session"]["id"] = json!("");
        let mut bad_date = base.clone();
        bad_date["session"]["expiresAt"] = json!("tomorrow");
        for bad in [
            other_user.to_string(),
            no_id.to_string(),
            bad_date.to_string(),
            "<html>".into(),
            "{}".into(),
            "[]".into(),
        ] {
            assert!(parse_get_session(&bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn js_dates() {
        assert_eq!(parse_js_date("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_js_date("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            parse_js_date("2026-12-03T20:03:00.812Z"),
            Some(1_796_328_180)
        );
        assert_eq!(parse_js_date("2024-02-29T12:00:00.1Z"), Some(1_709_208_000));
        assert_eq!(
            parse_js_date("2026-12-03T21:03:00.000+01:00"),
            parse_js_date("2026-12-03T20:03:00.000Z")
        );
        assert_eq!(
            parse_js_date("2026-12-03T19:33:00-00:30"),
            parse_js_date("2026-12-03T20:03:00Z")
        );
        for bad in [
            "",
            "2026-12-03",
            "2026-12-03T20:03:00",
            "2026-12-03 20:03:00Z",
            "2026-13-03T20:03:00Z",
            "2026-02-29T20:03:00Z",
            "2026-12-32T20:03:00Z",
            "2026-12-03T24:03:00Z",
            "2026-12-03T20:03:00.Z",
            "2026-12-03T20:03:00.000ZZ",
            "2026-12-03T20:03:00+0100",
            "1969-12-31T23:59:59Z",
            "+02026-12-03T20:03:00Z",
            "2026-1a-03T20:03:00Z",
        ] {
            assert_eq!(parse_js_date(bad), None, "{bad:?}");
        }
    }
}
