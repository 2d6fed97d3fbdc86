//! Who is calling: the session named by the signed `session_token` cookie or by an
//! `Authorization: Bearer` header (Better Auth's bearer plugin), looked up in the database.
//!
//! The cookie's HMAC is checked before any database access, so a forged cookie costs no
//! query. There is no cookie cache: every lookup reads the session row, so a revoked session
//! is refused at once (Better Auth's cookie cache keeps it alive for up to five minutes).

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use edgeauth_token::cookie;

use super::client_ip::ClientIp;
use super::cookies::{DONT_REMEMBER, SESSION_DATA, SESSION_TOKEN};
use super::error::ApiError;
use super::AppState;
use crate::db::{Session, SessionWithUser};
use crate::ids;

/// The caller's session.
#[derive(Debug, Clone)]
pub struct Current {
    /// The session and its user, as stored.
    pub found: SessionWithUser,
    /// Whether the session was created with `rememberMe: false` (a signed `dont_remember`
    /// cookie came with the request).
    pub dont_remember: bool,
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

/// The HMAC-verified session token in the request, if any. A bearer header wins over the
/// cookie; it may carry the signed cookie value (encoded or not) or the raw token.
pub fn session_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let secret = state.config().secret.as_bytes();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
    {
        return if bearer.contains('.') || bearer.contains('%') {
            cookie::verify_signed_value(secret, bearer).ok()
        } else if is_raw_token(bearer) {
            Some(bearer.to_string())
        } else {
            None
        };
    }
    let value = state.cookies().get(headers, SESSION_TOKEN)?;
    cookie::verify_signed_value(secret, value).ok()
}

/// A raw session token as Better Auth generates it: 32 alphanumeric characters.
fn is_raw_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
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
        .get(headers, DONT_REMEMBER)
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

/// A new session row for `user_id`, from a client at `ip` (stored in full, `""` when
/// unknown).
pub fn new_session(
    state: &AppState,
    headers: &HeaderMap,
    ip: &ClientIp,
    user_id: &str,
    remember: bool,
    now: DateTime<Utc>,
) -> Session {
    let lifetime = if remember {
        Duration::seconds(state.config().session_expires_in)
    } else {
        Duration::days(1)
    };
    Session {
        id: ids::generate_id(),
        expires_at: now + lifetime,
        token: ids::generate_id(),
        created_at: now,
        updated_at: now,
        ip_address: Some(ip.session_value()),
        user_agent: Some(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        ),
        user_id: user_id.to_string(),
    }
}

/// Response headers that set or clear Better Auth's cookies, plus the bearer plugin's
/// `set-auth-token`.
#[derive(Debug, Default)]
pub struct CookieHeaders {
    set_cookies: Vec<String>,
    auth_token: Option<String>,
    auth_jwt: Option<String>,
}

static SET_AUTH_TOKEN: HeaderName = HeaderName::from_static("set-auth-token");
static SET_AUTH_JWT: HeaderName = HeaderName::from_static("set-auth-jwt");

impl CookieHeaders {
    /// Sets the session cookie for `token`, expiring at `expires_at` (or at the end of the
    /// browser session when `dont_remember`), and `set-auth-token`.
    pub fn session(
        state: &AppState,
        token: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        dont_remember: bool,
    ) -> Result<Self, ApiError> {
        let secret = state.config().secret.as_bytes();
        let signed = cookie::sign_value(secret, token).map_err(ApiError::internal)?;
        let max_age = (!dont_remember).then(|| (expires_at - now).num_seconds());
        let mut set_cookies = vec![state.cookies().set(SESSION_TOKEN, &signed, max_age)];
        if dont_remember {
            let marker = cookie::sign_value(secret, "true").map_err(ApiError::internal)?;
            set_cookies.push(state.cookies().set(DONT_REMEMBER, &marker, None));
        }
        Ok(CookieHeaders {
            set_cookies,
            auth_token: Some(signed),
            auth_jwt: None,
        })
    }

    /// Expires every auth cookie (sign-out, ended session).
    pub fn clear(state: &AppState) -> Self {
        let jar = state.cookies();
        CookieHeaders {
            set_cookies: vec![
                jar.delete(SESSION_TOKEN),
                jar.delete(SESSION_DATA),
                jar.delete(DONT_REMEMBER),
            ],
            ..Default::default()
        }
    }

    /// Adds `set-auth-jwt` (the JWT plugin's header on get-session).
    pub fn with_jwt(mut self, jwt: String) -> Self {
        self.auth_jwt = Some(jwt);
        self
    }

    /// Applies the headers to `response`.
    pub fn apply(self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        let headers = response.headers_mut();
        for cookie in self.set_cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        let mut exposed = Vec::new();
        if let Some(Ok(value)) = self.auth_token.map(|t| HeaderValue::from_str(&t)) {
            headers.insert(SET_AUTH_TOKEN.clone(), value);
            exposed.push("set-auth-token");
        }
        if let Some(Ok(value)) = self.auth_jwt.map(|t| HeaderValue::from_str(&t)) {
            headers.insert(SET_AUTH_JWT.clone(), value);
            exposed.push("set-auth-jwt");
        }
        if !exposed.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&exposed.join(", ")) {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
            }
        }
        response
    }
}
