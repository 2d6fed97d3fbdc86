//! Which credential a request presents, and whether it is worth asking anyone about.
//!
//! Which credential is presented is the wire contract's, shared with the origin
//! ([`edgeauth_token::wire::credential`]): an `Authorization: Bearer` header wins over the
//! cookie, and a bearer value is
//!
//! - a JWT when it has the compact shape (three base64url segments), verified with the
//!   token crate ([`crate::decide::jwt`]);
//! - otherwise Better Auth's signed session value `token.base64(hmac)` (percent-encoded as in
//!   the cookie, or decoded), whose HMAC is checked here with `BETTER_AUTH_SECRET`.
//!
//! The session cookie is `__Secure-better-auth.session_token` (preferred when both are
//! present: only a secure context can set it) or `better-auth.session_token`
//! ([`ACCEPTED_COOKIES`]), with the same signed value. A value whose HMAC fails is refused here, so a forged or malformed cookie
//! never costs an origin call.
//!
//! The origin also accepts a *raw* 32-character session token as a bearer. It carries no
//! HMAC, so the edge cannot tell a real one from a guess without asking the origin; on
//! protected paths it is refused (send the signed value from `set-auth-token`, or a JWT).
//! The auth API passes it through unchanged, and revocation bookkeeping
//! ([`revocation_credential`]) accepts it.

use edgeauth_token::cookie;
use edgeauth_token::wire::{self, Bearer, Credential, SECURE_SESSION_COOKIE, SESSION_COOKIE};

/// The session cookie names the edge accepts, in order of preference: it sits in front of
/// deployments of either kind, and only a secure context can set the `__Secure-` one.
pub const ACCEPTED_COOKIES: [&str; 2] = [SECURE_SESSION_COOKIE, SESSION_COOKIE];

/// How to present a verified session credential to the origin: exactly as the client did,
/// under the same name, and nothing else from the client's cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardAs {
    /// `Cookie: <name>=<value>`.
    Cookie {
        /// The cookie's name.
        name: String,
        /// Its value as received.
        value: String,
    },
    /// `Authorization: Bearer <value>`, the value as received.
    Bearer(String),
}

impl ForwardAs {
    /// The request header (name, value) that carries this credential.
    pub fn header(&self) -> (&'static str, String) {
        match self {
            ForwardAs::Cookie { name, value } => ("cookie", format!("{name}={value}")),
            ForwardAs::Bearer(value) => ("authorization", format!("Bearer {value}")),
        }
    }
}

/// A session credential whose HMAC verified (or, for revocation bookkeeping only, a raw
/// bearer token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCredential {
    /// The raw session token inside the signed value.
    pub token: String,
    /// How to forward it to the origin.
    pub forward: ForwardAs,
}

/// What a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No credential at all.
    Nothing,
    /// A bearer value with the shape of a compact JWT (not yet verified).
    Jwt(&'a str),
    /// A session credential whose HMAC verified.
    Session(SessionCredential),
    /// A credential that is refused without asking anyone; the reason is for logs only.
    Refused(&'static str),
}

/// The credential a request to a protected path presents, checked as far as possible
/// without I/O: the HMAC of session values is verified with `secret`.
pub fn extract<'a>(
    authorization: Option<&'a str>,
    cookie_header: Option<&'a str>,
    secret: &[u8],
) -> Presented<'a> {
    let jar = |name: &str| cookie_header.and_then(|header| wire::cookie_value(header, name));
    match wire::credential(authorization, &ACCEPTED_COOKIES, jar) {
        Credential::Nothing => Presented::Nothing,
        Credential::Bearer(Bearer::Jwt(token)) => Presented::Jwt(token),
        Credential::Bearer(Bearer::Raw(_)) => Presented::Refused("unsigned bearer session token"),
        Credential::Bearer(Bearer::Malformed) => {
            Presented::Refused(if wire::bearer_value(authorization) == Some("") {
                "empty bearer credential"
            } else {
                "malformed bearer credential"
            })
        }
        Credential::Bearer(Bearer::Signed(value)) => {
            match cookie::verify_signed_value(secret, value) {
                Ok(token) => Presented::Session(SessionCredential {
                    token,
                    forward: ForwardAs::Bearer(value.to_string()),
                }),
                Err(_) => Presented::Refused("bearer session value failed its HMAC"),
            }
        }
        Credential::Cookie { name, value } => match cookie::verify_signed_value(secret, value) {
            Ok(token) => Presented::Session(SessionCredential {
                token,
                forward: ForwardAs::Cookie {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            }),
            Err(_) => Presented::Refused("session cookie failed its HMAC"),
        },
    }
}

