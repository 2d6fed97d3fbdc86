//! The session cache at runtime: isolate memory, then KV, then the origin (what is cached,
//! for how long and under which key is decided in [`crate::decide::session_cache`]).

use crate::decide::credentials::ForwardAs;
use crate::decide::error::EdgeError;
use crate::decide::session_cache::{self, CachedSession, SessionEntry};
use crate::runtime::cx::Cx;
use crate::runtime::state;

/// A fresh cache entry for a token hash: isolate memory, then KV.
pub async fn cached_entry(cx: &Cx<'_>, hash: &[u8; 32]) -> Option<SessionEntry> {
    let now = cx.now;
    if let Some(entry) = state::with(|s| s.sessions.get(hash, now).cloned()) {
        if entry.is_fresh(now) {
            return Some(entry);
        }
    }
    let read = match cx.kv() {
        Ok(kv) => kv.get(&session_cache::kv_key(hash)).text().await,
        Err(e) => Err(e),
    };
    match read {
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
pub async fn resolve_at_origin(
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
pub async fn evict(cx: &Cx<'_>, hash: &[u8; 32]) {
    state::with(|s| s.sessions.remove(hash));
    let deleted = match cx.kv() {
        Ok(kv) => kv.delete(&session_cache::kv_key(hash)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = deleted {
        worker::console_warn!("edgeauth-edge: KV delete failed: {e}");
    }
}
