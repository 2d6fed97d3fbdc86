//! What a forwarded request carries: which headers travel, which the edge adds, its URL.
//!
//! Every forwarded request (to the origin or the upstream) drops
//! - hop-by-hop headers (`Connection`, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, and any header `Connection` names) and `Host`;
//! - **every `x-edgeauth-*` header the client sent** ([`is_edge_header`]): that namespace is
//!   the edge's alone (identity headers to the upstream, the client address and the edge's
//!   proof to the origin), so no client can pose as the edge.
//!
//! To the origin ([`origin_headers`]) the edge adds `x-edgeauth-client-ip` (from
//! `CF-Connecting-IP`, when it is one IP address) and `x-edgeauth-edge-secret`.
//!
//! To the upstream ([`upstream_headers`]), on a protected path, the edge adds the verified
//! identity ([`identity_headers`]):
//!
//! | header | value |
//! |---|---|
//! | `x-edgeauth-user-id` | the user id (session's user, or the JWT's `sub`) |
//! | `x-edgeauth-user-email` | the user's email (omitted when unknown or not printable ASCII) |
//! | `x-edgeauth-session-id` | the session id (omitted for a JWT without `sid`) |
//! | `x-edgeauth-auth` | `session` or `jwt` |
//! | `x-edgeauth-jwt` | a JWT for the caller signed by the origin: the one presented, or for a session the one the origin minted with its answer (omitted when the edge has none) |
//!
//! Public paths go to the upstream the same way, without identity headers. The upstream
//! must only be reachable through the edge (it trusts these headers); the edge does not send
//! it `EDGE_SECRET`. Every header name is the wire contract's ([`edgeauth_token::wire`]).

use edgeauth_token::cookie::encode_uri_component;
use edgeauth_token::wire::{
    is_edge_header, AUTH_METHOD_HEADER, CLIENT_IP_HEADER, EDGE_SECRET_HEADER, JWT_HEADER,
    SESSION_ID_HEADER, USER_EMAIL_HEADER, USER_ID_HEADER, USER_NAME_HEADER,
};

use crate::decide::error::EdgeError;
use crate::decide::identity::Identity;

/// Headers that describe one connection, not the request (RFC 9110 7.6.1), and `Host`,
/// which the runtime sets from the target URL.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// The client's headers that may be forwarded: without hop-by-hop headers (and those
/// `Connection` lists) and without any `x-edgeauth-*` header. Names are lower-cased.
pub fn forwardable(headers: &[(String, String)]) -> Vec<(String, String)> {
    let listed_in_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .filter(|(name, _)| {
            !HOP_BY_HOP.contains(&name.as_str())
                && !listed_in_connection.contains(name)
                && !is_edge_header(name)
        })
        .collect()
}

/// The headers of a request forwarded to the origin: the client's forwardable headers, the
/// client's address when known, and the edge's proof.
pub fn origin_headers(
    incoming: &[(String, String)],
    client_ip: Option<&str>,
    edge_secret: &str,
) -> Vec<(String, String)> {
    let mut headers = forwardable(incoming);
    if let Some(ip) = client_ip {
        headers.push((CLIENT_IP_HEADER.to_string(), ip.to_string()));
    }
    headers.push((EDGE_SECRET_HEADER.to_string(), edge_secret.to_string()));
    headers
}

/// `base` (no trailing `/`) followed by a path and query.
pub fn join_url(base: &str, path_and_query: &str) -> String {
    format!("{base}{path_and_query}")
}

