//! Carrying out revocations: the effects [`crate::decide::revocation`] decides for a
//! confirmed auth API call (or the origin's `x-edgeauth-revoked-user`), applied in this
//! isolate at once and in KV for the others; and the lookups that tell what a revoking call
//! is about (its caller's session, the session a `revoke-session` names).

use crate::decide::credentials::SessionCredential;
use crate::decide::revocation::{self, Caller, Effect, UserMarker};
use crate::decide::session_cache::token_hash;
use crate::runtime::cx::Cx;
use crate::runtime::sessions::{cached_entry, evict};
use crate::runtime::state;

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
    cx.kv()?
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
