//! Deciding who a request is: the runtime side (caches, KV, the origin) of the pure
//! decisions in [`crate::credentials`], [`crate::jwt`], [`crate::jwks_cache`],
//! [`crate::session_cache`], [`crate::revocation`] and [`crate::liveness`].
//!
//! - A session credential (cookie or signed bearer value) whose HMAC verified: isolate
//!   memory, then KV, then the origin's get-session; a cached session is checked against
//!   revocation markers on every request (a user marker newer than the cache entry sends it
//!   back to the origin).
//! - A JWT: the memo or a full verification, then revocation markers and, when it names a
//!   session, that session's liveness, on every request.
//! - The origin down: cached sessions and valid JWTs keep working within their bounds;
//!   anything the edge cannot decide is a 503 (fail closed).

use worker::{Context, KvStore};

use crate::config::EdgeConfig;
use crate::credentials::{self, ForwardAs, Presented, SessionCredential};
use crate::error::EdgeError;
use crate::forward::{AuthMethod, Identity};
use crate::jwks_cache::{self, KeyLookup};
use crate::jwt::{self, VerifiedJwt};
use crate::liveness::{self, LivenessEntry};
use crate::origin::OriginClient;
use crate::revocation::{self, Caller, Effect, MarkerRead, Markers, UserMarker, Verdict};
use crate::route::RequestInfo;
use crate::session_cache::{self, token_hash, CachedSession, SessionEntry};
use crate::state;

/// Everything a request's handling needs from the runtime.
pub struct Cx<'a> {
    /// The configuration.
    pub config: &'a EdgeConfig,
    /// The `SESSIONS` namespace.
    pub kv: KvStore,
    /// The request, as read.
    pub info: &'a RequestInfo,
    /// Now, unix seconds.
    pub now: u64,
    /// `scheme://host` the worker was reached at (for the Cache API key), when readable.
    pub request_origin: Option<String>,
    /// The invocation context (for writes that need not delay the response).
    pub ctx: &'a Context,
}

impl Cx<'_> {
    fn origin(&self) -> OriginClient<'_> {
        OriginClient {
            origin_url: &self.config.origin_url,
            edge_secret: &self.config.edge_secret,
            client_ip: self.info.client_ip.as_deref(),
        }
    }

    /// Writes to KV after the response, logging failures (caches only: losing one costs an
    /// origin call later, nothing more).
    fn write_later(&self, key: String, value: String, ttl: u64) {
        let kv = self.kv.clone();
        self.ctx.wait_until(async move {
            let put = match kv.put(&key, value) {
                Ok(put) => put.expiration_ttl(ttl).execute().await,
                Err(e) => Err(e),
            };
            if let Err(e) = put {
                worker::console_warn!("edgeauth-edge: KV write failed: {e}");
            }
        });
    }
}

/// The identity of a request to a protected path.
pub async fn authenticate(
    cx: &Cx<'_>,
    authorization: Option<&str>,
    cookies: Option<&str>,
) -> Result<Identity, EdgeError> {
    let secret = cx.config.better_auth_secret.as_bytes();
    match credentials::extract(authorization, cookies, secret) {
        Presented::Nothing => Err(EdgeError::anonymous()),
        Presented::Refused(reason) => Err(EdgeError::refused(reason)),
        Presented::Jwt(token) => jwt_identity(cx, token).await,
        Presented::Session(credential) => session_identity(cx, &credential).await,
    }
}

// ------------------------------------------------------------------------------------------
// Sessions

async fn session_identity(
    cx: &Cx<'_>,
    credential: &SessionCredential,
) -> Result<Identity, EdgeError> {
    let hash = token_hash(&credential.token);
    if let Some(entry) = cached_entry(cx, &hash).await {
        let Some(session) = &entry.session else {
            return Err(EdgeError::refused("no live session (cached answer)"));
        };
        let markers = read_markers(cx, Some(&session.session_id), &session.user_id).await?;
        match revocation::session_verdict(&markers, &session.session_id, entry.cached_at) {
            Verdict::Accept => return Ok(session_identity_of(session)),
            Verdict::Refuse => {
                evict(cx, &hash).await;
                return Err(EdgeError::refused("session revoked"));
            }
            Verdict::Revalidate => {}
        }
    }
    match resolve_at_origin(cx, &hash, &credential.forward).await? {
        Some(session) => Ok(session_identity_of(&session)),
        None => Err(EdgeError::refused("no live session")),
    }
}

