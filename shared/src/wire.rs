//! The wire contract between the edge worker and the origin, written once.
//!
//! Both programs read requests the same way and talk to each other through the same names:
//!
//! - **Header names** ([`EDGE_SECRET_HEADER`], [`CLIENT_IP_HEADER`], [`REVOKED_USER_HEADER`],
//!   the identity headers the edge forwards to the application, and [`EDGE_HEADER_PREFIX`],
//!   the namespace only the edge may set).
//! - **Cookie names**: Better Auth's session cookie, `better-auth.session_token`, with the
//!   `__Secure-` prefix in a secure deployment ([`cookie_name`]), and its companions.
//! - **Which credential a request presents** ([`credential`]): an `Authorization: Bearer`
//!   header wins over the session cookie, and a bearer value is one of four kinds
//!   ([`Bearer`]): a compact JWT, Better Auth's signed session value, a raw session token, or
//!   malformed.
//! - **One spelling of a path** ([`normalize_path`]): every routing decision (the edge's
//!   protected prefixes, the origin's rate-limit rules) is made on the normalised path, so
//!   `//api/auth/sign-in/email`, `/api/auth/x/../sign-in/email` and
//!   `/api/auth/%73ign-in/email` fall under the same rule everywhere (Better Auth
//!   GHSA-x732-6j76-qmhm was `//path` read as `/path` by one layer and not by another).
//!   Paths that could be read two ways are refused instead ([`PathError`]).
//!
//! Nothing here does I/O or checks a signature: the caller verifies what it classifies
//! (the token crate's [`crate::cookie`] and [`crate::jwt`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The prefix of every header only the edge may set: the edge removes client-sent ones
/// from every request it forwards, so no client can pose as the edge.
pub const EDGE_HEADER_PREFIX: &str = "x-edgeauth-";

/// Edge to origin: the proof that a request came through the edge (`EDGEAUTH_EDGE_SECRET`,
/// verbatim). The origin compares it in constant time.
pub const EDGE_SECRET_HEADER: &str = "x-edgeauth-edge-secret";

/// Edge to origin: the client's address (from `CF-Connecting-IP`); the header an operator
/// names in `EDGEAUTH_TRUSTED_IP_HEADER`. The origin trusts it only with the proof.
pub const CLIENT_IP_HEADER: &str = "x-edgeauth-client-ip";

/// Origin to edge: every session of this user just ended (password reset, account
/// deletion), so the edge refuses the user's cached sessions and JWTs at once. Sent only on
/// answers to requests carrying the proof; the edge removes it before the client sees it.
pub const REVOKED_USER_HEADER: &str = "x-edgeauth-revoked-user";

/// Edge to application: the verified user's id.
pub const USER_ID_HEADER: &str = "x-edgeauth-user-id";
/// Edge to application: the verified user's email (when known and printable ASCII).
pub const USER_EMAIL_HEADER: &str = "x-edgeauth-user-email";
/// Edge to application: the verified user's display name, percent-encoded as JavaScript's
/// `encodeURIComponent` does (names are UTF-8; header values are not), when known.
pub const USER_NAME_HEADER: &str = "x-edgeauth-user-name";
/// Edge to application: the session id (omitted for a JWT without `sid`).
pub const SESSION_ID_HEADER: &str = "x-edgeauth-session-id";
/// Edge to application: how the caller authenticated, `session` or `jwt`.
pub const AUTH_METHOD_HEADER: &str = "x-edgeauth-auth";
/// Edge to application: a JWT for the caller signed by the origin's current key (the one the
/// request presented, or for a session one the origin minted), so an application reachable
/// without the edge can verify the identity against `/api/auth/jwks` instead of trusting
/// headers.
pub const JWT_HEADER: &str = "x-edgeauth-jwt";

/// Better Auth's API prefix (its default `basePath`).
pub const AUTH_PREFIX: &str = "/api/auth";

/// The origin's session liveness endpoint for the edge, under [`AUTH_PREFIX`], followed by
/// the session id (percent-encoded).
pub const SESSION_LIVENESS_PREFIX: &str = "/edge/session/";

/// Base name of Better Auth's session cookie (`better-auth` prefix + `.session_token`).
pub const SESSION_COOKIE: &str = "better-auth.session_token";
/// Base name of Better Auth's cookie cache (never written by edgeauth; expired on sign-out).
pub const SESSION_DATA_COOKIE: &str = "better-auth.session_data";
/// Base name of the signed "remember me: false" marker.
pub const DONT_REMEMBER_COOKIE: &str = "better-auth.dont_remember";
/// The prefix a secure deployment (https, or production) gives every cookie name.
pub const SECURE_COOKIE_PREFIX: &str = "__Secure-";
/// [`SESSION_COOKIE`] as a secure deployment names it.
pub const SECURE_SESSION_COOKIE: &str = "__Secure-better-auth.session_token";

