//! Forwarding HTTP requests: which headers travel, and the auth API pass-through.
//!
//! Every forwarded request (to the origin or the upstream) drops
//! - hop-by-hop headers (`Connection`, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, and any header `Connection` names) and `Host`;
//! - **every `x-edgeauth-*` header the client sent**: that namespace is the edge's alone
//!   (identity headers to the upstream, the client address and the edge's proof to the
//!   origin), so no client can pose as the edge.
//!
//! `/api/auth/*` goes to `ORIGIN_URL` with the same method, normalised path, query and body,
//! plus `x-edgeauth-client-ip` (from `CF-Connecting-IP`, when it is one IP address) and
//! `x-edgeauth-edge-secret`. The origin's response comes back untouched (status, every
//! `Set-Cookie`, `set-auth-token`, redirects: fetches use `redirect: manual`), except for
//! the origin's `x-edgeauth-revoked-user`, which the edge acts on and removes. The calls that
//! revoke sessions are also recorded ([`crate::revocation`]).

use edgeauth_token::wire::{
    is_edge_header, AUTH_PREFIX, CLIENT_IP_HEADER, EDGE_SECRET_HEADER, REVOKED_USER_HEADER,
};
use serde_json::Value;
use worker::wasm_bindgen::JsValue;
use worker::{web_sys, Fetch, Request, Response};

use crate::auth::{self, Cx};
use crate::credentials;
use crate::error::{EdgeError, Peer};
use crate::revocation::{self, Caller, Revocation};

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

/// A request body to forward.
#[derive(Debug)]
pub enum Body {
    /// None.
    Empty,
    /// The client's body, streamed through.
    Stream(web_sys::ReadableStream),
    /// A body read in full.
    Bytes(Vec<u8>),
}

/// The headers of an incoming request, as (name, value) pairs.
pub fn request_headers(request: &Request) -> Vec<(String, String)> {
    request.headers().entries().collect()
}

/// The client's body, streamed (none for GET and HEAD).
pub fn streamed_body(request: &Request) -> Body {
    if is_bodyless(&request.inner().method()) {
        return Body::Empty;
    }
    request.inner().body().map_or(Body::Empty, Body::Stream)
}

/// An outgoing request with exactly these parts. The method is passed through as given
/// (not narrowed to the methods `worker::Method` knows); redirects are not followed, so a
/// 3xx reaches the client as the server sent it.
pub fn build_request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Body,
) -> worker::Result<Request> {
    let web_headers = web_sys::Headers::new()?;
    for (name, value) in headers {
        web_headers.append(name, value)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&web_headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    match body {
        Body::Empty => {}
        Body::Stream(stream) => init.set_body(&stream),
        Body::Bytes(bytes) => {
            let array = worker::js_sys::Uint8Array::from(bytes.as_slice());
            let value: &JsValue = array.as_ref();
            init.set_body(value);
        }
    }
    Ok(Request::from(web_sys::Request::new_with_str_and_init(
        url, &init,
    )?))
}

/// Sends a request; a network failure is a 502 naming `peer`.
pub async fn send(request: Request, peer: Peer) -> Result<Response, EdgeError> {
    Fetch::Request(request)
        .send()
        .await
        .map_err(|e| EdgeError::BadGateway(peer, e.to_string()))
}

/// `/api/auth/*`: forwarded to the origin; revocations are recorded once the origin
/// confirms them.
pub async fn auth_api(
    mut request: Request,
    cx: &Cx<'_>,
    path: &str,
) -> Result<Response, EdgeError> {
    let method = request.inner().method();
    let sub_path = path.strip_prefix(AUTH_PREFIX).unwrap_or_default();
    let incoming = request_headers(&request);

    let (body, body_json) = if revocation::needs_request_body(&method, sub_path) {
        let bytes = request.bytes().await?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        (Body::Bytes(bytes), json)
    } else {
        (streamed_body(&request), None)
    };
    let revoking = revocation::revocation(&method, sub_path, body_json.as_ref());

    // Learn what is being revoked before the origin forgets it.
    let before = match &revoking {
        Some(revoking) => Some(resolve_revocation(cx, revoking, &incoming).await),
        None => None,
    };

    let headers = origin_headers(
        &incoming,
        cx.info.client_ip.as_deref(),
        &cx.config.edge_secret,
    );
    let url = join_url(&cx.config.origin_url, &cx.info.path_and_query(path));
    let outgoing = build_request(&method, &url, &headers, body)?;
    let mut response = send(outgoing, Peer::Origin).await?;

    // The origin ended every session of a user (password reset, account deletion): refuse
    // their cached sessions and JWTs here at once. The header is for the edge alone.
    if let Some(user_id) = response.headers().get(REVOKED_USER_HEADER)? {
        let headers = copy_headers_except(response.headers(), &[REVOKED_USER_HEADER])?;
        response = response.with_headers(headers);
        if let Some(effect) = revocation::origin_revoked_user(&user_id, cx.now) {
            auth::apply(cx, &[effect]).await;
        }
    }

    if let (Some(revoking), Some((caller, target_sid))) = (revoking, before) {
        if revocation::confirmed(response.status_code()) {
            let effects =
                revocation::effects(&revoking, caller.as_ref(), target_sid.as_deref(), cx.now);
            auth::apply(cx, &effects).await;
        }
    }
    Ok(response)
}

/// A mutable copy of `headers` without the names in `except` (every `Set-Cookie` kept).
fn copy_headers_except(
    headers: &worker::Headers,
    except: &[&str],
) -> worker::Result<worker::Headers> {
    let copy = worker::Headers::new();
    for (name, value) in headers.entries() {
        if !except.iter().any(|e| name.eq_ignore_ascii_case(e)) {
            copy.append(&name, &value)?;
        }
    }
    Ok(copy)
}

/// The caller and, for `revoke-session`, the id of the session named, resolved best-effort
/// (a failure to learn them only narrows what is evicted; the cache TTL and liveness checks
/// bound the rest).
async fn resolve_revocation(
    cx: &Cx<'_>,
    revoking: &Revocation,
    incoming: &[(String, String)],
) -> (Option<Caller>, Option<String>) {
    let header = |name: &str| {
        incoming
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let Some(credential) = credentials::revocation_credential(
        header("authorization"),
        header("cookie"),
        cx.config.better_auth_secret.as_bytes(),
    ) else {
        return (None, None);
    };
    let caller = auth::caller(cx, &credential).await;
    let target_sid = match (revoking, &caller.session) {
        (Revocation::SessionByToken(token), Some(session)) => {
            auth::session_id_of_token(cx, &credential, token, &session.user_id).await
        }
        _ => None,
    };
    (Some(caller), target_sid)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
