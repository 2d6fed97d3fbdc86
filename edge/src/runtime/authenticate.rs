//! Deciding who a request is: the runtime side (caches, KV, the origin) of the pure
//! decisions in [`credentials`], [`jwt`], [`jwks_cache`], [`session_cache`], [`revocation`]
//! and [`liveness`] (all under [`crate::decide`]). Carrying out revocations is
//! [`crate::runtime::revoke`]'s.
//!
//! - A session credential (cookie or signed bearer value) whose HMAC verified: isolate
//!   memory, then KV, then the origin's get-session; a cached session is checked against
//!   revocation markers on every request (a user marker newer than the cache entry sends it
//!   back to the origin).
//! - A JWT: the memo or a full verification, then revocation markers and, when it names a
//!   session, that session's liveness, on every request.
//! - The origin down: cached sessions and valid JWTs keep working within their bounds;
//!   anything the edge cannot decide is a 503 (fail closed).

use crate::decide::credentials::{self, Presented, SessionCredential};
use crate::decide::error::EdgeError;
use crate::decide::identity::Identity;
use crate::decide::jwks_cache::{self, KeyLookup};
use crate::decide::jwt;
use crate::decide::liveness::{self, LivenessEntry};
use crate::decide::revocation::{self, MarkerRead, Markers, UserMarker, Verdict};
use crate::decide::session_cache::{self, token_hash};
use crate::runtime::cx::Cx;
use crate::runtime::sessions::{cached_entry, evict, resolve_at_origin};
use crate::runtime::state;

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
            Verdict::Accept => return Ok(Identity::of_session(session)),
            Verdict::Refuse => {
                evict(cx, &hash).await;
                return Err(EdgeError::refused("session revoked"));
            }
            Verdict::Revalidate => {}
        }
    }
    match resolve_at_origin(cx, &hash, &credential.forward).await? {
        Some(session) => Ok(Identity::of_session(&session)),
        None => Err(EdgeError::refused("no live session")),
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
    let unavailable = |e: worker::KvError| EdgeError::Unavailable(format!("KV read: {e}"));
    let kv = cx.kv().map_err(unavailable)?;
    let sid_read = async {
        match session_id {
            Some(sid) => kv
                .get(&revocation::sid_marker_key(sid))
                .text()
                .await
                .map(|v| v.is_some()),
            None => Ok(false),
        }
    };
    let user_read = kv.get(&revocation::user_marker_key(user_id)).text();
    let (sid_revoked, user) = futures_util::future::join(sid_read, user_read).await;
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

// ------------------------------------------------------------------------------------------
// JWTs

async fn jwt_identity(cx: &Cx<'_>, token: &str) -> Result<Identity, EdgeError> {
    let now = cx.now;
    let hash = token_hash(token);

    let remembered =
        current_keys(cx).and_then(|keys| state::with(|s| s.memo.get(&hash, &keys, now)));
    let verified = match remembered {
        Some(jwt) => jwt,
        None => {
            let rules = jwt::validation(&cx.config.jwt_issuer, &cx.config.jwt_audience);
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
    Ok(Identity::of_jwt(verified, token))
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
        .request_origin()
        .map(|origin| jwks_cache::cache_url(&origin, &cx.config.origin_url));
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
            let read = match cx.kv() {
                Ok(kv) => kv.get(&liveness::kv_key(sid)).text().await,
                Err(e) => Err(e),
            };
            if let Ok(Some(text)) = read {
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
