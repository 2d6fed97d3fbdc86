//! Revocation: which auth API calls end which sessions, what the edge does about it, and how
//! cached sessions and JWTs are checked against it.
//!
//! When one of these calls passes through the edge and the origin confirms it (a 2xx), the
//! edge evicts what it cached (isolate memory and KV) and leaves a marker in KV for the
//! other isolates and locations, which may still hold the session in memory:
//!
//! | call (under `/api/auth`) | ends | marker |
//! |---|---|---|
//! | `POST /sign-out` | the caller's session | `revoked:sid:<id>` |
//! | `POST /revoke-session {token}` | that session (if it is the caller's) | `revoked:sid:<id>` |
//! | `POST /revoke-sessions` | all the caller's sessions | `revoked:user:<userId>` = `<now>`, and the caller's `revoked:sid` |
//! | `POST /revoke-other-sessions` | all but the caller's | `revoked:user:<userId>` = `<now> <callerSessionId>` |
//! | `POST /change-password {revokeOtherSessions: true}` | all (a new one replaces the caller's) | `revoked:user:<userId>` = `<now>`, and the caller's `revoked:sid` |
//! | `POST /reset-password`, `POST /delete-user` (unless it only mailed a link), `GET /delete-user/callback` | all | `revoked:user:<userId>` = `<now>`, the user named by the origin's answer ([`REVOKED_USER_HEADER`]) |
//!
//! The session id and user behind the call are learnt *before* forwarding it, by resolving
//! the caller's credential (cache, else the origin); for `revoke-session`, the body's token
//! is hashed and looked up in the cache, else found in the origin's `list-sessions`.
//!
//! Checks, on every request that uses a cached session or a JWT ([`session_verdict`],
//! [`jwt_verdict`]):
//! - a session or JWT (`sid`) whose id carries a `revoked:sid` marker is refused;
//! - a cached session answered at or before the user's "not before" time is re-validated at
//!   the origin (it may be the session that survived, or a new one);
//! - a JWT issued (`iat`) before the user's "not before" time is refused, unless its `sid`
//!   is the one session a `revoke-other-sessions` spared; one issued in that very second
//!   (before or after the revocation: `iat` has no finer grain) is accepted only if the origin
//!   says its session is live right now.
//!
//! Markers expire from KV after [`MARKER_TTL`] (25 h), longer than any JWT the edge accepts
//! lives ([`crate::decide::jwt::MAX_JWT_LIFETIME`], 24 h, plus leeway), so a marker outlives every
//! token it must stop. Cached sessions live at most `SESSION_CACHE_TTL` anyway.
//!
//! [`REVOKED_USER_HEADER`]: edgeauth_token::wire::REVOKED_USER_HEADER

use serde_json::Value;

use crate::decide::jwt::{LEEWAY, MAX_JWT_LIFETIME};
use crate::decide::session_cache::{token_hash, CachedSession};

/// How long a revocation marker stays in KV, in seconds: 25 hours.
pub const MARKER_TTL: u64 = MAX_JWT_LIFETIME + 3600;

const _: () = assert!(MARKER_TTL >= MAX_JWT_LIFETIME + LEEWAY);

/// Most markers one isolate keeps in memory (its own revocations, seen at once).
pub const MEMORY_CAPACITY: usize = 1024;

/// How long an isolate reuses what it read of the KV markers for one session and user,
/// in seconds (never longer than `SESSION_CACHE_TTL`). Markers this isolate wrote itself are
/// always seen at once; markers written elsewhere already take as long as KV propagation
/// (typically up to 60 s), so a few seconds more spare two KV reads on every request.
pub const MARKER_READ_TTL: u64 = 5;

/// What one isolate last read of the KV markers for a session and a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerRead {
    /// `revoked:sid:<sid>` exists.
    pub sid_revoked: bool,
    /// `revoked:user:<uid>`, if set.
    pub user: Option<UserMarker>,
}

/// The isolate key for a marker read.
pub fn marker_read_key(session_id: Option<&str>, user_id: &str) -> String {
    format!("{}|{user_id}", session_id.unwrap_or(""))
}

