//! CSRF protection, as Better Auth's origin-check middleware does it (compat §9):
//!
//! - a state-changing request (not GET, HEAD or OPTIONS) that carries cookies must name a
//!   trusted origin in `Origin` (or, failing that, `Referer`): missing or `null` is 403
//!   `MISSING_OR_NULL_ORIGIN`, anything else untrusted is 403 `INVALID_ORIGIN`. Requests
//!   without cookies (API clients, bearer tokens) carry no ambient authority and pass;
//! - form sign-in and sign-up: a cookie-less request whose Fetch Metadata says it is a
//!   cross-site top-level navigation (`Sec-Fetch-Site: cross-site`, `Sec-Fetch-Mode:
//!   navigate`) is refused (login CSRF); other Fetch Metadata forces the origin check.
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
    let form_login = path.ends_with("/sign-in/email") || path.ends_with("/sign-up/email");
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
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty() && *o != "null");
    match origin {
        None => Err(ApiError::new(StatusCode::FORBIDDEN, MISSING_OR_NULL_ORIGIN)),
        Some(origin) if state.config().is_trusted_origin(origin) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, INVALID_ORIGIN)),
    }
}
