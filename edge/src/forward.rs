//! Forwarding to the application (`UPSTREAM_URL`), with the verified identity.
//!
//! A request to a protected path that passed [`crate::auth::authenticate`] goes to
//! `UPSTREAM_URL` + normalised path + query with these headers, set by the edge only (every
//! client-sent `x-edgeauth-*` header is removed first, on every request):
//!
//! | header | value |
//! |---|---|
//! | `x-edgeauth-user-id` | the user id (session's user, or the JWT's `sub`) |
//! | `x-edgeauth-user-email` | the user's email (omitted when unknown or not printable ASCII) |
//! | `x-edgeauth-session-id` | the session id (omitted for a JWT without `sid`) |
//! | `x-edgeauth-auth` | `session` or `jwt` |
//!
//! Public paths go to the upstream the same way, without identity headers. The upstream's
//! response comes back untouched. The upstream must only be reachable through the edge
//! (it trusts these headers); the edge does not send it `EDGE_SECRET`.

use edgeauth_token::wire::{
    AUTH_METHOD_HEADER, SESSION_ID_HEADER, USER_EMAIL_HEADER, USER_ID_HEADER,
};
use worker::{Request, Response};

use crate::error::{EdgeError, Peer};
use crate::proxy::{self, Body};
use crate::route::RequestInfo;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A verified JWT.
    Jwt,
    /// A session cookie or bearer session token, live at the origin.
    Session,
}

impl AuthMethod {
    /// The value of [`AUTH_METHOD_HEADER`].
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::Session => "session",
        }
    }
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub user_id: String,
    /// The user's email, when known.
    pub email: Option<String>,
    /// The session id, when known.
    pub session_id: Option<String>,
    /// How it was established.
    pub method: AuthMethod,
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
    if let Some(sid) = identity.session_id.as_deref().filter(|s| header_safe(s)) {
        headers.push((SESSION_ID_HEADER.to_string(), sid.to_string()));
    }
    headers.push((
        AUTH_METHOD_HEADER.to_string(),
        identity.method.as_str().to_string(),
    ));
    Ok(headers)
}

/// The headers of a request to the upstream: the client's forwardable headers (no
/// `x-edgeauth-*`), then the identity headers if any.
pub fn upstream_headers(
    incoming: &[(String, String)],
    identity: Option<&Identity>,
) -> Result<Vec<(String, String)>, EdgeError> {
    let mut headers = proxy::forwardable(incoming);
    if let Some(identity) = identity {
        headers.extend(identity_headers(identity)?);
    }
    Ok(headers)
}

/// Forwards `request` to the upstream at `path` (normalised) with `identity`.
pub async fn to_upstream(
    request: Request,
    upstream_url: &str,
    info: &RequestInfo,
    path: &str,
    identity: Option<&Identity>,
) -> Result<Response, EdgeError> {
    let headers = upstream_headers(&proxy::request_headers(&request), identity)?;
    let body: Body = proxy::streamed_body(&request);
    let url = proxy::join_url(upstream_url, &info.path_and_query(path));
    let outgoing = proxy::build_request(&info.method, &url, &headers, body)?;
    proxy::send(outgoing, Peer::Upstream).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(method: AuthMethod) -> Identity {
        Identity {
            user_id: "u1".into(),
            email: Some("ada@example.com".into()),
            session_id: Some("s1".into()),
            method,
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
                ("x-edgeauth-session-id", "s1"),
                ("x-edgeauth-auth", "session"),
            ])
        );
    }

    #[test]
    fn a_jwt_without_sid_or_email_sends_what_it_has() {
        let id = Identity {
            email: None,
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
            session_id: Some("s1\r\nx-edgeauth-user-id: admin".into()),
            ..identity(AuthMethod::Jwt)
        };
        assert_eq!(
            identity_headers(&id).unwrap(),
            pairs(&[("x-edgeauth-user-id", "u1"), ("x-edgeauth-auth", "jwt")])
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
        assert_eq!(out.len(), 5);
    }
}
