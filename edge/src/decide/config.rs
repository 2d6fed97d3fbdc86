//! The edge's configuration: `[vars]` and secrets, read once per isolate into an
//! [`EdgeConfig`].
//!
//! | variable | kind | default | meaning |
//! |---|---|---|---|
//! | `ORIGIN_URL` | var | required | base URL of the edgeauth origin (`/api/auth/*` is proxied there) |
//! | `UPSTREAM_URL` | var | required | base URL of the application behind the edge |
//! | `PROTECTED_PATHS` | var | required | comma-separated path prefixes that need a verified identity |
//! | `BETTER_AUTH_SECRET` | secret | required | the origin's secret (cookie HMAC), at least 32 bytes |
//! | `EDGE_SECRET` | secret | required | shared with the origin's `EDGEAUTH_EDGE_SECRET`, at least 32 bytes |
//! | `JWT_ISSUER` | var | required | the JWTs' `iss` (the origin's base URL origin) |
//! | `JWT_AUDIENCE` | var | required | a value the JWTs' `aud` must contain |
//! | `JWKS_JSON` | var | unset | a pinned key set (`{"keys":[...]}`): the JWKS is then never fetched |
//! | `SESSION_CACHE_TTL` | var | `60` | seconds a session answer is cached, 0 to 3600 |
//! | `ORIGIN_TIMEOUT` | var | `10` | seconds the edge waits for the whole answer of its own calls to the origin (sessions, liveness, keys), 1 to 60; then the call has failed |
//! | `ORIGIN_PROXY_TIMEOUT` | var | `35` | seconds the edge waits for the origin's answer (its status and headers) to a passed-through `/api/auth` or pages request, 1 to 300; then 504 (the origin's own request timeout is 30 s) |
//! | `SIGN_IN_URL` | var | `/auth/sign-in` | where browser navigations without a session are sent |
//! | `PAGES_PATH` | var | `/auth` | the origin's hosted pages, proxied there like `/api/auth` (empty: none) |
//! | `SESSIONS` | KV binding | required | the session cache and revocation markers |
//!
//! A missing or invalid value fails every request but the health check with a 500 that
//! names the variable and never shows a value ([`ConfigError`]).

use std::fmt;
use std::rc::Rc;

use crate::decide::route::{prefix_from_config, split_http_url};
use edgeauth_token::KeySet;

/// `SESSION_CACHE_TTL` when unset, in seconds.
pub const DEFAULT_SESSION_CACHE_TTL: u64 = 60;

/// The largest `SESSION_CACHE_TTL` accepted: it bounds how long a session ended directly
/// at the origin keeps working at the edge.
pub const MAX_SESSION_CACHE_TTL: u64 = 3600;

/// `ORIGIN_TIMEOUT` when unset, in seconds.
pub const DEFAULT_ORIGIN_TIMEOUT: u64 = 10;

/// `ORIGIN_PROXY_TIMEOUT` when unset, in seconds: the origin's request timeout (30 s, after
/// which it answers 408 itself) and a margin.
pub const DEFAULT_ORIGIN_PROXY_TIMEOUT: u64 = 35;

/// `SIGN_IN_URL` when unset.
pub const DEFAULT_SIGN_IN_URL: &str = "/auth/sign-in";

/// `PAGES_PATH` when unset: the origin's default `EDGEAUTH_PAGES_PATH`.
pub const DEFAULT_PAGES_PATH: &str = "/auth";

/// Shortest secret accepted, in bytes (as the origin requires in production).
pub const MIN_SECRET_LEN: usize = 32;

/// The KV namespace binding.
pub const KV_BINDING: &str = "SESSIONS";

/// Better Auth's public fallback secret: anyone can sign cookies with it.
const BETTER_AUTH_DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";