fn session_identity_of(session: &CachedSession) -> Identity {
    Identity {
        user_id: session.user_id.clone(),
        email: session.email.clone(),
        session_id: Some(session.session_id.clone()),
        method: AuthMethod::Session,
    }
}

/// A fresh cache entry for a token hash: isolate memory, then KV.
async fn cached_entry(cx: &Cx<'_>, hash: &[u8; 32]) -> Option<SessionEntry> {
    let now = cx.now;
    if let Some(entry) = state::with(|s| s.sessions.get(hash, now).cloned()) {
        if entry.is_fresh(now) {
            return Some(entry);
        }
    }
    match cx.kv.get(&session_cache::kv_key(hash)).text().await {
        Ok(Some(text)) => {
            let entry = SessionEntry::from_json(&text).filter(|e| e.is_fresh(now))?;
            state::with(|s| {
                s.sessions
                    .insert(*hash, entry.clone(), entry.cached_until, now)
            });
            Some(entry)
        }
        Ok(None) => None,
        Err(e) => {
            worker::console_warn!("edgeauth-edge: KV read failed (treated as a miss): {e}");
            None
        }
    }
}

/// Asks the origin about the session `forward` presents and caches the answer. An origin
/// that cannot answer is a 503.
async fn resolve_at_origin(
    cx: &Cx<'_>,
    hash: &[u8; 32],
    forward: &ForwardAs,
) -> Result<Option<CachedSession>, EdgeError> {
    let now = cx.now;
    let ttl = cx.config.session_cache_ttl;
    let answer = cx
        .origin()
        .get_session(forward, now)
        .await
        .map_err(EdgeError::Unavailable)?;
    let entry = match answer {
        Some(session) => SessionEntry::live(session, now, ttl),
        None => SessionEntry::none(now, ttl),
    };
    state::with(|s| {
        s.sessions
            .insert(*hash, entry.clone(), entry.cached_until, now)
    });
    if let Some(kv_ttl) = session_cache::kv_expiration_ttl(now, entry.cached_until) {
        cx.write_later(session_cache::kv_key(hash), entry.to_json(), kv_ttl);
    }
    Ok(entry.session)
}

/// Drops a session entry from isolate memory and KV.
async fn evict(cx: &Cx<'_>, hash: &[u8; 32]) {
    state::with(|s| s.sessions.remove(hash));
    if let Err(e) = cx.kv.delete(&session_cache::kv_key(hash)).await {
        worker::console_warn!("edgeauth-edge: KV delete failed: {e}");
    }
}

// ------------------------------------------------------------------------------------------
// Revocation markers

