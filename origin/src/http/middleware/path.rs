//! Paths that could be read two ways are refused before anything else sees them.
//!
//! The wire contract ([`edgeauth_token::wire::normalize_path`]) gives every path one
//! spelling, and the edge worker and the origin's rate limiter decide on that spelling. A
//! path it refuses (an encoded `/` or `\`, a raw backslash, a control character, a broken
//! `%` escape) answers 400 here exactly as it does at the edge, so the two never disagree
//! about which rule such a path falls under. No route has such a path, so nothing that
//! worked before is refused.
//!
//! The query string is checked here too: a parameter whose name or value decodes to
//! something holding NUL (`?token=%00`) answers 400 `VALIDATION_ERROR` `[query.<name>]`,
//! the shape a body field holding NUL gets ([`crate::http::extract::body::refuse_nul`]).
//! PostgreSQL cannot store or compare NUL in text, so such a value would otherwise fail
//! deep in a query with a 500; refusing it before any handler covers every query field of
//! every endpoint and page at once. (A path holding `%00` is already refused above, as a
//! control character.)

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edgeauth_token::wire;

use crate::http::error::ApiError;

/// The middleware: 400 `INVALID_PATH` for a path the wire contract refuses, 400
/// `VALIDATION_ERROR` for a query parameter holding NUL.
pub async fn refuse_ambiguous(request: Request, next: Next) -> Response {
    if let Err(e) = wire::normalize_path(request.uri().path()) {
        tracing::debug!(reason = %e, "ambiguous path refused");
        return ApiError::with_code(StatusCode::BAD_REQUEST, "INVALID_PATH", "Invalid path")
            .into_response();
    }
    if let Some(refusal) = request.uri().query().and_then(query_refusal) {
        tracing::debug!("query parameter holding NUL refused");
        return refusal.into_response();
    }
    next.run(request).await
}

/// The refusal for a query holding NUL once decoded as the handlers' `Query` extractor
/// decodes it (`application/x-www-form-urlencoded`), if it does.
fn query_refusal(query: &str) -> Option<ApiError> {
    // Decoding yields NUL exactly where the query has `%00` (a `%` is never part of an
    // earlier escape, and a raw NUL never gets past the HTTP parser), so this is the test;
    // the decoding below only names the parameter.
    if !query.contains("%00") {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let named = pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name)
        .filter(|name| !name.contains('\0'));
    Some(ApiError::validation(match named {
        Some(name) => format!("[query.{name}] Invalid input: contains a NUL character"),
        None => "[query] Invalid input: contains a NUL character".to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::query_refusal;

    #[test]
    fn a_query_holding_nul_is_refused_naming_the_parameter() {
        for (query, message) in [
            (
                "token=%00",
                "[query.token] Invalid input: contains a NUL character",
            ),
            (
                "a=1&callbackURL=%2Fx%00y",
                "[query.callbackURL] Invalid input: contains a NUL character",
            ),
            ("%%00=1", "[query] Invalid input: contains a NUL character"),
            ("a%00=1", "[query] Invalid input: contains a NUL character"),
        ] {
            let refusal = query_refusal(query).expect(query);
            assert_eq!(refusal.code(), Some("VALIDATION_ERROR"), "{query}");
            assert_eq!(refusal.message(), Some(message), "{query}");
        }
        // `%2500` is the text `%00`, not NUL; other escapes are none of this check's business.
        for query in ["token=%2500", "a=%01&b=%0A", "c=%", "d=%0", ""] {
            assert!(query_refusal(query).is_none(), "{query}");
        }
    }

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