/// A cookie's full name in a deployment that is `secure` or not.
pub fn cookie_name(base: &str, secure: bool) -> String {
    let mut name = String::with_capacity(SECURE_COOKIE_PREFIX.len() + base.len());
    if secure {
        name.push_str(SECURE_COOKIE_PREFIX);
    }
    name.push_str(base);
    name
}

/// Whether a header named `name` is in the edge's namespace ([`EDGE_HEADER_PREFIX`], ASCII
/// case-insensitively).
pub fn is_edge_header(name: &str) -> bool {
    name.as_bytes()
        .get(..EDGE_HEADER_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(EDGE_HEADER_PREFIX.as_bytes()))
}

/// The value of an `Authorization: Bearer` header: scheme case-insensitive, value trimmed.
/// `None` without a header or with another scheme.
pub fn bearer_value(authorization: Option<&str>) -> Option<&str> {
    let (scheme, rest) = authorization?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The first value of cookie `name` in one `Cookie` header line (`;`-separated pairs).
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether `value` has the shape of a compact JWS: exactly three non-empty segments of
/// base64url characters. (A signed session value is never this shape: its signature is
/// standard base64 ending in `=`, or `%3D` when encoded.)
pub fn looks_like_jwt(value: &str) -> bool {
    let mut parts = value.split('.');
    let shaped = |part: Option<&str>| {
        part.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    shaped(parts.next()) && shaped(parts.next()) && shaped(parts.next()) && parts.next().is_none()
}

/// A raw session token as Better Auth generates it: 32 ASCII alphanumerics.
pub fn is_raw_token(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What a bearer value is, by its shape alone (nothing is verified here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// A compact JWT ([`looks_like_jwt`]): verify it with [`crate::jwt`].
    Jwt(&'a str),
    /// Better Auth's signed session value `token.base64(hmac)`, percent-encoded as in the
    /// cookie or decoded (it has a `.` or a `%`): verify it with
    /// [`crate::cookie::verify_signed_value`].
    Signed(&'a str),
    /// A raw 32-character session token (Better Auth's bearer plugin accepts it). It
    /// carries no HMAC, so only the database can tell a real one from a guess.
    Raw(&'a str),
    /// Empty, or none of the above: refused without asking anyone.
    Malformed,
}

/// Classifies a bearer value (see [`Bearer`]).
pub fn classify_bearer(value: &str) -> Bearer<'_> {
    if value.is_empty() {
        Bearer::Malformed
    } else if looks_like_jwt(value) {
        Bearer::Jwt(value)
    } else if value.contains('.') || value.contains('%') {
        Bearer::Signed(value)
    } else if is_raw_token(value) {
        Bearer::Raw(value)
    } else {
        Bearer::Malformed
    }
}

/// The credential a request presents, before any verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// Neither an `Authorization: Bearer` header nor a non-empty session cookie.
    Nothing,
    /// An `Authorization: Bearer` header. It wins over any cookie: the cookie is then never
    /// read, even when the bearer value is malformed.
    Bearer(Bearer<'a>),
    /// The session cookie: its full name and its value as sent (still signed).
    Cookie {
        /// The cookie's full name.
        name: &'a str,
        /// Its value as received.
        value: &'a str,
    },
}

/// The credential a request presents: the bearer header if there is one, else the first
/// of `cookie` that is present and non-empty (an empty value is a cookie being deleted).
///
/// `cookie` is a lookup by full cookie name over the request's `Cookie` headers, and
/// `cookie_names` lists the names accepted, in order of preference: the origin accepts
/// the one name its deployment writes; the edge, in front of deployments of either kind,
/// accepts [`SECURE_SESSION_COOKIE`] first (only a secure context can set it), then
/// [`SESSION_COOKIE`].
pub fn credential<'a>(
    authorization: Option<&'a str>,
    cookie_names: &[&'a str],
    cookie: impl Fn(&str) -> Option<&'a str>,
) -> Credential<'a> {
    if let Some(bearer) = bearer_value(authorization) {
        return Credential::Bearer(classify_bearer(bearer));
    }
    cookie_names
        .iter()
        .find_map(|&name| {
            cookie(name)
                .filter(|v| !v.is_empty())
                .map(|value| Credential::Cookie { name, value })
        })
        .unwrap_or(Credential::Nothing)
}

/// Why a request path is refused (400 at the edge and at the origin alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// `%2F` or `%5C`: an encoded separator that some servers decode and others do not.
    EncodedSeparator,
    /// A raw backslash.
    Backslash,
    /// A control character, raw or encoded.
    ControlCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with /",
            PathError::BadEscape => "malformed percent-escape in path",
            PathError::EncodedSeparator => "encoded / or \\ in path",
            PathError::Backslash => "backslash in path",
            PathError::ControlCharacter => "control character in path",
        })
    }
}