/// The markers for a session id and a user: this isolate's own, then KV's. A KV failure is
/// a 503: revocation cannot be ruled out.
async fn read_markers(
    cx: &Cx<'_>,
    session_id: Option<&str>,
    user_id: &str,
) -> Result<Markers, EdgeError> {
    let now = cx.now;
    let (local_sid, local_user) = state::with(|s| {
        (
            session_id.is_some_and(|sid| s.revoked_sessions.get(&sid.to_string(), now).is_some()),
            s.user_markers.get(&user_id.to_string(), now).cloned(),
        )
    });
    if local_sid {
        return Ok(Markers {
            sid_revoked: true,
            user: local_user,
        });
    }
    let read_key = revocation::marker_read_key(session_id, user_id);
    if let Some(read) = state::with(|s| s.marker_reads.get(&read_key, now).cloned()) {
        return Ok(Markers {
            sid_revoked: read.sid_revoked,
            user: UserMarker::latest(local_user, read.user),
        });
    }
    let sid_read = async {
        match session_id {
            Some(sid) => cx
                .kv
                .get(&revocation::sid_marker_key(sid))
                .text()
                .await
                .map(|v| v.is_some()),
            None => Ok(false),
        }
    };
    let user_read = cx.kv.get(&revocation::user_marker_key(user_id)).text();
    let (sid_revoked, user) = futures_util::future::join(sid_read, user_read).await;
    let unavailable = |e: worker::KvError| EdgeError::Unavailable(format!("KV read: {e}"));
    let sid_revoked = sid_revoked.map_err(unavailable)?;
    let kv_user = user
        .map_err(unavailable)?
        .and_then(|text| UserMarker::decode(&text));
    let ttl = revocation::MARKER_READ_TTL.min(cx.config.session_cache_ttl);
    if ttl > 0 {
        let read = MarkerRead {
            sid_revoked,
            user: kv_user.clone(),
        };
        state::with(|s| s.marker_reads.insert(read_key, read, now + ttl, now));
    }
    Ok(Markers {
        sid_revoked,
        user: UserMarker::latest(local_user, kv_user),
    })
}

/// Carries out the effects of a confirmed revocation: in this isolate at once, in KV for
/// the others.
pub async fn apply(cx: &Cx<'_>, effects: &[Effect]) {
    let now = cx.now;
    for effect in effects {
        let written = match effect {
            Effect::Evict(hash) => {
                evict(cx, hash).await;
                Ok(())
            }
            Effect::RevokeSession(sid) => {
                state::with(|s| {
                    s.revoked_sessions
                        .insert(sid.clone(), (), now + revocation::MARKER_TTL, now);
                    s.liveness.remove(sid);
                });
                put_marker(cx, revocation::sid_marker_key(sid), now.to_string()).await
            }
            Effect::RevokeUser { user_id, marker } => {
                state::with(|s| {
                    let latest = UserMarker::latest(
                        s.user_markers.get(user_id, now).cloned(),
                        Some(marker.clone()),
                    );
                    if let Some(latest) = latest {
                        s.user_markers.insert(
                            user_id.clone(),
                            latest,
                            now + revocation::MARKER_TTL,
                            now,
                        );
                    }
                });
                put_marker(cx, revocation::user_marker_key(user_id), marker.encode()).await
            }
        };
        if let Err(e) = written {
            // The origin has revoked; this isolate knows. Other isolates find out through the
            // cache TTL and liveness checks instead.
            worker::console_error!("edgeauth-edge: writing a revocation marker failed: {e}");
        }
    }
}

async fn put_marker(cx: &Cx<'_>, key: String, value: String) -> Result<(), worker::KvError> {
    cx.kv
        .put(&key, value)?
        .expiration_ttl(revocation::MARKER_TTL)
        .execute()
        .await
}

/// The caller of an auth API call that revokes: its cache key and, if the cache or the
/// origin knows it, its session (whatever the markers say: this is bookkeeping).
pub async fn caller(cx: &Cx<'_>, credential: &SessionCredential) -> Caller {
    let hash = token_hash(&credential.token);
    let session = match cached_entry(cx, &hash).await {
        Some(entry) => entry.session,
        None => match cx.origin().get_session(&credential.forward, cx.now).await {
            Ok(session) => session,
            Err(e) => {
                worker::console_warn!("edgeauth-edge: resolving a revoking caller: {e}");
                None
            }
        },
    };
    Caller { hash, session }
}

/// The id of the caller's session with raw token `token`: from the cache (only if it is
/// `user_id`'s), else from the origin's `list-sessions`.
pub async fn session_id_of_token(
    cx: &Cx<'_>,
    credential: &SessionCredential,
    token: &str,
    user_id: &str,
) -> Option<String> {
    let hash = token_hash(token);
    if let Some(session) = cached_entry(cx, &hash).await.and_then(|e| e.session) {
        if session.user_id == user_id {
            return Some(session.session_id);
        }
    }
    match cx
        .origin()
        .find_session_id(&credential.forward, token)
        .await
    {
        Ok(sid) => sid,
        Err(e) => {
            worker::console_warn!("edgeauth-edge: listing sessions for revoke-session: {e}");
            None
        }
    }
}

