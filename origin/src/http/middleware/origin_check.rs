//! CSRF protection, as Better Auth's origin-check middleware does it (compat §9):
//!
//! - a state-changing request (not GET, HEAD or OPTIONS) that carries cookies must name a
//!   trusted origin in `Origin` (or, failing that, `Referer`): missing or `null` is 403
//!   `MISSING_OR_NULL_ORIGIN`, anything else untrusted is 403 `INVALID_ORIGIN`. Requests
//!   without cookies (API clients, bearer tokens) carry no ambient authority and pass;
//! - form sign-in, sign-up and sign-out: a cookie-less request whose Fetch Metadata says it
//!   is a cross-site top-level navigation (`Sec-Fetch-Site: cross-site`, `Sec-Fetch-Mode:
//!   navigate`) is refused (login CSRF; and a forced sign-out, since a cookie-less sign-out
//!   still clears the browser's cookie); other Fetch Metadata forces the origin check.
//!
//! Origins are compared after parsing, exactly, never as prefixes.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::http::error::ApiError;

const MISSING_OR_NULL_ORIGIN: &str = "Missing or null Origin";
const INVALID_ORIGIN: &str = "Invalid origin";
const CROSS_SITE_LOGIN: &str =
    "Cross-site navigation login blocked. This request appears to be a CSRF attack.";

/// The middleware.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match verdict(
        &state,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// The origin a request names: `Origin`, else `Referer`; `None` when neither is there or
/// the value is empty or `null`.
pub fn named_origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty() && *o != "null")
}

fn verdict(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let has_cookies = headers.contains_key(header::COOKIE);
    // Signing in or up, and signing out, change which session a browser holds whether or not
    // it sends a cookie (a cookie-less sign-out still clears it): a cross-site form must not
    // do either to a person (login CSRF, and forced sign-out, which Better Auth 1.4 allows).
    let form_login = path.ends_with("/sign-in/email")
        || path.ends_with("/sign-up/email")
        || path.ends_with("/sign-out");
    if !has_cookies {
        if !form_login {
            return Ok(());
        }
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
        match (site, mode) {
            (None, None) => return Ok(()),
            (Some("cross-site"), Some("navigate")) => {
                return Err(ApiError::new(StatusCode::FORBIDDEN, CROSS_SITE_LOGIN))
            }
            _ => {} // other Fetch Metadata: check the origin below
        }
    }
    match named_origin(headers) {
        None => Err(ApiError::new(StatusCode::FORBIDDEN, MISSING_OR_NULL_ORIGIN)),
        Some(origin) if state.config().is_trusted_origin(origin) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, INVALID_ORIGIN)),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    use crate::app::test_app::app;

    /// Better Auth 1.4 answers a cookie-less cross-site sign-out with 200 and a Set-Cookie that
    /// clears the person's session cookie: any site can sign its visitors out. Refused here.
    #[tokio::test]
    async fn another_site_cannot_sign_a_person_out() {
        let (app, _clock, path) = app(&["--rate-limit", "off"]).await;
        let forced = Request::post("/api/auth/sign-out")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "navigate")
            .body(Body::empty())
            .unwrap();
        let answer = app.clone().oneshot(forced).await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        assert!(answer.headers().get(header::SET_COOKIE).is_none());
        // The app's own sign-out, and an API client's without Fetch Metadata, still work.
        for site in [Some("same-origin"), None] {
            let mut own =
                Request::post("/api/auth/sign-out").header(header::ORIGIN, "http://localhost:3000");
            if let Some(site) = site {
                own = own.header("sec-fetch-site", site);
            }
            let answer = app
                .clone()
                .oneshot(own.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{site:?}");
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
