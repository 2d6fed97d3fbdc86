//! The crate's one error type, and the one place it becomes a response.
//!
//! Every refusal and failure is an [`EdgeError`]; [`reply`] turns it into a status, headers
//! and a JSON body (a pure function, unit-tested here), which the runtime's `respond` sends
//! (from the fetch handler only). Reasons (which check failed, what the origin said) go to
//! the log, never to the client: every refused credential gets the same 401, and refusals
//! are not logged at all ([`EdgeError::is_logged`]).
//!
//! | error | status | body |
//! |---|---|---|
//! | no credential on a protected path | 401, `WWW-Authenticate: Bearer realm="edgeauth"` | `{"code":"UNAUTHORIZED","message":"Authentication required"}` |
//! | a credential refused | 401, `WWW-Authenticate: Bearer realm="edgeauth", error="invalid_token"` | `{"code":"UNAUTHORIZED","message":"Invalid or expired credentials"}` |
//! | either, `Accept` containing `text/html` | 302, `Location: <SIGN_IN_URL>?callbackURL=<path and query, encoded>` | none |
//! | the origin cannot answer for a session | 503 | `{"code":"SERVICE_UNAVAILABLE","message":"Authentication is temporarily unavailable"}` |
//! | the origin (auth API) or upstream unreachable | 502 | `{"code":"BAD_GATEWAY","message":"The origin is unreachable"}` / `"The upstream is unreachable"` |
//! | the origin (auth API, pages) silent for `ORIGIN_PROXY_TIMEOUT` | 504 | `{"code":"GATEWAY_TIMEOUT","message":"The origin did not answer in time"}` |
//! | a path that could be read two ways | 400 | `{"code":"BAD_REQUEST","message":"Malformed request path"}` |
//! | `/__edge/*` other than the health check | 404 | `{"code":"NOT_FOUND","message":"Not Found"}` |
//! | configuration | 500 | `{"code":"EDGE_MISCONFIGURED","message":"Edge configuration error: <VAR> is not set"}` (or `... is invalid: <rule>`) |
//! | anything else | 500 | `{"code":"INTERNAL_SERVER_ERROR","message":"Internal Server Error"}` |
//!
//! Every error response carries `Cache-Control: no-store`.

use std::fmt;

use serde_json::{json, Value};

use crate::decide::config::ConfigError;
use edgeauth_token::wire::PathError;

/// The realm in `WWW-Authenticate`.
pub const REALM: &str = "edgeauth";

/// Which server could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The edgeauth origin (`ORIGIN_URL`).
    Origin,
    /// The application (`UPSTREAM_URL`).
    Upstream,
}

/// Everything that ends a request other than a forwarded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeError {
    /// The configuration is missing or invalid.
    Config(ConfigError),
    /// The request path is refused.
    BadPath(PathError),
    /// An unknown `/__edge/*` path.
    NotFound,
    /// No acceptable credential on a protected path. `presented`: a credential was sent and
    /// refused (as opposed to none at all). The reason is logged, never sent.
    Unauthorized {
        /// Whether a credential was presented.
        presented: bool,
        /// Why it was refused (for logs).
        reason: String,
    },
    /// The origin could not say whether a session is live, and nothing cached can (fail
    /// closed).
    Unavailable(String),
    /// A request could not be forwarded.
    BadGateway(Peer, String),
    /// A forwarded request got no answer in time.
    GatewayTimeout(Peer, String),
    /// A bug or a runtime failure.
    Internal(String),
}

impl EdgeError {
    /// A refused credential.
    pub fn refused(reason: impl Into<String>) -> Self {
        EdgeError::Unauthorized {
            presented: true,
            reason: reason.into(),
        }
    }

    /// No credential.
    pub fn anonymous() -> Self {
        EdgeError::Unauthorized {
            presented: false,
            reason: "no credential".to_string(),
        }
    }

    /// Whether this error is logged when it becomes a response: failures of the edge or its
    /// dependencies are (never with a credential). Refusals are not: they are the normal
    /// answer to every forged or missing credential, and a line per refusal would let an
    /// attacker amplify the logs (and costs more than the refusal itself).
    pub fn is_logged(&self) -> bool {
        !matches!(
            self,
            EdgeError::Unauthorized { .. } | EdgeError::BadPath(_) | EdgeError::NotFound
        )
    }
}