/// The edge's configuration, validated.
#[derive(Clone)]
pub struct EdgeConfig {
    /// `ORIGIN_URL`, without a trailing `/`.
    pub origin_url: String,
    /// `UPSTREAM_URL`, without a trailing `/`.
    pub upstream_url: String,
    /// `PROTECTED_PATHS`, normalised ([`prefix_from_config`]).
    pub protected_paths: Vec<String>,
    /// `BETTER_AUTH_SECRET`.
    pub better_auth_secret: String,
    /// `EDGE_SECRET`.
    pub edge_secret: String,
    /// `JWT_ISSUER`.
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`.
    pub jwt_audience: String,
    /// `JWKS_JSON`, parsed: the pinned key set, if any.
    pub pinned_keys: Option<Rc<KeySet>>,
    /// `SESSION_CACHE_TTL`, seconds.
    pub session_cache_ttl: u64,
    /// `ORIGIN_TIMEOUT`, seconds.
    pub origin_timeout: u64,
    /// `ORIGIN_PROXY_TIMEOUT`, seconds.
    pub origin_proxy_timeout: u64,
    /// `SIGN_IN_URL`.
    pub sign_in_url: String,
    /// `PAGES_PATH`, normalised: the hosted pages' prefix, or `None` when empty.
    pub pages_path: Option<String>,
}

impl fmt::Debug for EdgeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeConfig")
            .field("origin_url", &self.origin_url)
            .field("upstream_url", &self.upstream_url)
            .field("protected_paths", &self.protected_paths)
            .field("better_auth_secret", &"<redacted>")
            .field("edge_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field(
                "pinned_keys",
                &self
                    .pinned_keys
                    .as_ref()
                    .map(|k| k.kids().collect::<Vec<_>>()),
            )
            .field("session_cache_ttl", &self.session_cache_ttl)
            .field("origin_timeout", &self.origin_timeout)
            .field("origin_proxy_timeout", &self.origin_proxy_timeout)
            .field("sign_in_url", &self.sign_in_url)
            .field("pages_path", &self.pages_path)
            .finish()
    }
}

/// A configuration problem, naming the variable and never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable (or binding) is not set.
    Missing(&'static str),
    /// The variable is set to something unusable.
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it must be.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The variable at fault.
    pub fn variable(&self) -> &'static str {
        match self {
            ConfigError::Missing(name) | ConfigError::Invalid { name, .. } => name,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(name) => write!(f, "{name} is not set"),
            ConfigError::Invalid { name, reason } => write!(f, "{name} is invalid: {reason}"),
        }
    }
}

fn invalid(name: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

impl EdgeConfig {
    /// Reads and validates the configuration from `get`, which returns a variable's value
    /// (a `[vars]` entry or a secret) or `None` when unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| -> Result<String, ConfigError> {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let origin_url = base_url("ORIGIN_URL", &required("ORIGIN_URL")?)?;
        let upstream_url = base_url("UPSTREAM_URL", &required("UPSTREAM_URL")?)?;
        let protected_paths = protected_paths(&required("PROTECTED_PATHS")?)?;

        let better_auth_secret = required("BETTER_AUTH_SECRET")?;
        if better_auth_secret.len() < MIN_SECRET_LEN {
            return Err(invalid("BETTER_AUTH_SECRET", "must be at least 32 bytes"));
        }
        if better_auth_secret == BETTER_AUTH_DEFAULT_SECRET {
            return Err(invalid(
                "BETTER_AUTH_SECRET",
                "is Better Auth's public default secret",
            ));
        }
        let edge_secret = required("EDGE_SECRET")?;
        if edge_secret.len() < MIN_SECRET_LEN {
            return Err(invalid("EDGE_SECRET", "must be at least 32 bytes"));
        }
        if !edge_secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "EDGE_SECRET",
                "must be printable ASCII without spaces (it travels in a header)",
            ));
        }

        let jwt_issuer = required("JWT_ISSUER")?.trim().to_string();
        let jwt_audience = required("JWT_AUDIENCE")?.trim().to_string();

        let pinned_keys = match get("JWKS_JSON").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(document) => {
                let keys = KeySet::from_jwks_json(document.trim()).map_err(|_| {
                    invalid(
                        "JWKS_JSON",
                        "must be a JWKS of Ed25519 public keys with kids",
                    )
                })?;
                if keys.is_empty() {
                    return Err(invalid("JWKS_JSON", "holds no key"));
                }
                Some(Rc::new(keys))
            }
        };

        let session_cache_ttl = match get("SESSION_CACHE_TTL") {
            None => DEFAULT_SESSION_CACHE_TTL,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ttl| *ttl <= MAX_SESSION_CACHE_TTL)
                .ok_or(invalid(
                    "SESSION_CACHE_TTL",
                    "must be a whole number of seconds from 0 to 3600",
                ))?,
        };

        let seconds =
            |name: &'static str, default: u64, max: u64, reason: &'static str| match get(name) {
                None => Ok(default),
                Some(value) => value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=max).contains(s))
                    .ok_or(invalid(name, reason)),
            };
        let origin_timeout = seconds(
            "ORIGIN_TIMEOUT",
            DEFAULT_ORIGIN_TIMEOUT,
            60,
            "must be a whole number of seconds from 1 to 60",
        )?;
        let origin_proxy_timeout = seconds(
            "ORIGIN_PROXY_TIMEOUT",
            DEFAULT_ORIGIN_PROXY_TIMEOUT,
            300,
            "must be a whole number of seconds from 1 to 300",
        )?;

        let sign_in_url = match get("SIGN_IN_URL") {
            None => DEFAULT_SIGN_IN_URL.to_string(),
            Some(value) => sign_in_url(value.trim())?,
        };

        let pages_path = match get("PAGES_PATH") {
            None => Some(DEFAULT_PAGES_PATH.to_string()),
            Some(value) if value.trim().is_empty() => None,
            Some(value) => Some(
                prefix_from_config(value.trim())
                    .filter(|p| p != "/" && !crate::decide::route::is_auth_api(p))
                    .ok_or(invalid(
                        "PAGES_PATH",
                        "must be a path prefix such as /auth (not /, not under /api/auth), or empty",
                    ))?,
            ),
        };

        Ok(EdgeConfig {
            origin_url,
            upstream_url,
            protected_paths,
            better_auth_secret,
            edge_secret,
            jwt_issuer,
            jwt_audience,
            pinned_keys,
            session_cache_ttl,
            origin_timeout,
            origin_proxy_timeout,
            sign_in_url,
            pages_path,
        })
    }
}

/// An absolute http(s) URL without credentials, query or fragment, returned without a
/// trailing `/` (so a path can be appended).
fn base_url(name: &'static str, value: &str) -> Result<String, ConfigError> {
    const REASON: &str = "must be an absolute http(s) URL without credentials, query or fragment";
    let value = value.trim();
    match split_http_url(value) {
        Some((origin, path, None)) if !value.contains('#') => {
            Ok(format!("{origin}{}", path.trim_end_matches('/')))
        }
        _ => Err(invalid(name, REASON)),
    }
}

fn protected_paths(value: &str) -> Result<Vec<String>, ConfigError> {
    let mut prefixes: Vec<String> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let prefix = prefix_from_config(entry).ok_or(invalid(
            "PROTECTED_PATHS",
            "every entry must be a path starting with / (no ;, no encoded / or \\)",
        ))?;
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    if prefixes.is_empty() {
        return Err(invalid(
            "PROTECTED_PATHS",
            "must list at least one path prefix",
        ));
    }
    Ok(prefixes)
}

/// A local path (`/sign-in`, not `//host`) or an absolute http(s) URL, without a fragment
/// (the `callbackURL` parameter is appended to it).
fn sign_in_url(value: &str) -> Result<String, ConfigError> {
    const REASON: &str =
        "must be a local path such as /sign-in or an absolute http(s) URL, without a fragment";
    if value.is_empty() || value.contains('#') || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("SIGN_IN_URL", REASON));
    }
    if value.starts_with('/') {
        if value.starts_with("//") || value.starts_with("/\\") {
            return Err(invalid("SIGN_IN_URL", REASON));
        }
        return Ok(value.to_string());
    }
    match split_http_url(value) {
        Some(_) => Ok(value.to_string()),
        None => Err(invalid("SIGN_IN_URL", REASON)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
    const EDGE: &str = "edge-proof-edge-proof-edge-proof-0123456789";

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("ORIGIN_URL", "http://127.0.0.1:3000".to_string()),
            ("UPSTREAM_URL", "http://127.0.0.1:3001/".to_string()),
            ("PROTECTED_PATHS", "/app, /api/private/".to_string()),
            ("BETTER_AUTH_SECRET", SECRET.to_string()),
            ("EDGE_SECRET", EDGE.to_string()),
            ("JWT_ISSUER", "http://localhost:3000".to_string()),
            ("JWT_AUDIENCE", "http://localhost:3000".to_string()),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::from_lookup(|name| vars.get(name).cloned())
    }

    fn with(name: &'static str, value: &str) -> Result<EdgeConfig, ConfigError> {
        let mut vars = base();
        vars.insert(name, value.to_string());
        load(&vars)
    }

    #[test]
    fn a_complete_configuration_with_defaults() {
        let config = load(&base()).unwrap();
        assert_eq!(config.origin_url, "http://127.0.0.1:3000");
        assert_eq!(config.upstream_url, "http://127.0.0.1:3001");
        assert_eq!(config.protected_paths, vec!["/app", "/api/private"]);
        assert_eq!(config.session_cache_ttl, DEFAULT_SESSION_CACHE_TTL);
        assert_eq!(config.sign_in_url, "/auth/sign-in");
        assert_eq!(config.pages_path.as_deref(), Some("/auth"));
        assert!(config.pinned_keys.is_none());
    }

    #[test]
    fn every_required_variable_is_named_when_missing_or_empty() {
        for name in [
            "ORIGIN_URL",
            "UPSTREAM_URL",
            "PROTECTED_PATHS",
            "BETTER_AUTH_SECRET",
            "EDGE_SECRET",
            "JWT_ISSUER",
            "JWT_AUDIENCE",
        ] {
            let mut vars = base();
            vars.remove(name);
            assert_eq!(load(&vars).unwrap_err(), ConfigError::Missing(name));
            vars.insert(name, "  ".into());
            assert_eq!(load(&vars).unwrap_err(), ConfigError::Missing(name));
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_show_values() {
        let err = with("BETTER_AUTH_SECRET", "short-secret").unwrap_err();
        assert_eq!(err.variable(), "BETTER_AUTH_SECRET");
        let text = err.to_string();
        assert!(text.contains("BETTER_AUTH_SECRET"), "{text}");
        assert!(!text.contains("short-secret"), "{text}");
        let err = with("ORIGIN_URL", "ftp://user:hunter2@x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let debug = format!("{:?}", load(&base()).unwrap());
        assert!(!debug.contains(SECRET) && !debug.contains(EDGE), "{debug}");
    }

    #[test]
    fn urls_must_be_plain_http_bases() {
        for bad in [
            "127.0.0.1:3000",
            "ftp://x.example",
            "http://",
            "http://user:pw@x.example",
            "http://x.example/?a=1",
            "http://x.example/#f",
            "not a url",
        ] {
            assert_eq!(
                with("ORIGIN_URL", bad).unwrap_err().variable(),
                "ORIGIN_URL",
                "{bad:?}"
            );
            assert_eq!(
                with("UPSTREAM_URL", bad).unwrap_err().variable(),
                "UPSTREAM_URL",
                "{bad:?}"
            );
        }
        assert_eq!(
            with("UPSTREAM_URL", "https://app.internal/base/")
                .unwrap()
                .upstream_url,
            "https://app.internal/base"
        );
    }

    #[test]
    fn protected_paths_are_normalised_and_deduplicated() {
        let config = with("PROTECTED_PATHS", " /app/ ,//app,, /a/../admin ,/").unwrap();
        assert_eq!(config.protected_paths, vec!["/app", "/admin", "/"]);
        for bad in ["", ",", "app", "/a;b", "/a%2Fb", "/ok,nope"] {
            let result = with("PROTECTED_PATHS", bad);
            assert!(
                matches!(
                    result,
                    Err(ConfigError::Invalid {
                        name: "PROTECTED_PATHS",
                        ..
                    }) | Err(ConfigError::Missing("PROTECTED_PATHS"))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secrets_must_be_long_and_not_the_public_default() {
        assert!(with("BETTER_AUTH_SECRET", &"x".repeat(31)).is_err());
        assert!(with("BETTER_AUTH_SECRET", &"x".repeat(32)).is_ok());
        assert!(with("BETTER_AUTH_SECRET", BETTER_AUTH_DEFAULT_SECRET).is_err());
        assert!(with("EDGE_SECRET", &"x".repeat(31)).is_err());
        assert!(with("EDGE_SECRET", &format!("{} x", "x".repeat(32))).is_err());
    }

    #[test]
    fn origin_timeouts() {
        let config = with("ORIGIN_URL", "http://127.0.0.1:3000").unwrap();
        assert_eq!(
            (config.origin_timeout, config.origin_proxy_timeout),
            (DEFAULT_ORIGIN_TIMEOUT, DEFAULT_ORIGIN_PROXY_TIMEOUT)
        );
        assert_eq!(with("ORIGIN_TIMEOUT", " 2 ").unwrap().origin_timeout, 2);
        assert_eq!(
            with("ORIGIN_PROXY_TIMEOUT", "300")
                .unwrap()
                .origin_proxy_timeout,
            300
        );
        for (name, bad) in [
            ("ORIGIN_TIMEOUT", "0"),
            ("ORIGIN_TIMEOUT", "61"),
            ("ORIGIN_TIMEOUT", "1.5"),
            ("ORIGIN_PROXY_TIMEOUT", "0"),
            ("ORIGIN_PROXY_TIMEOUT", "301"),
            ("ORIGIN_PROXY_TIMEOUT", ""),
        ] {
            assert_eq!(with(name, bad).unwrap_err().variable(), name, "{bad}");
        }
    }

    #[test]
    fn session_cache_ttl() {
        assert_eq!(with("SESSION_CACHE_TTL", "0").unwrap().session_cache_ttl, 0);
        assert_eq!(
            with("SESSION_CACHE_TTL", " 120 ")
                .unwrap()
                .session_cache_ttl,
            120
        );
        assert_eq!(
            with("SESSION_CACHE_TTL", "3600").unwrap().session_cache_ttl,
            3600
        );
        for bad in ["", "-1", "3601", "1.5", "60s", "abc"] {
            assert_eq!(
                with("SESSION_CACHE_TTL", bad).unwrap_err().variable(),
                "SESSION_CACHE_TTL",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pages_path() {
        assert_eq!(
            with("PAGES_PATH", "/login/").unwrap().pages_path.as_deref(),
            Some("/login")
        );
        assert_eq!(with("PAGES_PATH", " ").unwrap().pages_path, None);
        for bad in [
            "login",
            "/",
            "/api/auth",
            "/api/auth/pages",
            "/a;b",
            "/a%2Fb",
        ] {
            assert_eq!(
                with("PAGES_PATH", bad).unwrap_err().variable(),
                "PAGES_PATH",
                "{bad}"
            );
        }
    }

    #[test]
    fn sign_in_url() {
        for good in ["/sign-in", "/auth/login?next=1", "https://id.example/login"] {
            assert_eq!(with("SIGN_IN_URL", good).unwrap().sign_in_url, good);
        }
        for bad in [
            "",
            "sign-in",
            "//evil.example",
            "/\\evil.example",
            "/sign-in#x",
            "javascript:alert(1)",
            "/sign in",
            "/sign-in\r\nx: y",
        ] {
            assert_eq!(
                with("SIGN_IN_URL", bad).unwrap_err().variable(),
                "SIGN_IN_URL",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_pinned_key_set() {
        let key = edgeauth_token::SigningKey::from_seed(&[1; 32], "k1").unwrap();
        let doc = serde_json::json!({"keys": [key.public_jwk()]}).to_string();
        let config = with("JWKS_JSON", &doc).unwrap();
        assert!(config.pinned_keys.unwrap().get("k1").is_some());
        assert!(with("JWKS_JSON", "  ").unwrap().pinned_keys.is_none());
        for bad in [
            "{",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"RSA","kid":"a"}]}"#,
        ] {
            assert_eq!(
                with("JWKS_JSON", bad).unwrap_err().variable(),
                "JWKS_JSON",
                "{bad:?}"
            );
        }
    }
}