/// The KV key marking session `sid` as revoked.
pub fn sid_marker_key(sid: &str) -> String {
    format!("revoked:sid:{sid}")
}

/// The KV key holding user `user_id`'s "not before" time.
pub fn user_marker_key(user_id: &str) -> String {
    format!("revoked:user:{user_id}")
}

/// A user's "not before" time: sessions and JWTs from before it are revoked, except the
/// session a `revoke-other-sessions` spared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMarker {
    /// Unix seconds.
    pub not_before: u64,
    /// The session id spared (`revoke-other-sessions`), if any.
    pub except_sid: Option<String>,
}

impl UserMarker {
    /// The KV value: `<not_before>` or `<not_before> <except_sid>`.
    pub fn encode(&self) -> String {
        match &self.except_sid {
            Some(sid) => format!("{} {sid}", self.not_before),
            None => self.not_before.to_string(),
        }
    }

    /// Reads a KV value written by [`UserMarker::encode`].
    pub fn decode(text: &str) -> Option<Self> {
        let (time, except) = match text.split_once(' ') {
            Some((time, sid)) if !sid.is_empty() => (time, Some(sid.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        Some(UserMarker {
            not_before: time.parse().ok()?,
            except_sid: except,
        })
    }

    /// Of two markers for one user, the one in force: the later; at the same second the one
    /// without an exception (the stricter).
    pub fn latest(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(
                if (b.not_before, b.except_sid.is_none()) > (a.not_before, a.except_sid.is_none()) {
                    b
                } else {
                    a
                },
            ),
            (a, b) => a.or(b),
        }
    }
}

/// The markers that apply to one session or JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// `revoked:sid:<id>` exists for its session id.
    pub sid_revoked: bool,
    /// Its user's "not before" marker.
    pub user: Option<UserMarker>,
}

/// What to do with a cached session or a verified JWT given its markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not revoked.
    Accept,
    /// Revoked: 401.
    Refuse,
    /// Possibly revoked: ask the origin again (cached sessions only).
    Revalidate,
}

/// The verdict on a session cached at `cached_at`.
pub fn session_verdict(markers: &Markers, session_id: &str, cached_at: u64) -> Verdict {
    if markers.sid_revoked {
        return Verdict::Refuse;
    }
    match &markers.user {
        Some(marker)
            if marker.except_sid.as_deref() != Some(session_id)
                && cached_at <= marker.not_before =>
        {
            Verdict::Revalidate
        }
        _ => Verdict::Accept,
    }
}

/// The verdict on a verified JWT issued at `iat` for session `sid`. A JWT without `iat` is
/// refused whenever its user has a marker (it cannot show it is newer). One issued in the
/// marker's own second is [`Verdict::Revalidate`]: its session's liveness must be asked
/// afresh (refused when it names no session).
pub fn jwt_verdict(markers: &Markers, sid: Option<&str>, iat: Option<u64>) -> Verdict {
    if markers.sid_revoked {
        return Verdict::Refuse;
    }
    let Some(marker) = &markers.user else {
        return Verdict::Accept;
    };
    if sid.is_some() && marker.except_sid.as_deref() == sid {
        return Verdict::Accept;
    }
    match iat {
        Some(iat) if iat > marker.not_before => Verdict::Accept,
        Some(iat) if iat == marker.not_before && sid.is_some() => Verdict::Revalidate,
        _ => Verdict::Refuse,
    }
}

/// What an auth API call revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// `sign-out`: the caller's session.
    CallerSession,
    /// `revoke-session {token}`: the session with this raw token.
    SessionByToken(String),
    /// Every session of the caller's user.
    AllSessions,
    /// Every session of the caller's user but the caller's.
    OtherSessions,
}

/// Whether the edge must read the request body of this auth API call to know what it
/// revokes (it is then forwarded from the buffered bytes).
pub fn needs_request_body(method: &str, sub_path: &str) -> bool {
    method == "POST" && matches!(sub_path, "/revoke-session" | "/change-password")
}

