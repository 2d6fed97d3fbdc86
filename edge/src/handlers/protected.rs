//! The application's paths: protected ones need a verified identity, public ones (and CORS
//! preflights) pass as they are.
//!
//! A request to a protected path that passes [`crate::runtime::authenticate`] goes to
//! `UPSTREAM_URL` + normalised path + query with the identity headers
//! ([`crate::decide::forward`]); one that does not gets the 401 (a 302 to sign in for a
//! browser navigation, [`crate::decide::error`]). Public paths go to the upstream the same
//! way, without identity headers. Either way every client-sent `x-edgeauth-*` header is
//! removed first, and the upstream's response comes back untouched.

use worker::{Request, Response};

use crate::decide::error::{EdgeError, Peer};
use crate::decide::forward::{join_url, upstream_headers};
use crate::decide::identity::Identity;
use crate::decide::route::RequestInfo;
use crate::runtime::authenticate::authenticate;
use crate::runtime::cx::Cx;
use crate::runtime::fetch::{build_request, request_headers, send, streamed_body, Body};

/// A protected path: authenticated, then forwarded with the identity.
pub async fn protected(request: Request, cx: &Cx<'_>, path: &str) -> Result<Response, EdgeError> {
    let header = |name: &str| request.headers().get(name).ok().flatten();
    let identity = authenticate(
        cx,
        header("authorization").as_deref(),
        header("cookie").as_deref(),
    )
    .await?;
    to_upstream(
        request,
        &cx.config.upstream_url,
        cx.info,
        path,
        Some(&identity),
    )
    .await
}

/// A public path (or a CORS preflight): forwarded without identity.
pub async fn public(
    request: Request,
    upstream_url: &str,
    info: &RequestInfo,
    path: &str,
) -> Result<Response, EdgeError> {
    to_upstream(request, upstream_url, info, path, None).await
}

/// Forwards `request` to the upstream at `path` (normalised) with `identity`.
async fn to_upstream(
    request: Request,
    upstream_url: &str,
    info: &RequestInfo,
    path: &str,
    identity: Option<&Identity>,
) -> Result<Response, EdgeError> {
    let headers = upstream_headers(&request_headers(&request), identity)?;
    let body: Body = streamed_body(&request);
    let url = join_url(upstream_url, &info.path_and_query(path));
    let outgoing = build_request(&info.method, &url, &headers, body)?;
    send(outgoing, Peer::Upstream).await
}