impl fmt::Display for EdgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdgeError::Config(e) => write!(f, "configuration: {e}"),
            EdgeError::BadPath(e) => write!(f, "bad path: {e}"),
            EdgeError::NotFound => f.write_str("not found"),
            EdgeError::Unauthorized { reason, .. } => write!(f, "unauthorized: {reason}"),
            EdgeError::Unavailable(why) => write!(f, "origin unavailable: {why}"),
            EdgeError::BadGateway(peer, why) => write!(f, "{peer:?} unreachable: {why}"),
            EdgeError::GatewayTimeout(peer, why) => write!(f, "{peer:?} too slow: {why}"),
            EdgeError::Internal(why) => write!(f, "internal: {why}"),
        }
    }
}

impl From<ConfigError> for EdgeError {
    fn from(e: ConfigError) -> Self {
        EdgeError::Config(e)
    }
}

/// A response to send, before the runtime builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers besides `Content-Type`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body; `None` for an empty body.
    pub body: Option<Value>,
}

/// What [`reply`] needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct ReplyContext<'a> {
    /// The client asked for HTML (a browser navigation).
    pub wants_html: bool,
    /// `SIGN_IN_URL`, when the configuration loaded.
    pub sign_in_url: Option<&'a str>,
    /// Where to come back after signing in ([`crate::decide::route::RequestInfo::return_to`]).
    pub return_to: &'a str,
}

/// `sign_in_url` with `callbackURL=<return_to>` appended, URL-encoded.
pub fn sign_in_location(sign_in_url: &str, return_to: &str) -> String {
    let separator = if sign_in_url.contains('?') { '&' } else { '?' };
    format!(
        "{sign_in_url}{separator}callbackURL={}",
        edgeauth_token::cookie::encode_uri_component(return_to)
    )
}

fn json_error(status: u16, code: &str, message: &str) -> Reply {
    Reply {
        status,
        headers: vec![("cache-control", "no-store".to_string())],
        body: Some(json!({ "code": code, "message": message })),
    }
}

