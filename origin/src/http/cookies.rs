//! Better Auth's cookies: names, attributes and byte-exact `Set-Cookie` serialisation.
//!
//! better-call writes `name=value; Max-Age=N; Path=/; HttpOnly; Secure; SameSite=Lax` in
//! that order; a deletion is the same with an empty value and `Max-Age=0`. A secure
//! deployment (https base URL, or production) prefixes names with `__Secure-`.

use axum::http::{header, HeaderMap};

/// Base name of the session cookie (`better-auth` prefix + `.session_token`).
pub const SESSION_TOKEN: &str = "better-auth.session_token";
/// Base name of the cookie cache (never written by edgeauth; expired on sign-out).
pub const SESSION_DATA: &str = "better-auth.session_data";
/// Base name of the "remember me: false" marker.
pub const DONT_REMEMBER: &str = "better-auth.dont_remember";

/// Cookie naming and attributes for one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieJar {
    /// `Secure` attribute and `__Secure-` prefix.
    pub secure: bool,
}

impl CookieJar {
    /// The full name of a cookie.
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Secure-{base}")
        } else {
            base.to_string()
        }
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
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
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
