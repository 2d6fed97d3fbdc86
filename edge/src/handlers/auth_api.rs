//! `/api/auth/*`: Better Auth's API, and the origin's hosted pages (`PAGES_PATH`), passed
//! through to the origin.
//!
//! The request goes to `ORIGIN_URL` with the same method, normalised path, query and body,
//! and the headers [`origin_headers`] decides (the client's, without hop-by-hop and
//! `x-edgeauth-*` ones, plus the client's address and the edge's proof). The origin's
//! response comes back untouched (status, every `Set-Cookie`, `set-auth-token`, redirects),
//! except for the origin's `x-edgeauth-revoked-user`, which the edge acts on and removes.
//! The calls that revoke sessions are also recorded: what they revoke is decided in
//! [`crate::decide::revocation`], and carried out by [`crate::runtime::revoke`].

use edgeauth_token::wire::{AUTH_PREFIX, REVOKED_USER_HEADER};
use serde_json::Value;
use worker::{Request, Response};

use crate::decide::credentials;
use crate::decide::error::{EdgeError, Peer};
use crate::decide::forward::{join_url, origin_headers};
use crate::decide::revocation::{self, Caller, Revocation};
use crate::runtime::cx::Cx;
use crate::runtime::fetch::{
    build_request, copy_headers_except, request_headers, send_within, streamed_body, Body,
};
use crate::runtime::revoke;

/// `/api/auth/*`: forwarded to the origin; revocations are recorded once the origin
/// confirms them.
pub async fn auth_api(request: Request, cx: &Cx<'_>, path: &str) -> Result<Response, EdgeError> {
    let sub_path = path.strip_prefix(AUTH_PREFIX).unwrap_or_default();
    pass_through(request, cx, path, Some(sub_path)).await
}

/// The hosted pages: forwarded to the origin like the API. What their forms revoke, the
/// origin names in its answer ([`REVOKED_USER_HEADER`]), acted on here as for the API.
pub async fn pages(request: Request, cx: &Cx<'_>, path: &str) -> Result<Response, EdgeError> {
    pass_through(request, cx, path, None).await
}

/// Forwards to the origin. `api_path`, for the auth API, is the path below `/api/auth` whose
/// revocation effects ([`revocation::revocation`]) are recorded once confirmed.
async fn pass_through(
    mut request: Request,
    cx: &Cx<'_>,
    path: &str,
    api_path: Option<&str>,
) -> Result<Response, EdgeError> {
    let method = request.inner().method();
    let incoming = request_headers(&request);

    // The pages' form posts are small and buffered: the origin may refuse one (a forged
    // post, a rate limit) before reading it, and a body still streaming then would turn the
    // refusal into a broken pipe here.
    let needs_body = match api_path {
        Some(sub) => revocation::needs_request_body(&method, sub),
        None => !matches!(method.as_str(), "GET" | "HEAD"),
    };
    let (body, body_json) = if needs_body {
        let bytes = request.bytes().await?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        (Body::Bytes(bytes), json)
    } else {
        (streamed_body(&request), None)
    };
    let revoking =
        api_path.and_then(|sub| revocation::revocation(&method, sub, body_json.as_ref()));

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
    let mut response = send_within(outgoing, Peer::Origin, cx.config.origin_proxy_timeout).await?;

    // The origin ended every session of a user (password reset, account deletion): refuse
    // their cached sessions and JWTs here at once. The header is for the edge alone.
    if let Some(user_id) = response.headers().get(REVOKED_USER_HEADER)? {
        let headers = copy_headers_except(response.headers(), &[REVOKED_USER_HEADER])?;
        response = response.with_headers(headers);
        if let Some(effect) = revocation::origin_revoked_user(&user_id, cx.now) {
            revoke::apply(cx, &[effect]).await;
        }
    }

    if let (Some(revoking), Some((caller, target_sid))) = (revoking, before) {
        if revocation::confirmed(response.status_code()) {
            let effects =
                revocation::effects(&revoking, caller.as_ref(), target_sid.as_deref(), cx.now);
            revoke::apply(cx, &effects).await;
        }
    }
    Ok(response)
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
    let caller = revoke::caller(cx, &credential).await;
    let target_sid = match (revoking, &caller.session) {
        (Revocation::SessionByToken(token), Some(session)) => {
            revoke::session_id_of_token(cx, &credential, token, &session.user_id).await
        }
        _ => None,
    };
    (Some(caller), target_sid)
}
