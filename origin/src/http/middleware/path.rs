//! Paths that could be read two ways are refused before anything else sees them.
//!
//! The wire contract ([`edgeauth_token::wire::normalize_path`]) gives every path one
//! spelling, and the edge worker and the origin's rate limiter decide on that spelling. A
//! path it refuses (an encoded `/` or `\`, a raw backslash, a control character, a broken
//! `%` escape) answers 400 here exactly as it does at the edge, so the two never disagree
//! about which rule such a path falls under. No route has such a path, so nothing that
//! worked before is refused.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edgeauth_token::wire;

use crate::http::error::ApiError;

/// The middleware: 400 `INVALID_PATH` for a path the wire contract refuses.
pub async fn refuse_ambiguous(request: Request, next: Next) -> Response {
    match wire::normalize_path(request.uri().path()) {
        Ok(_) => next.run(request).await,
        Err(e) => {
            tracing::debug!(reason = %e, "ambiguous path refused");
            ApiError::with_code(StatusCode::BAD_REQUEST, "INVALID_PATH", "Invalid path")
                .into_response()
        }
    }
}