/// RFC 3986 unreserved characters: their percent-escapes mean the character itself.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// A URL path in its one spelling:
///
/// 1. percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded and
///    other escapes upper-cased (RFC 3986 §6.2.2);
/// 2. empty segments (repeated slashes) are dropped and `.` / `..` resolved, never above
///    the root;
/// 3. a trailing slash is kept (an application may tell `/x/` from `/x`), except on `/`
///    itself; [`rule_path`] drops it where rules are matched.
///
/// Refused ([`PathError`]): a path not starting with `/`, a broken `%` escape, an encoded
/// `/` or `\` (some servers decode them into separators, others do not), a raw backslash,
/// and control characters, raw or encoded.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = raw.as_bytes();
    let mut decoded: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let value = hi << 4 | lo;
                if value == b'/' || value == b'\\' {
                    return Err(PathError::EncodedSeparator);
                }
                if value < 0x20 || value == 0x7f {
                    return Err(PathError::ControlCharacter);
                }
                if is_unreserved(value) {
                    decoded.push(value);
                } else {
                    decoded.extend_from_slice(&[
                        b'%',
                        HEX_UPPER[usize::from(hi)],
                        HEX_UPPER[usize::from(lo)],
                    ]);
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            _ if b < 0x20 || b == 0x7f => return Err(PathError::ControlCharacter),
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII sequences were rewritten (into ASCII), so this is still UTF-8; the fallback
    // is unreachable and fails closed.
    let decoded = String::from_utf8(decoded).map_err(|_| PathError::BadEscape)?;

    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut path = String::with_capacity(decoded.len());
    path.push('/');
    path.push_str(&segments.join("/"));
    if trailing_slash && !segments.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// A normalised path as rules see it: without its trailing slash (except `/` itself), so
/// `/api/auth/sign-in/email/` falls under the rule for `/api/auth/sign-in/email`.
pub fn rule_path(normalised: &str) -> &str {
    match normalised.strip_suffix('/') {
        Some("") | None => normalised,
        Some(trimmed) => trimmed,
    }
}

/// The path below [`AUTH_PREFIX`] of a normalised path, as Better Auth's rate-limit rules
/// name it (`/sign-in/email`; `/` for the prefix itself), or `None` outside the auth API.
/// The prefix matches case-sensitively and on a segment boundary, as the origin's router
/// does.
pub fn auth_relative(normalised: &str) -> Option<&str> {
    let rest = rule_path(normalised).strip_prefix(AUTH_PREFIX)?;
    match rest {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn normal(p: &str) -> String {
        match normalize_path(p) {
            Ok(path) => path,
            Err(e) => {
                let mut s = String::from("refused: ");
                s.push_str(&e.to_string());
                s
            }
        }
    }

    #[test]
    fn paths_have_one_spelling() {
        for (raw, want) in [
            // From the edge's route tests.
            ("/", "/"),
            ("//", "/"),
            ("/..", "/"),
            ("/app", "/app"),
            ("//app", "/app"),
            ("///app//x", "/app/x"),
            ("/x/../app", "/app"),
            ("/./app/./x", "/app/x"),
            ("/../../app", "/app"),
            ("/%61pp", "/app"),
            ("/app/", "/app/"),
            ("/app/x/", "/app/x/"),
            ("/app/x/.", "/app/x/"),
            ("/app/x/..", "/app/"),
            ("/app/%7e", "/app/~"),
            ("/app/%c3%a9", "/app/%C3%A9"),
            ("/app/é", "/app/é"),
            ("/app;x=1", "/app;x=1"),
            // From the origin's rate-limit tests.
            ("/api/auth/sign-in/email", "/api/auth/sign-in/email"),
            ("//api/auth/sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth//sign-in///email", "/api/auth/sign-in/email"),
            ("/api/auth/sign-in/email/", "/api/auth/sign-in/email/"),
            ("/api/auth/./sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth/x/../sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth/%2E/sign-in/email", "/api/auth/sign-in/email"),
            (
                "/api/auth/x/%2e%2E/sign-in/email",
                "/api/auth/sign-in/email",
            ),
            ("/api/auth/sign%2Din/email", "/api/auth/sign-in/email"),
            ("/api/auth/%73ign-in/%65mail", "/api/auth/sign-in/email"),
            ("/../../api/auth/sign-in/email", "/api/auth/sign-in/email"),
            ("/api/auth/%c3%a9", "/api/auth/%C3%A9"),
            ("/api/auth/é", "/api/auth/é"),
        ] {
            assert_eq!(normal(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (raw, why) in [
            ("", PathError::NotAbsolute),
            ("app", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("/app%2Fx", PathError::EncodedSeparator),
            ("/api/auth/sign-in%2femail", PathError::EncodedSeparator),
            ("/app%5cx", PathError::EncodedSeparator),
            ("/app\\x", PathError::Backslash),
            ("/api/auth/a%zzb%", PathError::BadEscape),
            ("/app%", PathError::BadEscape),
            ("/app%4", PathError::BadEscape),
            ("/app%00", PathError::ControlCharacter),
            ("/app%0a", PathError::ControlCharacter),
            ("/app%7F", PathError::ControlCharacter),
            ("/app\tx", PathError::ControlCharacter),
        ] {
            assert_eq!(normalize_path(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn the_edges_route_cases() {
        // Moved from the edge's route tests when the edge adopted this normalisation.
        for (raw, want) in [
            ("/admin", "/admin"),
            ("//admin", "/admin"),
            ("///admin//x", "/admin/x"),
            ("/admin/../admin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/./admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/admin/", "/admin/"),
            ("/admin//", "/admin/"),
            ("/admin/.", "/admin/"),
            ("/admin/x/..", "/admin/"),
            ("/app/%2e%2e/admin", "/admin"),
            ("/app/.%2E/admin", "/admin"),
            ("/app/%2e/x", "/app/x"),
            // Unreserved escapes are decoded; reserved and non-ASCII ones stay encoded,
            // hex upper-cased; raw non-ASCII passes through.
            ("/%61dmin", "/admin"),
            ("/%41%7e%2D%5f", "/A~-_"),
            ("/a%3fb", "/a%3Fb"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/a%25b", "/a%25b"),
            ("/café", "/café"),
        ] {
            assert_eq!(normalize_path(raw).as_deref(), Ok(want), "{raw:?}");
        }
        for (raw, why) in [
            ("/app%2Fsecret", PathError::EncodedSeparator),
            ("/app%2fsecret", PathError::EncodedSeparator),
            ("/app%5Csecret", PathError::EncodedSeparator),
            ("/app\\secret", PathError::Backslash),
            ("/app\t", PathError::ControlCharacter),
            ("/app%zz", PathError::BadEscape),
        ] {
            assert_eq!(normalize_path(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn normalising_is_idempotent() {
        for raw in ["//a/./b/../c/", "/%61%2d%7E/", "/x/%C3%A9/.."] {
            let once = normalize_path(raw).unwrap();
            assert_eq!(normalize_path(&once).unwrap(), once, "{raw:?}");
        }
    }

    #[test]
    fn rules_see_auth_paths_without_prefix_or_trailing_slash() {
        let rel = |p: &str| {
            normalize_path(p)
                .ok()
                .and_then(|n| auth_relative(&n).map(String::from))
        };
        assert_eq!(
            rel("//api/auth/sign-in/email/").as_deref(),
            Some("/sign-in/email")
        );
        assert_eq!(rel("/api/auth").as_deref(), Some("/"));
        assert_eq!(rel("/api/auth/").as_deref(), Some("/"));
        assert_eq!(rel("/api/authx/sign-in"), None);
        assert_eq!(rel("/API/auth/sign-in/email"), None);
        assert_eq!(rel("/healthz"), None);
        assert_eq!(rule_path("/"), "/");
        assert_eq!(rule_path("/x/"), "/x");
    }

    const JWT_SHAPE: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
    const RAW: &str = "0YnKQty8O96CSthmLIeHvNJnuQmeit3f";

    #[test]
    fn bearer_values_are_classified_by_shape() {
        assert_eq!(classify_bearer(JWT_SHAPE), Bearer::Jwt(JWT_SHAPE));
        assert_eq!(classify_bearer(RAW), Bearer::Raw(RAW));
        let signed = "abc.c2ln%3D";
        assert_eq!(classify_bearer(signed), Bearer::Signed(signed));
        assert_eq!(classify_bearer("abc.c2ln="), Bearer::Signed("abc.c2ln="));
        for bad in [
            "",
            "short",
            "x".repeat(33).as_str(),
            "has space0123456789012345678901",
        ] {
            assert_eq!(classify_bearer(bad), Bearer::Malformed, "{bad:?}");
        }
        // Four segments, padding or an empty segment: not a JWT.
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b.c="));
    }

    #[test]
    fn jwt_shapes() {
        // Moved from the edge's credential tests.
        const SIGNED: &str =
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D";
        const SIGNED_DECODED: &str =
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.+TjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE=";
        assert!(looks_like_jwt(JWT_SHAPE));
        assert!(looks_like_jwt("a.b.c"));
        for bad in [
            "a.b",
            "a.b.c.d",
            "a..c",
            ".b.c",
            "a.b.",
            "a.b.c=",
            "a+b.c.d",
            SIGNED,
            SIGNED_DECODED,
            "",
        ] {
            assert!(!looks_like_jwt(bad), "{bad:?}");
        }
    }

    #[test]
    fn bearer_wins_over_the_cookie() {
        let jar = |name: &str| (name == SESSION_COOKIE).then_some("tok.sig%3D");
        let names = [SESSION_COOKIE];
        assert_eq!(
            credential(Some("Bearer "), &names, jar),
            Credential::Bearer(Bearer::Malformed)
        );
        assert_eq!(
            credential(Some("bearer  tok.sig= "), &names, jar),
            Credential::Bearer(Bearer::Signed("tok.sig="))
        );
        assert_eq!(
            credential(Some("Basic abc"), &names, jar),
            Credential::Cookie {
                name: SESSION_COOKIE,
                value: "tok.sig%3D"
            }
        );
        assert_eq!(
            credential(None, &names, jar),
            Credential::Cookie {
                name: SESSION_COOKIE,
                value: "tok.sig%3D"
            }
        );
        assert_eq!(
            credential(None, &[SECURE_SESSION_COOKIE], jar),
            Credential::Nothing
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name_and_empty_means_absent() {
        let header = "xbetter-auth.session_token=a; better-auth.session_tokenx=b; theme=dark";
        assert_eq!(cookie_value(header, SESSION_COOKIE), None);
        let header = "theme=dark; better-auth.session_token=v1; better-auth.session_token=v2";
        assert_eq!(cookie_value(header, SESSION_COOKIE), Some("v1"));
        let both = "better-auth.session_token=plain; __Secure-better-auth.session_token=secure";
        let jar = |name: &str| cookie_value(both, name);
        assert_eq!(
            credential(None, &[SECURE_SESSION_COOKIE, SESSION_COOKIE], jar),
            Credential::Cookie {
                name: SECURE_SESSION_COOKIE,
                value: "secure"
            }
        );
        let deleting = |name: &str| cookie_value("better-auth.session_token=", name);
        assert_eq!(
            credential(None, &[SESSION_COOKIE], deleting),
            Credential::Nothing
        );
    }

    #[test]
    fn names_agree() {
        assert_eq!(cookie_name(SESSION_COOKIE, true), SECURE_SESSION_COOKIE);
        assert_eq!(cookie_name(SESSION_COOKIE, false), SESSION_COOKIE);
        for header in [
            EDGE_SECRET_HEADER,
            CLIENT_IP_HEADER,
            REVOKED_USER_HEADER,
            USER_ID_HEADER,
            USER_EMAIL_HEADER,
            USER_NAME_HEADER,
            SESSION_ID_HEADER,
            AUTH_METHOD_HEADER,
        ] {
            assert!(is_edge_header(header), "{header}");
        }
        assert!(is_edge_header("X-EDGEAUTH-"));
        assert!(!is_edge_header("x-edge"));
        assert!(!is_edge_header("édgeauth-x-x-x-x"));
        assert!(is_edge_header("X-EdgeAuth-User-Id"));
        assert!(!is_edge_header("x-edgeauth"));
        assert!(!is_edge_header("x-request-id"));
        assert_eq!(bearer_value(Some("BEARER abc")), Some("abc"));
        assert_eq!(bearer_value(Some("Bearer")), None);
        assert_eq!(bearer_value(Some("Token abc")), None);
    }
}