// ------------------------------------------------------------------------------------------
// JWTs

async fn jwt_identity(cx: &Cx<'_>, token: &str) -> Result<Identity, EdgeError> {
    let now = cx.now;
    let rules = jwt::validation(&cx.config.jwt_issuer, &cx.config.jwt_audience);
    let hash = token_hash(token);

    let remembered =
        current_keys(cx).and_then(|keys| state::with(|s| s.memo.get(&hash, &keys, now)));
    let verified = match remembered {
        Some(jwt) => jwt,
        None => {
            let kid =
                jwt::kid_of(token, &rules).map_err(|e| EdgeError::refused(format!("JWT: {e}")))?;
            let keys = match key_lookup(cx, &kid).await {
                KeyLookup::Found(keys) => keys,
                KeyLookup::UnknownKid => return Err(EdgeError::refused("JWT: unknown kid")),
                KeyLookup::Unavailable => {
                    return Err(EdgeError::Unavailable("no usable JWKS".into()))
                }
            };
            let verified = jwt::verify(token, &keys, &rules, now)
                .map_err(|e| EdgeError::refused(format!("JWT: {e}")))?;
            state::with(|s| s.memo.insert(hash, verified.clone(), now));
            verified
        }
    };

    let markers = read_markers(cx, verified.session_id.as_deref(), &verified.user_id).await?;
    let ask_afresh =
        match revocation::jwt_verdict(&markers, verified.session_id.as_deref(), verified.issued_at)
        {
            Verdict::Accept => false,
            Verdict::Revalidate => true,
            Verdict::Refuse => return Err(EdgeError::refused("JWT revoked")),
        };
    if let Some(sid) = &verified.session_id {
        check_liveness(cx, sid, &verified.user_id, ask_afresh).await?;
    }
    Ok(jwt_identity_of(verified))
}

fn jwt_identity_of(jwt: VerifiedJwt) -> Identity {
    Identity {
        user_id: jwt.user_id,
        email: jwt.email,
        session_id: jwt.session_id,
        method: AuthMethod::Jwt,
    }
}

/// The key set usable right now without any I/O (for the memo).
fn current_keys(cx: &Cx<'_>) -> Option<jwt::Keys> {
    match &cx.config.pinned_keys {
        Some(pinned) => Some(pinned.clone()),
        None => state::with(|s| s.jwks.usable(cx.now)),
    }
}

/// Where the key for `kid` stands, refreshing the key set first when due and allowed.
async fn key_lookup(cx: &Cx<'_>, kid: &str) -> KeyLookup {
    let now = cx.now;
    if let Some(pinned) = &cx.config.pinned_keys {
        return if pinned.get(kid).is_some() {
            KeyLookup::Found(pinned.clone())
        } else {
            KeyLookup::UnknownKid
        };
    }
    let refresh = state::with(|s| {
        let why = s.jwks.should_refresh(kid, now);
        if let Some(why) = why {
            s.jwks.begin_refresh(why, now);
        }
        why
    });
    if refresh.is_some() {
        refresh_keys(cx, kid).await;
    }
    state::with(|s| s.jwks.lookup(kid, now))
}