/// Whether a request with this method carries no body (fetch refuses one).
pub fn is_bodyless(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// Whether `value` can travel as a header value unchanged and unambiguously: printable
/// ASCII, no leading or trailing space.
pub fn header_safe(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

/// The identity headers for `identity`. An optional value that cannot travel as a header is
/// left out; a user id that cannot is an error (the request is not forwarded).
pub fn identity_headers(identity: &Identity) -> Result<Vec<(String, String)>, EdgeError> {
    if !header_safe(&identity.user_id) {
        return Err(EdgeError::Internal(
            "user id is not a valid header value".into(),
        ));
    }
    let mut headers = vec![(USER_ID_HEADER.to_string(), identity.user_id.clone())];
    if let Some(email) = identity.email.as_deref().filter(|e| header_safe(e)) {
        headers.push((USER_EMAIL_HEADER.to_string(), email.to_string()));
    }
    if let Some(name) = identity.name.as_deref().filter(|n| !n.is_empty()) {
        headers.push((USER_NAME_HEADER.to_string(), encode_uri_component(name)));
    }
    if let Some(sid) = identity.session_id.as_deref().filter(|s| header_safe(s)) {
        headers.push((SESSION_ID_HEADER.to_string(), sid.to_string()));
    }
    headers.push((
        AUTH_METHOD_HEADER.to_string(),
        identity.method.as_str().to_string(),
    ));
    if let Some(jwt) = identity.jwt.as_deref().filter(|j| header_safe(j)) {
        headers.push((JWT_HEADER.to_string(), jwt.to_string()));
    }
    Ok(headers)
}

/// The headers of a request to the upstream: the client's forwardable headers (no
/// `x-edgeauth-*`), then the identity headers if any.
pub fn upstream_headers(
    incoming: &[(String, String)],
    identity: Option<&Identity>,
) -> Result<Vec<(String, String)>, EdgeError> {
    let mut headers = forwardable(incoming);
    if let Some(identity) = identity {
        headers.extend(identity_headers(identity)?);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::identity::AuthMethod;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn names(headers: &[(String, String)]) -> Vec<&str> {
        headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn client_sent_edge_headers_never_pass() {
        let incoming = headers(&[
            ("accept", "*/*"),
            ("x-edgeauth-user-id", "admin"),
            ("X-EdgeAuth-User-Email", "admin@example.com"),
            ("x-edgeauth-session-id", "s"),
            ("x-edgeauth-auth", "jwt"),
            ("x-edgeauth-client-ip", "1.2.3.4"),
            ("x-edgeauth-edge-secret", "guess"),
            ("x-edgeauth-anything-new", "x"),
            ("x-edgeauthx", "kept: not our namespace"),
            ("cookie", "a=1"),
        ]);
        assert_eq!(
            forwardable(&incoming),
            headers(&[
                ("accept", "*/*"),
                ("x-edgeauthx", "kept: not our namespace"),
                ("cookie", "a=1")
            ])
        );
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let incoming = headers(&[
            ("Host", "edge.example"),
            ("Connection", "keep-alive, X-Custom-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"),
            ("Trailer", "x"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic x"),
            ("Proxy-Connection", "keep-alive"),
            ("x-custom-hop", "1"),
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer t"),
            ("Origin", "https://app.example"),
        ]);
        assert_eq!(
            names(&forwardable(&incoming)),
            vec!["content-type", "authorization", "origin"]
        );
    }

    #[test]
    fn the_origin_gets_the_client_address_and_the_proof_only_from_the_edge() {
        let incoming = headers(&[
            ("x-edgeauth-client-ip", "6.6.6.6"),
            ("x-edgeauth-edge-secret", "forged"),
            ("cf-connecting-ip", "203.0.113.7"),
        ]);
        let out = origin_headers(&incoming, Some("203.0.113.7"), "the-edge-secret");
        assert_eq!(
            out,
            headers(&[
                ("cf-connecting-ip", "203.0.113.7"),
                ("x-edgeauth-client-ip", "203.0.113.7"),
                ("x-edgeauth-edge-secret", "the-edge-secret"),
            ])
        );
        // Unknown address: no client-ip header at all, never the client's claim.
        let out = origin_headers(&incoming, None, "s");
        assert_eq!(out.iter().filter(|(n, _)| n == CLIENT_IP_HEADER).count(), 0);
        assert_eq!(
            out.iter()
                .filter(|(n, _)| n == EDGE_SECRET_HEADER)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>(),
            vec!["s"]
        );
    }

    #[test]
    fn urls_and_bodies() {
        assert_eq!(
            join_url("http://127.0.0.1:3000", "/api/auth/get-session?x=1"),
            "http://127.0.0.1:3000/api/auth/get-session?x=1"
        );
        assert_eq!(
            join_url("https://app.internal/base", "/app"),
            "https://app.internal/base/app"
        );
        assert!(is_bodyless("GET"));
        assert!(is_bodyless("HEAD"));
        assert!(!is_bodyless("POST"));
        assert!(!is_bodyless("PROPFIND"));
    }

    fn identity(method: AuthMethod) -> Identity {
        Identity {
            user_id: "u1".into(),
            email: Some("ada@example.com".into()),
            name: Some("Adá Lovelace".into()),
            session_id: Some("s1".into()),
            method,
            jwt: None,
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn identity_headers_for_a_session() {
        assert_eq!(
            identity_headers(&identity(AuthMethod::Session)).unwrap(),
            pairs(&[
                ("x-edgeauth-user-id", "u1"),
                ("x-edgeauth-user-email", "ada@example.com"),
                ("x-edgeauth-user-name", "Ad%C3%A1%20Lovelace"),
                ("x-edgeauth-session-id", "s1"),
                ("x-edgeauth-auth", "session"),
            ])
        );
    }

    #[test]
    fn the_callers_jwt_goes_along_when_the_edge_has_one() {
        let with_jwt = Identity {
            jwt: Some("aaa.bbb.ccc".into()),
            ..identity(AuthMethod::Session)
        };
        let headers = identity_headers(&with_jwt).unwrap();
        assert_eq!(
            headers.last(),
            Some(&("x-edgeauth-jwt".to_string(), "aaa.bbb.ccc".to_string()))
        );
        // A value that could break out of its header is dropped, never sent.
        let injected = Identity {
            jwt: Some("aaa.bbb.ccc\r\nx-edgeauth-user-id: admin".into()),
            ..identity(AuthMethod::Jwt)
        };
        let headers = identity_headers(&injected).unwrap();
        assert!(headers.iter().all(|(name, _)| name != "x-edgeauth-jwt"));
    }

    #[test]
    fn a_jwt_without_sid_or_email_sends_what_it_has() {
        let id = Identity {
            email: None,
            name: None,
            session_id: None,
            ..identity(AuthMethod::Jwt)
        };
        assert_eq!(
            identity_headers(&id).unwrap(),
            pairs(&[("x-edgeauth-user-id", "u1"), ("x-edgeauth-auth", "jwt")])
        );
    }

    #[test]
    fn unsafe_values_never_become_headers() {
        let id = Identity {
            email: Some("ünïcode@example.com".into()),
            name: Some("Mallory\r\nx-edgeauth-user-id: admin".into()),
            session_id: Some("s1\r\nx-edgeauth-user-id: admin".into()),
            ..identity(AuthMethod::Jwt)
        };
        // A name is percent-encoded: it can never break out of its header.
        assert_eq!(
            identity_headers(&id).unwrap(),
            pairs(&[
                ("x-edgeauth-user-id", "u1"),
                (
                    "x-edgeauth-user-name",
                    "Mallory%0D%0Ax-edgeauth-user-id%3A%20admin"
                ),
                ("x-edgeauth-auth", "jwt")
            ])
        );
        let bad_user = Identity {
            user_id: "u1\nx".into(),
            ..identity(AuthMethod::Jwt)
        };
        assert!(identity_headers(&bad_user).is_err());
        assert!(!header_safe(""));
        assert!(!header_safe(" padded"));
        assert!(header_safe("a b"));
    }

    #[test]
    fn forged_identity_headers_are_replaced_not_merged() {
        let incoming = pairs(&[
            ("X-EdgeAuth-User-Id", "admin"),
            ("x-edgeauth-user-email", "admin@example.com"),
            ("x-edgeauth-session-id", "forged"),
            ("x-edgeauth-user-name", "Admin"),
            ("x-edgeauth-auth", "jwt"),
            ("accept", "application/json"),
        ]);
        // Public: no identity headers at all.
        assert_eq!(
            upstream_headers(&incoming, None).unwrap(),
            pairs(&[("accept", "application/json")])
        );
        // Protected: exactly the verified ones.
        let out = upstream_headers(&incoming, Some(&identity(AuthMethod::Session))).unwrap();
        let user_ids: Vec<&str> = out
            .iter()
            .filter(|(n, _)| n == USER_ID_HEADER)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(user_ids, vec!["u1"]);
        assert_eq!(out.len(), 6);
    }
}
