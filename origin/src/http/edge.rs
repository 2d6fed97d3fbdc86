//! The origin's side of the edge worker: the proof that a request came through the edge,
//! and the session liveness check the edge asks.
//!
//! With `EDGEAUTH_EDGE_SECRET` set, the edge sends the secret in [`EDGE_SECRET_HEADER`] on
//! every request it forwards (and the client's address in [`EDGE_CLIENT_IP_HEADER`], the
//! value `EDGEAUTH_TRUSTED_IP_HEADER` is meant to name). The proof is compared in constant
//! time, on SHA-256 digests so not even its length leaks. Without the proof, the trusted IP
//! header is ignored ([`super::client_ip`]) and the liveness endpoint answers as an unknown
//! route would.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

/// The header carrying the edge's proof: `EDGEAUTH_EDGE_SECRET`, verbatim.
pub const EDGE_SECRET_HEADER: &str = "x-edgeauth-edge-secret";

/// The header the edge puts the client's address in (name it in
/// `EDGEAUTH_TRUSTED_IP_HEADER`).
pub const EDGE_CLIENT_IP_HEADER: &str = "x-edgeauth-client-ip";

/// The response header telling the edge that every session of a user just ended (password
/// reset, account deletion), so it refuses that user's cached sessions and JWTs at once
/// instead of within its cache TTL. Sent only on answers to requests carrying the proof;
/// the edge removes it before the client sees the answer.
pub const REVOKED_USER_HEADER: &str = "x-edgeauth-revoked-user";

/// Adds [`REVOKED_USER_HEADER`] naming `user_id` to `response` when `request` came
/// through the edge.
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

/// The liveness endpoint's route, under `/api/auth`.
pub const SESSION_ROUTE: &str = "/edge/session/{sid}";

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

/// `GET /api/auth/edge/session/{sid}` (registered only with `EDGEAUTH_EDGE_SECRET` set):
/// whether the session with id `sid` (the id, not the token) is live now.
///
/// With the proof: 200 `{"active": true, "userId", "expiresAt"}` for an existing, unexpired
/// session; 404 `{"active": false}` otherwise. Both `Cache-Control: no-store`. Without the
/// proof, or with any method but GET and HEAD: the empty 404 of an unknown route, so the
/// endpoint reveals nothing, not even that it exists.
pub async fn session_liveness(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Result<Response, ApiError> {
    if !matches!(method, Method::GET | Method::HEAD)
        || !has_proof(&headers, state.config().edge_secret.as_deref())
    {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let now = state.now();
    let live = state
        .db()
        .find_session_by_id(&sid)
        .await?
        .filter(|s| s.expires_at > now);
    let mut response = match live {
        Some(session) => {
            // The row's own serialisation: `expiresAt` as JavaScript's `Date#toJSON`.
            let row = json!(session);
            Json(json!({
                "active": true,
                "userId": row["userId"],
                "expiresAt": row["expiresAt"],
            }))
            .into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({ "active": false }))).into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
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