/// The session a request to the auth API acts on, for revocation bookkeeping: as
/// [`extract`], but a raw bearer token is taken as is (the origin accepts it, and it is only
/// used to find what to evict), and a JWT is no session credential.
pub fn revocation_credential(
    authorization: Option<&str>,
    cookie_header: Option<&str>,
    secret: &[u8],
) -> Option<SessionCredential> {
    if let Some(Bearer::Raw(token)) = wire::bearer_value(authorization).map(wire::classify_bearer) {
        return Some(SessionCredential {
            token: token.to_string(),
            forward: ForwardAs::Bearer(token.to_string()),
        });
    }
    match extract(authorization, cookie_header, secret) {
        Presented::Session(credential) => Some(credential),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123456789";
    const TOKEN: &str = "0YnKQty8O96CSthmLIeHvNJnuQmeit3f";
    /// Better Auth's own vector for TOKEN under SECRET.
    const SIGNED: &str =
        "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D";
    const SIGNED_DECODED: &str =
        "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.+TjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE=";
    const JWT_SHAPE: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";

    fn session(token: &str, forward: ForwardAs) -> Presented<'static> {
        Presented::Session(SessionCredential {
            token: token.into(),
            forward,
        })
    }

    #[test]
    fn a_genuine_cookie_is_a_session_credential() {
        let header = format!("theme=dark; better-auth.session_token={SIGNED}; other=1");
        assert_eq!(
            extract(None, Some(&header), SECRET),
            session(
                TOKEN,
                ForwardAs::Cookie {
                    name: SESSION_COOKIE.into(),
                    value: SIGNED.into()
                }
            )
        );
    }

    #[test]
    fn the_secure_cookie_is_preferred() {
        let forged = SIGNED.replacen('0', "1", 1);
        let header = format!(
            "better-auth.session_token={forged}; __Secure-better-auth.session_token={SIGNED}"
        );
        assert_eq!(
            extract(None, Some(&header), SECRET),
            session(
                TOKEN,
                ForwardAs::Cookie {
                    name: SECURE_SESSION_COOKIE.into(),
                    value: SIGNED.into()
                }
            )
        );
    }

    #[test]
    fn forged_and_malformed_cookies_are_refused_without_io() {
        let forged_mac = SIGNED.replacen("%2BT", "%2BU", 1);
        let other_token = format!("AAAAQty8O96CSthmLIeHvNJnuQmeit3f{}", &SIGNED[32..]);
        let too_long = format!("{}.{}", "a".repeat(5000), &SIGNED[33..]);
        for bad in [
            forged_mac.as_str(),
            other_token.as_str(),
            TOKEN,
            "garbage",
            "a.b",
            ".%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D",
            // 1.4's bearer quirk: a 43-character signature.
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.+TjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE",
            "%FF%FE",
            too_long.as_str(),
        ] {
            let header = format!("better-auth.session_token={bad}");
            assert!(
                matches!(extract(None, Some(&header), SECRET), Presented::Refused(_)),
                "accepted {bad:?}"
            );
        }
        // The right value under another secret.
        let header = format!("better-auth.session_token={SIGNED}");
        assert!(matches!(
            extract(None, Some(&header), b"another-secret-another-secret-0123"),
            Presented::Refused(_)
        ));
    }

    #[test]
    fn no_cookie_or_an_emptied_one_is_nothing() {
        assert_eq!(extract(None, None, SECRET), Presented::Nothing);
        assert_eq!(extract(None, Some("a=1; b=2"), SECRET), Presented::Nothing);
        assert_eq!(
            extract(None, Some("better-auth.session_token="), SECRET),
            Presented::Nothing
        );
        // Similar names are not the session cookie.
        let header =
            format!("xbetter-auth.session_token={SIGNED}; better-auth.session_tokenx={SIGNED}");
        assert_eq!(extract(None, Some(&header), SECRET), Presented::Nothing);
    }

    #[test]
    fn bearer_wins_over_the_cookie() {
        let cookie = format!("better-auth.session_token={SIGNED}");
        let auth = format!("Bearer {JWT_SHAPE}");
        assert_eq!(
            extract(Some(&auth), Some(&cookie), SECRET),
            Presented::Jwt(JWT_SHAPE)
        );
        // A refused bearer is refused, even with a good cookie.
        assert!(matches!(
            extract(Some("Bearer nonsense"), Some(&cookie), SECRET),
            Presented::Refused(_)
        ));
        // Another scheme is not ours: the cookie counts.
        assert!(matches!(
            extract(Some("Basic dXNlcjpwYXNz"), Some(&cookie), SECRET),
            Presented::Session(_)
        ));
    }

    #[test]
    fn signed_bearer_values_encoded_or_not() {
        for value in [SIGNED, SIGNED_DECODED] {
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let auth = format!("{scheme} {value} ");
                assert_eq!(
                    extract(Some(&auth), None, SECRET),
                    session(TOKEN, ForwardAs::Bearer(value.into())),
                    "{auth:?}"
                );
            }
        }
    }

    #[test]
    fn raw_and_empty_bearers_are_refused_on_protected_paths() {
        for auth in [
            format!("Bearer {TOKEN}"),
            "Bearer ".to_string(),
            "Bearer    ".to_string(),
            "Bearer x".to_string(),
        ] {
            assert!(
                matches!(extract(Some(&auth), None, SECRET), Presented::Refused(_)),
                "{auth:?}"
            );
        }
        // No space at all: not a bearer header.
        assert_eq!(extract(Some("Bearer"), None, SECRET), Presented::Nothing);
    }

    #[test]
    fn revocation_credentials_accept_raw_tokens() {
        let auth = format!("Bearer {TOKEN}");
        assert_eq!(
            revocation_credential(Some(&auth), None, SECRET),
            Some(SessionCredential {
                token: TOKEN.into(),
                forward: ForwardAs::Bearer(TOKEN.into())
            })
        );
        let cookie = format!("better-auth.session_token={SIGNED}");
        assert_eq!(
            revocation_credential(None, Some(&cookie), SECRET).map(|c| c.token),
            Some(TOKEN.to_string())
        );
        let jwt = format!("Bearer {JWT_SHAPE}");
        assert_eq!(
            revocation_credential(Some(&jwt), Some(&cookie), SECRET),
            None
        );
        let forged = format!("better-auth.session_token={}", SIGNED.replacen('0', "1", 1));
        assert_eq!(revocation_credential(None, Some(&forged), SECRET), None);
    }

    #[test]
    fn forwarded_headers() {
        let cookie = ForwardAs::Cookie {
            name: SECURE_SESSION_COOKIE.into(),
            value: SIGNED.into(),
        };
        assert_eq!(
            cookie.header(),
            (
                "cookie",
                format!("__Secure-better-auth.session_token={SIGNED}")
            )
        );
        assert_eq!(
            ForwardAs::Bearer("v".into()).header(),
            ("authorization", "Bearer v".to_string())
        );
    }
}
