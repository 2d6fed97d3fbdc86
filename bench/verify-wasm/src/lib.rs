//! Benchmark harness: [`edgeauth_token`]'s JWT verification, compiled to wasm32 and exported to
//! JavaScript with wasm-bindgen, so that `bench/verify-node.mjs` can time it in V8 next to
//! `jose` verifying the same token in the same process.
//!
//! [`Verifier::verify`] is the full verification the edge runs on every JWT it has not seen
//! before (size and charset, base64url, strict JSON, header rules, `kid` lookup, strict
//! Ed25519, claims), returning the subject so that the result crosses back into JavaScript as
//! the edge's result would be used. [`Verifier::verify_memo`] adds the isolate memo: a token
//! that already verified is not verified again until it expires. The memo mirrors the edge's
//! isolate caches (a bounded map keyed by the SHA-256 of the credential, each entry valid
//! until an expiry); it lives here only to time a hit, and is not the edge's code.
//!
//! Build with `bash scripts/bench-edge-verify.sh`, which also runs the benchmark.

use std::collections::BTreeMap;

use edgeauth_token::{KeySet, Validation};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

/// Entries the memo holds at most (the edge bounds every isolate cache the same way).
const MEMO_CAPACITY: usize = 1024;

/// A pinned key set and validation rules, plus an isolate memo of verified tokens.
#[wasm_bindgen]
pub struct Verifier {
    keys: KeySet,
    rules: Validation,
    /// SHA-256 of a token that verified -> (its `exp`, its subject).
    memo: BTreeMap<[u8; 32], (u64, String)>,
}

#[wasm_bindgen]
impl Verifier {
    /// Loads `jwks_json` (a JWKS document, as the edge's `JWKS_JSON`) and the rules: `iss`
    /// must be `issuer`, `aud` must contain `audience`; the crate's default leeway and limits.
    #[wasm_bindgen(constructor)]
    pub fn new(jwks_json: &str, issuer: &str, audience: &str) -> Result<Verifier, JsError> {
        let keys = KeySet::from_jwks_json(jwks_json)
            .map_err(|e| JsError::new(&format!("JWKS_JSON: {e}")))?;
        Ok(Verifier {
            keys,
            rules: Validation::new(issuer, audience),
            memo: BTreeMap::new(),
        })
    }

    /// Verifies `token` at `now_secs` (unix seconds): its subject, or `undefined` when the
    /// token is refused for any reason. Always the full verification; no memo.
    pub fn verify(&self, token: &str, now_secs: f64) -> Option<String> {
        let claims =
            edgeauth_token::verify(token, &self.keys, &self.rules, seconds(now_secs)).ok()?;
        Some(claims.subject().to_owned())
    }

    /// Like [`Verifier::verify`], but a token that already verified in this instance is
    /// answered from the memo until its `exp`, without verifying it again.
    #[wasm_bindgen(js_name = verifyMemo)]
    pub fn verify_memo(&mut self, token: &str, now_secs: f64) -> Option<String> {
        let now = seconds(now_secs);
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((until, subject)) = self.memo.get(&key) {
            if now < *until {
                return Some(subject.clone());
            }
        }
        let claims = edgeauth_token::verify(token, &self.keys, &self.rules, now).ok()?;
        let until = claims.expires_at();
        let subject = claims.subject().to_owned();
        self.remember(key, until, subject.clone(), now);
        Some(subject)
    }

    /// Number of tokens in the memo, expired ones included.
    #[wasm_bindgen(js_name = memoLen)]
    pub fn memo_len(&self) -> usize {
        self.memo.len()
    }

    /// Empties the memo.
    #[wasm_bindgen(js_name = clearMemo)]
    pub fn clear_memo(&mut self) {
        self.memo.clear();
    }
}

impl Verifier {
    /// Stores a verified token; at capacity, expired entries go first, then the one that
    /// expires soonest.
    fn remember(&mut self, key: [u8; 32], until: u64, subject: String, now: u64) {
        if until <= now {
            return;
        }
        if !self.memo.contains_key(&key) && self.memo.len() >= MEMO_CAPACITY {
            self.memo.retain(|_, (valid_until, _)| *valid_until > now);
            if self.memo.len() >= MEMO_CAPACITY {
                let soonest = self
                    .memo
                    .iter()
                    .min_by_key(|(_, (valid_until, _))| *valid_until)
                    .map(|(key, _)| *key);
                if let Some(soonest) = soonest {
                    self.memo.remove(&soonest);
                }
            }
        }
        self.memo.insert(key, (until, subject));
    }
}

/// JavaScript's number of seconds as whole unix seconds (negative or NaN: 0).
fn seconds(now_secs: f64) -> u64 {
    // `as` saturates and maps NaN to 0, which is what we want here.
    now_secs as u64
}
