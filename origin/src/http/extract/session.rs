//! Who is calling: the session named by the signed `session_token` cookie or by an
//! `Authorization: Bearer` header (Better Auth's bearer plugin), looked up in the database.
//!
//! The cookie's HMAC is checked before any database access, so a forged cookie costs no
//! query. There is no cookie cache: every lookup reads the session row, so a revoked session
//! is refused at once (Better Auth's cookie cache keeps it alive for up to five minutes).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use edgeauth_token::cookie;
use edgeauth_token::wire::{self, Bearer, Credential, DONT_REMEMBER_COOKIE, SESSION_COOKIE};

use crate::app::AppState;
use crate::db::SessionWithUser;
use crate::http::error::ApiError;

/// The caller's session.
#[derive(Debug, Clone)]
pub struct Current {
    /// The session and its user, as stored.
    pub found: SessionWithUser,
    /// Whether the session was created with `rememberMe: false` (a signed `dont_remember`
    /// cookie came with the request).
    pub dont_remember: bool,
}

impl Current {
    /// Whether the session is younger than `EDGEAUTH_SESSION_FRESH_AGE` at `now` (Better
    /// Auth's `freshAge`; 0 makes every session fresh), as the actions that accept a recent
    /// sign-in instead of the password require.
    pub fn is_fresh(&self, fresh_age_secs: u64, now: DateTime<Utc>) -> bool {
        let limit = chrono::Duration::seconds(i64::try_from(fresh_age_secs).unwrap_or(i64::MAX));
        fresh_age_secs == 0 || now - self.found.session.created_at <= limit
    }
}

/// What a request's credential resolved to.
#[derive(Debug)]
pub enum Lookup {
    /// No credential, or one that fails its HMAC: no database access happened.
    Anonymous,
    /// A genuine token whose session is gone or expired (expired rows are deleted).
    Ended,
    /// A live session.
    Live(Box<Current>),
}

/// The HMAC-verified session token in the request, if any, by the wire contract's rule
/// ([`wire::credential`]): a bearer header wins over the cookie; it may carry the signed
/// cookie value (encoded or not) or the raw token. The cookie is the one name this
/// deployment writes.
pub fn session_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let secret = state.config().secret.as_bytes();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let name = state.cookies().name(SESSION_COOKIE);
    match wire::credential(authorization, &[name.as_str()], |_| {
        state.cookies().get(headers, SESSION_COOKIE)
    }) {
        Credential::Nothing | Credential::Bearer(Bearer::Jwt(_) | Bearer::Malformed) => None,
        Credential::Bearer(Bearer::Raw(token)) => Some(token.to_string()),
        Credential::Bearer(Bearer::Signed(value)) | Credential::Cookie { value, .. } => {
            cookie::verify_signed_value(secret, value).ok()
        }
    }
}

/// Resolves the request's session at `now`.
pub async fn lookup(
    state: &AppState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Lookup, ApiError> {
    let Some(token) = session_token(state, headers) else {
        return Ok(Lookup::Anonymous);
    };
    let Some(found) = state.db().find_session(&token).await? else {
        return Ok(Lookup::Ended);
    };
    if found.session.expires_at <= now {
        state.db().delete_session(&token).await?;
        return Ok(Lookup::Ended);
    }
    let dont_remember = state
        .cookies()
        .get(headers, DONT_REMEMBER_COOKIE)
        .and_then(|v| cookie::verify_signed_value(state.config().secret.as_bytes(), v).ok())
        .is_some_and(|v| v == "true");
    Ok(Lookup::Live(Box::new(Current {
        found,
        dont_remember,
    })))
}

/// The caller's live session, or the bare 401 Better Auth answers without one.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Current, ApiError> {
    match lookup(state, headers, now).await? {
        Lookup::Live(current) => Ok(*current),
        _ => Err(ApiError::unauthorized()),
    }
}

/// Extractor: the caller's live session, or the bare 401 Better Auth answers without one.
/// Resolved at the application clock's `now` when the request is extracted.
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Current);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require(state, &parts.headers, state.now())
            .await
            .map(CurrentSession)
    }
}

/// Extractor: what the request's credential resolved to, session or not (for endpoints that
/// answer without a session too: sign-out, get-session, email verification).
#[derive(Debug)]
pub struct MaybeSession(pub Lookup);

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        lookup(state, &parts.headers, state.now())
            .await
            .map(MaybeSession)
    }
}