/// The response for `error`.
pub fn reply(error: &EdgeError, context: &ReplyContext<'_>) -> Reply {
    match error {
        EdgeError::Unauthorized { presented, .. } => {
            if let (true, Some(sign_in)) = (context.wants_html, context.sign_in_url) {
                return Reply {
                    status: 302,
                    headers: vec![
                        ("location", sign_in_location(sign_in, context.return_to)),
                        ("cache-control", "no-store".to_string()),
                    ],
                    body: None,
                };
            }
            let (challenge, message) = if *presented {
                (
                    format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
                    "Invalid or expired credentials",
                )
            } else {
                (
                    format!("Bearer realm=\"{REALM}\""),
                    "Authentication required",
                )
            };
            let mut reply = json_error(401, "UNAUTHORIZED", message);
            reply.headers.push(("www-authenticate", challenge));
            reply
        }
        EdgeError::Config(e) => json_error(
            500,
            "EDGE_MISCONFIGURED",
            &format!("Edge configuration error: {e}"),
        ),
        EdgeError::BadPath(_) => json_error(400, "BAD_REQUEST", "Malformed request path"),
        EdgeError::NotFound => json_error(404, "NOT_FOUND", "Not Found"),
        EdgeError::Unavailable(_) => json_error(
            503,
            "SERVICE_UNAVAILABLE",
            "Authentication is temporarily unavailable",
        ),
        EdgeError::BadGateway(Peer::Origin, _) => {
            json_error(502, "BAD_GATEWAY", "The origin is unreachable")
        }
        EdgeError::BadGateway(Peer::Upstream, _) => {
            json_error(502, "BAD_GATEWAY", "The upstream is unreachable")
        }
        EdgeError::GatewayTimeout(Peer::Origin, _) => {
            json_error(504, "GATEWAY_TIMEOUT", "The origin did not answer in time")
        }
        EdgeError::GatewayTimeout(Peer::Upstream, _) => json_error(
            504,
            "GATEWAY_TIMEOUT",
            "The upstream did not answer in time",
        ),
        EdgeError::Internal(_) => json_error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> ReplyContext<'static> {
        ReplyContext {
            wants_html: false,
            sign_in_url: Some("/sign-in"),
            return_to: "/app/x?a=1",
        }
    }

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_silent_origin_is_a_504() {
        let reply = reply(
            &EdgeError::GatewayTimeout(Peer::Origin, "no answer within 35 s".into()),
            &api(),
        );
        assert_eq!(reply.status, 504);
        assert_eq!(
            reply.body,
            Some(
                json!({"code": "GATEWAY_TIMEOUT", "message": "The origin did not answer in time"})
            )
        );
    }

    #[test]
    fn no_credential_is_a_plain_bearer_challenge() {
        let reply = reply(&EdgeError::anonymous(), &api());
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body,
            Some(json!({"code": "UNAUTHORIZED", "message": "Authentication required"}))
        );
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some("Bearer realm=\"edgeauth\"")
        );
        assert_eq!(header(&reply, "cache-control"), Some("no-store"));
    }

    #[test]
    fn a_refused_credential_says_invalid_token_and_nothing_more() {
        let reply = reply(
            &EdgeError::refused("session cookie failed its HMAC"),
            &api(),
        );
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body,
            Some(json!({"code": "UNAUTHORIZED", "message": "Invalid or expired credentials"}))
        );
        assert_eq!(
            header(&reply, "www-authenticate"),
            Some("Bearer realm=\"edgeauth\", error=\"invalid_token\"")
        );
        assert!(!reply.body.unwrap().to_string().contains("HMAC"));
    }

    #[test]
    fn browser_navigations_are_sent_to_sign_in() {
        for error in [EdgeError::anonymous(), EdgeError::refused("expired")] {
            let context = ReplyContext {
                wants_html: true,
                ..api()
            };
            let reply = reply(&error, &context);
            assert_eq!(reply.status, 302);
            assert_eq!(
                header(&reply, "location"),
                Some("/sign-in?callbackURL=%2Fapp%2Fx%3Fa%3D1")
            );
            assert_eq!(reply.body, None);
        }
    }

    #[test]
    fn sign_in_locations() {
        assert_eq!(
            sign_in_location("https://id.example/login?app=1", "/a b/ü"),
            "https://id.example/login?app=1&callbackURL=%2Fa%20b%2F%C3%BC"
        );
        assert_eq!(
            sign_in_location("/sign-in", "/"),
            "/sign-in?callbackURL=%2F"
        );
    }

    #[test]
    fn other_errors() {
        let cases = [
            (
                EdgeError::Unavailable("timeout".into()),
                503,
                json!({"code": "SERVICE_UNAVAILABLE", "message": "Authentication is temporarily unavailable"}),
            ),
            (
                EdgeError::BadGateway(Peer::Upstream, "refused".into()),
                502,
                json!({"code": "BAD_GATEWAY", "message": "The upstream is unreachable"}),
            ),
            (
                EdgeError::BadGateway(Peer::Origin, "refused".into()),
                502,
                json!({"code": "BAD_GATEWAY", "message": "The origin is unreachable"}),
            ),
            (
                EdgeError::BadPath(PathError::EncodedSeparator),
                400,
                json!({"code": "BAD_REQUEST", "message": "Malformed request path"}),
            ),
            (
                EdgeError::NotFound,
                404,
                json!({"code": "NOT_FOUND", "message": "Not Found"}),
            ),
            (
                EdgeError::Internal("secret detail".into()),
                500,
                json!({"code": "INTERNAL_SERVER_ERROR", "message": "Internal Server Error"}),
            ),
            (
                EdgeError::Config(ConfigError::Missing("EDGE_SECRET")),
                500,
                json!({"code": "EDGE_MISCONFIGURED", "message": "Edge configuration error: EDGE_SECRET is not set"}),
            ),
        ];
        for (error, status, body) in cases {
            // A browser gets the same JSON for anything but a missing sign-in.
            let context = ReplyContext {
                wants_html: true,
                ..api()
            };
            let reply = reply(&error, &context);
            assert_eq!(reply.status, status, "{error}");
            assert_eq!(reply.body, Some(body), "{error}");
            assert_eq!(header(&reply, "www-authenticate"), None);
        }
    }

    #[test]
    fn refusals_are_not_logged_failures_are() {
        for quiet in [
            EdgeError::anonymous(),
            EdgeError::refused("forged"),
            EdgeError::BadPath(PathError::Backslash),
            EdgeError::NotFound,
        ] {
            assert!(!quiet.is_logged(), "{quiet}");
        }
        for loud in [
            EdgeError::Unavailable("timeout".into()),
            EdgeError::BadGateway(Peer::Origin, "refused".into()),
            EdgeError::Internal("bug".into()),
            EdgeError::Config(ConfigError::Missing("EDGE_SECRET")),
        ] {
            assert!(loud.is_logged(), "{loud}");
        }
    }

    #[test]
    fn without_configuration_a_browser_gets_the_json_401() {
        let context = ReplyContext {
            wants_html: true,
            sign_in_url: None,
            return_to: "/",
        };
        assert_eq!(reply(&EdgeError::anonymous(), &context).status, 401);
    }
}
