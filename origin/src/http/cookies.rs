//! Better Auth's cookies: names, attributes and byte-exact `Set-Cookie` serialisation.
//!
//! better-call writes `name=value; Max-Age=N; Path=/; HttpOnly; Secure; SameSite=Lax` in
//! that order; a deletion is the same with an empty value and `Max-Age=0`. A secure
//! deployment (https base URL, or production) prefixes names with `__Secure-`.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use edgeauth_token::cookie;
use edgeauth_token::wire;

use crate::app::AppState;
use crate::db::Session;
use crate::http::error::ApiError;

/// Base name of the session cookie (the wire contract's).
pub const SESSION_TOKEN: &str = wire::SESSION_COOKIE;
/// Base name of the cookie cache (never written by edgeauth; expired on sign-out).
pub const SESSION_DATA: &str = wire::SESSION_DATA_COOKIE;
/// Base name of the "remember me: false" marker.
pub const DONT_REMEMBER: &str = wire::DONT_REMEMBER_COOKIE;
/// Base name of the pending sign-in's cookie (two-factor; Better Auth's `two_factor`).
pub const TWO_FACTOR: &str = "better-auth.two_factor";
/// Base name of a trusted device's cookie (two-factor; Better Auth's `trust_device`).
pub const TRUST_DEVICE: &str = "better-auth.trust_device";

/// Cookie naming and attributes for one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieJar {
    /// `Secure` attribute and `__Secure-` prefix.
    pub secure: bool,
}

impl CookieJar {
    /// The full name of a cookie.
    pub fn name(&self, base: &str) -> String {
        wire::cookie_name(base, self.secure)
    }

    /// A `Set-Cookie` value; `max_age: None` makes a browser-session cookie.
    pub fn set(&self, base: &str, value: &str, max_age: Option<i64>) -> String {
        let mut cookie = format!("{}={value}", self.name(base));
        if let Some(seconds) = max_age {
            cookie.push_str(&format!("; Max-Age={}", seconds.max(0)));
        }
        cookie.push_str("; Path=/; HttpOnly");
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie.push_str("; SameSite=Lax");
        cookie
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn delete(&self, base: &str) -> String {
        self.set(base, "", Some(0))
    }

    /// The value of cookie `base` in the request's `Cookie` headers.
    pub fn get<'h>(&self, headers: &'h HeaderMap, base: &str) -> Option<&'h str> {
        let name = self.name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|line| wire::cookie_value(line, &name))
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

    /// Sets the cookie of a session just issued (its creation time is now).
    pub fn new_session(
        state: &AppState,
        session: &Session,
        dont_remember: bool,
    ) -> Result<Self, ApiError> {
        Self::session(
            state,
            &session.token,
            session.expires_at,
            session.created_at,
            dont_remember,
        )
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

    /// Adds `Set-Cookie` headers (already serialised by [`CookieJar`]).
    pub fn with_cookies(mut self, cookies: impl IntoIterator<Item = String>) -> Self {
        self.set_cookies.extend(cookies);
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn set_cookie_is_byte_exact() {
        let jar = CookieJar { secure: true };
        assert_eq!(
            jar.set(SESSION_TOKEN, "v", Some(604800)),
            "__Secure-better-auth.session_token=v; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        let plain = CookieJar { secure: false };
        assert_eq!(
            plain.set(SESSION_TOKEN, "v", Some(604800)),
            "better-auth.session_token=v; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            plain.delete(SESSION_TOKEN),
            "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            plain.set(DONT_REMEMBER, "x", None),
            "better-auth.dont_remember=x; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn reads_the_configured_name_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; better-auth.session_token=abc.def; b=2"),
        );
        assert_eq!(
            CookieJar { secure: false }.get(&headers, SESSION_TOKEN),
            Some("abc.def")
        );
        assert_eq!(
            CookieJar { secure: true }.get(&headers, SESSION_TOKEN),
            None
        );
    }
}
