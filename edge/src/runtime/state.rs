//! What one isolate remembers between requests: its configuration, key set, verified-JWT
//! memo, session and liveness answers, and the revocations it made itself.
//!
//! A Workers isolate is single-threaded (wasm32 has no threads), so this is a
//! `thread_local!` `RefCell`, borrowed briefly and never across an `.await`. Every map is
//! bounded ([`crate::decide::memory::ExpiringMap`]).

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use worker::wasm_bindgen::JsValue;
use worker::Env;

use crate::decide::config::{ConfigError, EdgeConfig, KV_BINDING};
use crate::decide::jwks_cache::JwksState;
use crate::decide::jwt::Memo;
use crate::decide::liveness::{self, LivenessEntry};
use crate::decide::memory::ExpiringMap;
use crate::decide::revocation::{self, MarkerRead, UserMarker};
use crate::decide::session_cache::{self, SessionEntry};

/// The isolate's caches.
#[derive(Debug)]
pub struct Isolate {
    /// The fetched key set (unused when `JWKS_JSON` pins one).
    pub jwks: JwksState,
    /// Verified JWTs, by SHA-256 of the token.
    pub memo: Memo,
    /// Session answers, by SHA-256 of the session token.
    pub sessions: ExpiringMap<[u8; 32], SessionEntry>,
    /// Liveness answers, by session id.
    pub liveness: ExpiringMap<String, LivenessEntry>,
    /// Session ids this isolate saw revoked (mirrors `revoked:sid:*` in KV, without KV's
    /// propagation delay).
    pub revoked_sessions: ExpiringMap<String, ()>,
    /// User markers this isolate set (mirrors `revoked:user:*`).
    pub user_markers: ExpiringMap<String, UserMarker>,
    /// What this isolate recently read of the KV markers, for `MARKER_READ_TTL` seconds.
    pub marker_reads: ExpiringMap<String, MarkerRead>,
}

impl Default for Isolate {
    fn default() -> Self {
        Isolate {
            jwks: JwksState::default(),
            memo: Memo::default(),
            sessions: ExpiringMap::new(session_cache::MEMORY_CAPACITY),
            liveness: ExpiringMap::new(liveness::MEMORY_CAPACITY),
            revoked_sessions: ExpiringMap::new(revocation::MEMORY_CAPACITY),
            user_markers: ExpiringMap::new(revocation::MEMORY_CAPACITY),
            marker_reads: ExpiringMap::new(revocation::MEMORY_CAPACITY),
        }
    }
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::new(Isolate::default());
    static CONFIG: OnceCell<Result<Rc<EdgeConfig>, ConfigError>> = const { OnceCell::new() };
}

/// Runs `f` on the isolate's caches. `f` must not await (it cannot: it is not async).
pub fn with<R>(f: impl FnOnce(&mut Isolate) -> R) -> R {
    ISOLATE.with(|isolate| f(&mut isolate.borrow_mut()))
}

/// A `[vars]` entry or secret as a string. wrangler binds both as strings; a TOML number or
/// boolean in `[vars]` arrives as a JSON value and is taken as its text.
fn env_value(env: &Env, name: &str) -> Option<String> {
    let target: &JsValue = env.as_ref();
    let value = worker::js_sys::Reflect::get(target, &JsValue::from_str(name)).ok()?;
    if let Some(text) = value.as_string() {
        Some(text)
    } else if let Some(number) = value.as_f64() {
        // Whole numbers only (a TTL); anything else reads as invalid, not as a rounded value.
        let whole = number.fract() == 0.0 && (0.0..9.0e15).contains(&number);
        Some(if whole {
            (number as u64).to_string()
        } else {
            "invalid".to_string()
        })
    } else {
        value.as_bool().map(|b| b.to_string())
    }
}

/// The configuration, read from `env` on the isolate's first request and kept (a failure
/// too: the variables of a deployment do not change under a running isolate).
pub fn config(env: &Env) -> Result<Rc<EdgeConfig>, ConfigError> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| {
            let config = EdgeConfig::from_lookup(|name| env_value(env, name))?;
            env.kv(KV_BINDING)
                .map_err(|_| ConfigError::Missing(KV_BINDING))?;
            Ok(Rc::new(config))
        })
        .clone()
    })
}

/// The configuration if it was loaded successfully (for shaping error responses).
pub fn loaded_config() -> Option<Rc<EdgeConfig>> {
    CONFIG.with(|cell| cell.get().and_then(|result| result.as_ref().ok().cloned()))
}
