//! The proof that a request came through the edge worker, and what the origin tells the
//! edge in return.
//!
//! With `EDGEAUTH_EDGE_SECRET` set, the edge sends the secret in [`EDGE_SECRET_HEADER`] on
//! every request it forwards (and the client's address in [`EDGE_CLIENT_IP_HEADER`], the
//! value `EDGEAUTH_TRUSTED_IP_HEADER` is meant to name). The proof is compared in constant
//! time, on SHA-256 digests so not even its length leaks. Without the proof, the trusted IP
//! header is ignored ([`crate::http::extract::client_ip`]), the liveness endpoint answers as
//! an unknown route would ([`crate::features::edge`]) and no answer names a revoked user.
//! The names are the wire contract's ([`edgeauth_token::wire`]).

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
pub use edgeauth_token::wire::{
    CLIENT_IP_HEADER as EDGE_CLIENT_IP_HEADER, EDGE_SECRET_HEADER, REVOKED_USER_HEADER,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;

/// Whether `headers` carry exactly one [`EDGE_SECRET_HEADER`] equal to `secret` (constant
/// time). `None` (no secret configured): never.
pub fn has_proof(headers: &HeaderMap, secret: Option<&str>) -> bool {
    let Some(secret) = secret else {
        return false;
    };
    let mut values = headers.get_all(EDGE_SECRET_HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let sent = Sha256::digest(value.as_bytes());
    let expected = Sha256::digest(secret.as_bytes());
    bool::from(sent.ct_eq(&expected))
}

/// Adds [`REVOKED_USER_HEADER`] naming `user_id` to `response` when `request` came
/// through the edge: every session of that user just ended (password reset, account
/// deletion), so the edge refuses the user's cached sessions and JWTs at once instead of
/// within its cache TTL. The edge removes the header before the client sees the answer.
pub fn tell_edge_sessions_ended(
    state: &AppState,
    request: &HeaderMap,
    user_id: &str,
    response: &mut Response,
) {
    if has_proof(request, state.config().edge_secret.as_deref()) {
        if let Ok(value) = HeaderValue::from_str(user_id) {
            response.headers_mut().insert(REVOKED_USER_HEADER, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(EDGE_SECRET_HEADER, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_proof_is_the_exact_secret_once() {
        let secret = "0123456789abcdef0123456789abcdef";
        assert!(has_proof(&with(&[secret]), Some(secret)));
        for wrong in [
            "",
            "0123456789abcdef0123456789abcdeF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            " 0123456789abcdef0123456789abcdef",
        ] {
            assert!(!has_proof(&with(&[wrong]), Some(secret)), "{wrong:?}");
        }
        assert!(!has_proof(&with(&[]), Some(secret)));
        assert!(!has_proof(&with(&[secret, secret]), Some(secret)));
        // No secret configured: nothing is proof.
        assert!(!has_proof(&with(&[secret]), None));
        assert!(!has_proof(&with(&[""]), None));
    }
}
