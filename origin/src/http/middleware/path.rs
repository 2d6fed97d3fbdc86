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

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::app::test_app::{app, send};

    /// The origin refuses what the edge refuses, before the rate limiter counts it, and
    /// lets every one-spelling path through.
    #[tokio::test]
    async fn ambiguous_paths_answer_400_like_the_edge() {
        let (app, _clock, path) = app(&[]).await;
        for refused in [
            "/api/auth/sign-in%2Femail",
            "/api/auth/sign-in%5Cemail",
            "/api/auth/sign-in/email%00",
            "/api/auth/%zz",
        ] {
            let reply = send(&app, refused, None, &[]).await;
            assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{refused}");
            let body = axum::body::to_bytes(reply.into_body(), 1024).await.unwrap();
            assert_eq!(
                &body[..],
                br#"{"code":"INVALID_PATH","message":"Invalid path"}"#,
                "{refused}"
            );
        }
        // Refused paths spend no budget: the sign-in limit (3 per 10 s) is still whole.
        for _ in 0..3 {
            let reply = send(&app, "/api/auth/sign-in/email", None, &[]).await;
            assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        }
        let reply = send(&app, "/api/auth/sign-in/email", None, &[]).await;
        assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