/// Refreshes the key set: from the Cache API when it holds a newer set that will do, else
/// from the origin (then stored in the Cache API).
async fn refresh_keys(cx: &Cx<'_>, kid: &str) {
    let now = cx.now;
    let url = cx
        .request_origin
        .as_deref()
        .map(|origin| jwks_cache::cache_url(origin, &cx.config.origin_url));
    let cached = match &url {
        Some(url) => worker::Cache::default().get(url.as_str(), false).await,
        None => Ok(None),
    };
    match cached {
        Ok(Some(mut cached)) => {
            let fetched_at = cached
                .headers()
                .get(jwks_cache::FETCHED_AT_HEADER)
                .ok()
                .flatten()
                .and_then(|v| v.parse::<u64>().ok());
            if let (Some(fetched_at), Ok(text)) = (fetched_at, cached.text().await) {
                if let Ok(keys) = edgeauth_token::KeySet::from_jwks_json(&text) {
                    state::with(|s| s.jwks.adopt(keys, fetched_at));
                }
            }
        }
        Ok(None) => {}
        Err(e) => worker::console_warn!("edgeauth-edge: Cache API read failed: {e}"),
    }
    let good_enough = state::with(|s| {
        matches!(s.jwks.lookup(kid, now), KeyLookup::Found(_))
            && now < s.jwks.fetched_at() + jwks_cache::REFRESH_AFTER
    });
    if good_enough {
        return;
    }
    let fetched = cx.origin().jwks().await.and_then(|text| {
        edgeauth_token::KeySet::from_jwks_json(&text)
            .map(|keys| (keys, text))
            .map_err(|e| format!("jwks: {e}"))
    });
    match fetched {
        Ok((keys, text)) => {
            state::with(|s| {
                s.jwks.adopt(keys, now);
                s.jwks.origin_answered(true);
            });
            if let Some(url) = url {
                cx.ctx.wait_until(async move {
                    if let Err(e) = store_jwks(&url, text, now).await {
                        worker::console_warn!("edgeauth-edge: Cache API write failed: {e}");
                    }
                });
            }
        }
        Err(e) => {
            worker::console_warn!("edgeauth-edge: JWKS refresh failed: {e}");
            state::with(|s| s.jwks.origin_answered(false));
        }
    }
}

async fn store_jwks(url: &str, text: String, fetched_at: u64) -> worker::Result<()> {
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", &jwks_cache::cache_control())?;
    headers.set(jwks_cache::FETCHED_AT_HEADER, &fetched_at.to_string())?;
    let response = worker::Response::ok(text)?.with_headers(headers);
    worker::Cache::default().put(url, response).await
}

/// Refuses a JWT whose session the origin says has ended (asked at most once per
/// `SESSION_CACHE_TTL` per session; unknown when the origin cannot answer, which accepts).
/// `afresh`: ignore cached answers, and fail closed (503) if the origin cannot answer.
async fn check_liveness(
    cx: &Cx<'_>,
    sid: &str,
    user_id: &str,
    afresh: bool,
) -> Result<(), EdgeError> {
    let now = cx.now;
    let ttl = cx.config.session_cache_ttl;
    let key = sid.to_string();
    let mut entry = None;
    if !afresh {
        entry = state::with(|s| s.liveness.get(&key, now).cloned());
        if entry.is_none() {
            if let Ok(Some(text)) = cx.kv.get(&liveness::kv_key(sid)).text().await {
                entry = LivenessEntry::from_json(&text).filter(|e| e.is_fresh(now));
            }
        }
    }
    let entry = match entry {
        Some(entry) => entry,
        None => match cx.origin().liveness(sid).await {
            Ok(answer) => {
                let entry = LivenessEntry::answered(&answer, now, ttl);
                if let Some(kv_ttl) = session_cache::kv_expiration_ttl(now, entry.cached_until) {
                    cx.write_later(liveness::kv_key(sid), entry.to_json(), kv_ttl);
                }
                entry
            }
            Err(e) if afresh => return Err(EdgeError::Unavailable(format!("liveness: {e}"))),
            Err(e) => {
                worker::console_warn!("edgeauth-edge: session liveness unknown: {e}");
                LivenessEntry::unknown(now)
            }
        },
    };
    state::with(|s| {
        s.liveness
            .insert(key, entry.clone(), entry.cached_until, now)
    });
    if entry.accepts(user_id) {
        Ok(())
    } else {
        Err(EdgeError::refused("JWT session ended"))
    }
}
