//! Who a request is, once verified: the one type the runtime's authentication produces and
//! the identity headers ([`crate::decide::forward::identity_headers`]) consume.

use crate::decide::jwt::VerifiedJwt;
use crate::decide::session_cache::CachedSession;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A verified JWT.
    Jwt,
    /// A session cookie or bearer session token, live at the origin.
    Session,
}

impl AuthMethod {
    /// The value of [`AUTH_METHOD_HEADER`](edgeauth_token::wire::AUTH_METHOD_HEADER).
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
    /// The user's display name, when known.
    pub name: Option<String>,
    /// The session id, when known.
    pub session_id: Option<String>,
    /// How it was established.
    pub method: AuthMethod,
    /// A JWT for the caller signed by the origin, for the application
    /// ([`edgeauth_token::wire::JWT_HEADER`]), when the edge has one.
    pub jwt: Option<String>,
}

impl Identity {
    /// The identity of a live session (cached, or just answered by the origin).
    pub fn of_session(session: &CachedSession) -> Self {
        Identity {
            user_id: session.user_id.clone(),
            email: session.email.clone(),
            name: session.name.clone(),
            session_id: Some(session.session_id.clone()),
            method: AuthMethod::Session,
            jwt: session.jwt.as_ref().map(|jwt| jwt.token.clone()),
        }
    }

    /// The identity a verified JWT carries (`token`, forwarded as it was presented).
    pub fn of_jwt(jwt: VerifiedJwt, token: &str) -> Self {
        Identity {
            user_id: jwt.user_id,
            email: jwt.email,
            name: jwt.name,
            session_id: jwt.session_id,
            method: AuthMethod::Jwt,
            jwt: Some(token.to_string()),
        }
    }
}