/// What a call to `sub_path` (the path below `/api/auth`) revokes, if anything; `body` is
/// the JSON request body when [`needs_request_body`].
pub fn revocation(method: &str, sub_path: &str, body: Option<&Value>) -> Option<Revocation> {
    match (method, sub_path) {
        ("POST", "/sign-out") => Some(Revocation::CallerSession),
        ("POST", "/revoke-session") => body?
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| Revocation::SessionByToken(t.to_string())),
        ("POST", "/revoke-sessions") => Some(Revocation::AllSessions),
        ("POST", "/revoke-other-sessions") => Some(Revocation::OtherSessions),
        // The origin reads `true` or `"true"` (origin/src/http/body.rs `optional_bool`).
        ("POST", "/change-password") => match body?.get("revokeOtherSessions") {
            Some(Value::Bool(true)) => Some(Revocation::AllSessions),
            Some(Value::String(s)) if s == "true" => Some(Revocation::AllSessions),
            _ => None,
        },
        // Password reset and account deletion (`delete-user`, `delete-user/callback`) are
        // not listed: the origin names the user in its answer (`REVOKED_USER_HEADER`),
        // only when sessions really ended (a deletion may only have mailed a link).
        _ => None,
    }
}

/// Whether the origin's status says the revocation happened.
pub fn confirmed(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The caller of an auth API call, as resolved before forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The cache key of the caller's session token.
    pub hash: [u8; 32],
    /// The caller's live session, when the cache or the origin knew it.
    pub session: Option<CachedSession>,
}

/// One thing to do once a revocation is confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Drop the session entry with this key (isolate memory and KV).
    Evict([u8; 32]),
    /// Mark this session id revoked.
    RevokeSession(String),
    /// Set this user's "not before" marker.
    RevokeUser {
        /// The user.
        user_id: String,
        /// The marker.
        marker: UserMarker,
    },
}

/// What to do, at `now`, for a confirmed `revocation` made by `caller`; `target_sid` is the
/// id of the session a `revoke-session` named, when known.
pub fn effects(
    revocation: &Revocation,
    caller: Option<&Caller>,
    target_sid: Option<&str>,
    now: u64,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let session = caller.and_then(|c| c.session.as_ref());
    match revocation {
        Revocation::CallerSession => {
            effects.extend(caller.map(|c| Effect::Evict(c.hash)));
            effects.extend(session.map(|s| Effect::RevokeSession(s.session_id.clone())));
        }
        Revocation::SessionByToken(token) => {
            effects.push(Effect::Evict(token_hash(token)));
            effects.extend(target_sid.map(|sid| Effect::RevokeSession(sid.to_string())));
        }
        Revocation::AllSessions => {
            effects.extend(caller.map(|c| Effect::Evict(c.hash)));
            effects.extend(session.map(|s| Effect::RevokeSession(s.session_id.clone())));
            effects.extend(session.map(|s| Effect::RevokeUser {
                user_id: s.user_id.clone(),
                marker: UserMarker {
                    not_before: now,
                    except_sid: None,
                },
            }));
        }
        Revocation::OtherSessions => {
            effects.extend(session.map(|s| Effect::RevokeUser {
                user_id: s.user_id.clone(),
                marker: UserMarker {
                    not_before: now,
                    except_sid: Some(s.session_id.clone()),
                },
            }));
        }
    }
    effects
}

/// The effects of the origin's [`REVOKED_USER_HEADER`] at `now`: that user's "not before"
/// marker. `None` for a value that is not a plausible user id.
///
/// [`REVOKED_USER_HEADER`]: edgeauth_token::wire::REVOKED_USER_HEADER
pub fn origin_revoked_user(value: &str, now: u64) -> Option<Effect> {
    let plausible = !value.is_empty()
        && value.len() <= 255
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    plausible.then(|| Effect::RevokeUser {
        user_id: value.to_string(),
        marker: UserMarker {
            not_before: now,
            except_sid: None,
        },
    })
}

