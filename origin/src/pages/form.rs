//! Forms on the hosted pages: protection against cross-site request forgery, and the
//! fields of a posted form.
//!
//! Two independent checks guard every state-changing form post; each alone stops a forged
//! one:
//!
//! 1. **Origin.** A browser names the page a form was posted from in `Origin` (or, failing
//!    that, `Referer`): it must be a trusted origin (`BETTER_AUTH_URL`'s or
//!    `BETTER_AUTH_TRUSTED_ORIGINS`), and `Sec-Fetch-Site`, when sent, must not say
//!    `cross-site`. A post naming no origin (`Origin: null`, sent from a page whose referrer
//!    policy is `no-referrer`) is accepted only when `Sec-Fetch-Site` says `same-origin`.
//! 2. **A per-browser form token.** The first page view sets a random value in an
//!    `HttpOnly`, `SameSite=Lax` cookie (`edgeauth.csrf`, `__Host-` prefixed in a secure
//!    deployment); every form carries HMAC-SHA256(secret, that value) in a hidden field,
//!    compared in constant time. Another site can neither read the cookie nor compute the
//!    token, and the cookie is not sent with its cross-site posts.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::PageError;
use crate::app::AppState;
use crate::http::extract::body::RawBody;
use crate::http::middleware::origin_check::named_origin;
use crate::ids;

/// The form token cookie's name in a deployment that is secure or not.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-edgeauth.csrf"
    } else {
        "edgeauth.csrf"
    }
}

/// The form token for the browser holding cookie value `binding`.
fn token(secret: &str, binding: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"edgeauth pages form token\0");
    mac.update(binding.as_bytes());
    Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes())
}

/// The browser's form token cookie, if any.
fn binding<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    let name = cookie_name(state.config().secure_cookies);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| edgeauth_token::wire::cookie_value(line, name))
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Extractor for a page shown to a browser: the form token its forms carry, and the cookie
/// to set when the browser has none yet.
#[derive(Debug, Clone)]
pub struct FormToken {
    /// The hidden field's value.
    pub token: String,
    /// `Set-Cookie` for a new binding, when the browser had none.
    pub set_cookie: Option<String>,
}

impl FromRequestParts<AppState> for FormToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let secret = &state.config().secret;
        if let Some(value) = binding(state, &parts.headers) {
            return Ok(FormToken {
                token: token(secret, value),
                set_cookie: None,
            });
        }
        let value = ids::random_string(32);
        let secure = state.config().secure_cookies;
        let mut cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            cookie_name(secure)
        );
        if secure {
            cookie.push_str("; Secure");
        }
        Ok(FormToken {
            token: token(secret, &value),
            set_cookie: Some(cookie),
        })
    }
}

/// Extractor for a posted form: refused (403, a page saying so) unless it passes both
/// checks; then its fields.
#[derive(Debug, Clone)]
pub struct PageForm {
    fields: Map<String, Value>,
    /// The form token the browser holds, for the page rendered in answer.
    pub token: FormToken,
}

impl PageForm {
    /// A text field, trimmed of surrounding white space unless it is a password; `""`
    /// when absent.
    pub fn text(&self, name: &str) -> String {
        let value = self.fields.get(name).and_then(Value::as_str).unwrap_or("");
        if name.to_ascii_lowercase().contains("password") {
            value.to_string()
        } else {
            value.trim().to_string()
        }
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }
}

/// Why a post is refused, for the log only.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<&'static str> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site == Some("cross-site") {
        return Some("cross-site form post");
    }
    match named_origin(headers) {
        // A page whose referrer policy is `no-referrer` (the reset page: its URL carries the
        // token) makes the browser send `Origin: null`; the browser's own `Sec-Fetch-Site`,
        // which no page can set, then says where the post came from.
        None if site == Some("same-origin") => None,
        None => Some("form post without an origin"),
        Some(origin) if !state.config().is_trusted_origin(origin) => {
            Some("form post from an untrusted origin")
        }
        Some(_) => None,
    }
}

impl FromRequest<AppState> for PageForm {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let forbidden = |why: &'static str| {
            tracing::info!(reason = why, "page form refused");
            PageError::Forbidden
        };
        let headers = request.headers().clone();
        // The body is read (within the limit) before any refusal: a client still sending it
        // when the answer comes (the edge streams it) would otherwise see a broken pipe.
        let body = RawBody::from_request(request, state)
            .await
            .map_err(|e| PageError::Api(Box::new(e)))?;
        if let Some(why) = refusal(state, &headers) {
            return Err(forbidden(why));
        }
        let Some(value) = binding(state, &headers).map(str::to_string) else {
            return Err(forbidden("form post without a form token cookie"));
        };
        let fields = body
            .object(true, false)
            .map_err(|e| PageError::Api(Box::new(e)))?;
        let expected = token(&state.config().secret, &value);
        let sent = fields.get("csrf").and_then(Value::as_str).unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(forbidden("form token mismatch"));
        }
        Ok(PageForm {
            fields,
            token: FormToken {
                token: expected,
                set_cookie: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_the_cookie_and_the_secret() {
        let a = token("secret-one-secret-one-secret-one", "x".repeat(32).as_str());
        assert_eq!(a.len(), 43);
        assert_ne!(
            a,
            token("secret-two-secret-two-secret-two", &"x".repeat(32))
        );
        assert_ne!(
            a,
            token("secret-one-secret-one-secret-one", &"y".repeat(32))
        );
        assert_eq!(
            a,
            token("secret-one-secret-one-secret-one", &"x".repeat(32))
        );
    }
}