/// The id of the session with raw token `token` in the origin's `GET /list-sessions` answer
/// (an array of session rows, each with `id` and `token`).
pub fn find_session_id(list_sessions_body: &str, token: &str) -> Option<String> {
    let sessions: Value = serde_json::from_str(list_sessions_body).ok()?;
    sessions
        .as_array()?
        .iter()
        .find(|s| s.get("token").and_then(Value::as_str) == Some(token))
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn user_marker(not_before: u64, except: Option<&str>) -> Markers {
        Markers {
            sid_revoked: false,
            user: Some(UserMarker {
                not_before,
                except_sid: except.map(str::to_string),
            }),
        }
    }

    fn session(sid: &str) -> CachedSession {
        CachedSession {
            session_id: sid.into(),
            user_id: "u1".into(),
            email: None,
            name: None,
            expires_at: NOW + 3600,
            jwt: None,
        }
    }

    #[test]
    fn marker_keys() {
        assert_eq!(sid_marker_key("s1"), "revoked:sid:s1");
        assert_eq!(user_marker_key("u1"), "revoked:user:u1");
    }

    #[test]
    fn user_markers_encode_and_decode() {
        let plain = UserMarker {
            not_before: NOW,
            except_sid: None,
        };
        assert_eq!(plain.encode(), "1800000000");
        assert_eq!(UserMarker::decode("1800000000"), Some(plain));
        let spared = UserMarker {
            not_before: NOW,
            except_sid: Some("s1".into()),
        };
        assert_eq!(spared.encode(), "1800000000 s1");
        assert_eq!(UserMarker::decode("1800000000 s1"), Some(spared));
        for junk in ["", "x", "-1", "1800000000 ", " s1", "1.5"] {
            assert_eq!(UserMarker::decode(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn the_latest_marker_is_in_force_and_ties_go_to_the_stricter() {
        let at = |t, e: Option<&str>| {
            Some(UserMarker {
                not_before: t,
                except_sid: e.map(str::to_string),
            })
        };
        assert_eq!(
            UserMarker::latest(at(1, None), at(2, Some("s"))),
            at(2, Some("s"))
        );
        assert_eq!(
            UserMarker::latest(at(3, Some("s")), at(2, None)),
            at(3, Some("s"))
        );
        assert_eq!(
            UserMarker::latest(at(2, Some("s")), at(2, None)),
            at(2, None)
        );
        assert_eq!(
            UserMarker::latest(at(2, None), at(2, Some("s"))),
            at(2, None)
        );
        assert_eq!(UserMarker::latest(None, at(2, None)), at(2, None));
        assert_eq!(UserMarker::latest(None, None), None);
    }

    #[test]
    fn cached_sessions_against_markers() {
        let none = Markers::default();
        assert_eq!(session_verdict(&none, "s1", NOW), Verdict::Accept);
        let revoked = Markers {
            sid_revoked: true,
            user: None,
        };
        assert_eq!(session_verdict(&revoked, "s1", NOW), Verdict::Refuse);
        // Cached at or before the user's marker: ask the origin again.
        let marker = user_marker(NOW, None);
        assert_eq!(session_verdict(&marker, "s1", NOW - 5), Verdict::Revalidate);
        assert_eq!(session_verdict(&marker, "s1", NOW), Verdict::Revalidate);
        assert_eq!(session_verdict(&marker, "s1", NOW + 1), Verdict::Accept);
        // The spared session is not re-validated.
        let spared = user_marker(NOW, Some("s1"));
        assert_eq!(session_verdict(&spared, "s1", NOW - 5), Verdict::Accept);
        assert_eq!(session_verdict(&spared, "s2", NOW - 5), Verdict::Revalidate);
    }

    #[test]
    fn jwts_against_markers() {
        let none = Markers::default();
        assert_eq!(jwt_verdict(&none, Some("s1"), Some(NOW)), Verdict::Accept);
        assert_eq!(jwt_verdict(&none, None, None), Verdict::Accept);
        let revoked = Markers {
            sid_revoked: true,
            user: None,
        };
        assert_eq!(
            jwt_verdict(&revoked, Some("s1"), Some(NOW)),
            Verdict::Refuse
        );

        let marker = user_marker(NOW, None);
        assert_eq!(
            jwt_verdict(&marker, Some("s1"), Some(NOW - 1)),
            Verdict::Refuse
        );
        assert_eq!(
            jwt_verdict(&marker, Some("s1"), Some(NOW + 1)),
            Verdict::Accept
        );
        assert_eq!(
            jwt_verdict(&marker, Some("s1"), Some(NOW + 60)),
            Verdict::Accept
        );
        assert_eq!(jwt_verdict(&marker, None, Some(NOW - 1)), Verdict::Refuse);
        assert_eq!(jwt_verdict(&marker, Some("s1"), None), Verdict::Refuse);
        // Issued in the revocation's own second: ask the origin, or refuse without a sid.
        assert_eq!(
            jwt_verdict(&marker, Some("s1"), Some(NOW)),
            Verdict::Revalidate
        );
        assert_eq!(jwt_verdict(&marker, None, Some(NOW)), Verdict::Refuse);

        let spared = user_marker(NOW, Some("s1"));
        assert_eq!(
            jwt_verdict(&spared, Some("s1"), Some(NOW - 1)),
            Verdict::Accept
        );
        assert_eq!(
            jwt_verdict(&spared, Some("s2"), Some(NOW - 1)),
            Verdict::Refuse
        );
        // A JWT without `sid` is never the spared session.
        assert_eq!(jwt_verdict(&spared, None, Some(NOW - 1)), Verdict::Refuse);
        // A revoked sid beats the exception.
        let both = Markers {
            sid_revoked: true,
            user: spared.user.clone(),
        };
        assert_eq!(
            jwt_verdict(&both, Some("s1"), Some(NOW + 1)),
            Verdict::Refuse
        );
    }

    #[test]
    fn the_origin_names_users_whose_sessions_ended() {
        assert_eq!(
            origin_revoked_user("u1-A_b", NOW),
            Some(Effect::RevokeUser {
                user_id: "u1-A_b".into(),
                marker: UserMarker {
                    not_before: NOW,
                    except_sid: None
                }
            })
        );
        for bad in ["", "a b", "u:1", "x\n", &"u".repeat(256)] {
            assert_eq!(origin_revoked_user(bad, NOW), None, "{bad:?}");
        }
    }

    #[test]
    fn which_calls_revoke_what() {
        let token = json!({"token": "t1"});
        assert_eq!(
            revocation("POST", "/sign-out", None),
            Some(Revocation::CallerSession)
        );
        assert_eq!(
            revocation("POST", "/revoke-session", Some(&token)),
            Some(Revocation::SessionByToken("t1".into()))
        );
        assert_eq!(revocation("POST", "/revoke-session", None), None);
        assert_eq!(
            revocation("POST", "/revoke-session", Some(&json!({}))),
            None
        );
        assert_eq!(
            revocation("POST", "/revoke-session", Some(&json!({"token": ""}))),
            None
        );
        assert_eq!(
            revocation("POST", "/revoke-session", Some(&json!({"token": 1}))),
            None
        );
        assert_eq!(
            revocation("POST", "/revoke-sessions", None),
            Some(Revocation::AllSessions)
        );
        assert_eq!(
            revocation("POST", "/revoke-other-sessions", None),
            Some(Revocation::OtherSessions)
        );
        for yes in [
            json!({"revokeOtherSessions": true}),
            json!({"revokeOtherSessions": "true"}),
        ] {
            assert_eq!(
                revocation("POST", "/change-password", Some(&yes)),
                Some(Revocation::AllSessions),
                "{yes}"
            );
        }
        for no in [
            json!({}),
            json!({"revokeOtherSessions": false}),
            json!({"revokeOtherSessions": "yes"}),
            json!({"revokeOtherSessions": 1}),
        ] {
            assert_eq!(
                revocation("POST", "/change-password", Some(&no)),
                None,
                "{no}"
            );
        }
        assert_eq!(revocation("POST", "/change-password", None), None);
        for (method, path) in [
            ("GET", "/sign-out"),
            ("post", "/sign-out"),
            ("POST", "/sign-out/"),
            ("POST", "/sign-in/email"),
            ("GET", "/get-session"),
            ("POST", "/update-user"),
            ("GET", "/delete-user"),
            // Named by the origin's answer instead.
            ("POST", "/delete-user"),
            ("GET", "/delete-user/callback"),
            ("POST", "/reset-password"),
        ] {
            assert_eq!(
                revocation(method, path, Some(&token)),
                None,
                "{method} {path}"
            );
        }
        assert!(needs_request_body("POST", "/revoke-session"));
        assert!(needs_request_body("POST", "/change-password"));
        assert!(!needs_request_body("POST", "/sign-out"));
        assert!(!needs_request_body("GET", "/revoke-session"));
    }

    #[test]
    fn confirmation_needs_success_from_the_origin() {
        assert!(confirmed(200));
        assert!(!confirmed(401));
        assert!(!confirmed(400));
        assert!(!confirmed(302));
        assert!(!confirmed(503));
    }

    #[test]
    fn effects_of_each_revocation() {
        let caller = Caller {
            hash: [7; 32],
            session: Some(session("s1")),
        };
        let unknown_caller = Caller {
            hash: [8; 32],
            session: None,
        };
        assert_eq!(
            effects(&Revocation::CallerSession, Some(&caller), None, NOW),
            vec![Effect::Evict([7; 32]), Effect::RevokeSession("s1".into())]
        );
        assert_eq!(
            effects(&Revocation::CallerSession, Some(&unknown_caller), None, NOW),
            vec![Effect::Evict([8; 32])]
        );
        assert_eq!(effects(&Revocation::CallerSession, None, None, NOW), vec![]);
        assert_eq!(
            effects(
                &Revocation::SessionByToken("t2".into()),
                Some(&caller),
                Some("s2"),
                NOW
            ),
            vec![
                Effect::Evict(token_hash("t2")),
                Effect::RevokeSession("s2".into())
            ]
        );
        assert_eq!(
            effects(
                &Revocation::SessionByToken("t2".into()),
                Some(&caller),
                None,
                NOW
            ),
            vec![Effect::Evict(token_hash("t2"))]
        );
        assert_eq!(
            effects(&Revocation::AllSessions, Some(&caller), None, NOW),
            vec![
                Effect::Evict([7; 32]),
                Effect::RevokeSession("s1".into()),
                Effect::RevokeUser {
                    user_id: "u1".into(),
                    marker: UserMarker {
                        not_before: NOW,
                        except_sid: None
                    }
                }
            ]
        );
        assert_eq!(
            effects(&Revocation::OtherSessions, Some(&caller), None, NOW),
            vec![Effect::RevokeUser {
                user_id: "u1".into(),
                marker: UserMarker {
                    not_before: NOW,
                    except_sid: Some("s1".into())
                }
            }]
        );
        assert_eq!(
            effects(&Revocation::OtherSessions, Some(&unknown_caller), None, NOW),
            vec![]
        );
    }

    #[test]
    fn finds_a_session_id_in_list_sessions() {
        let body = json!([
            {"id": "s1", "token": "t1", "userId": "u1"},
            {"id": "s2", "token": "t2", "userId": "u1"}
        ])
        .to_string();
        assert_eq!(find_session_id(&body, "t2"), Some("s2".into()));
        assert_eq!(find_session_id(&body, "t3"), None);
        assert_eq!(find_session_id("null", "t1"), None);
        assert_eq!(find_session_id("", "t1"), None);
        assert_eq!(find_session_id(r#"[{"token":"t1","id":""}]"#, "t1"), None);
    }

    #[test]
    fn markers_outlive_every_acceptable_jwt() {
        const { assert!(MARKER_TTL > MAX_JWT_LIFETIME + LEEWAY) };
        assert_eq!(MARKER_TTL, 90_000);
    }
}
