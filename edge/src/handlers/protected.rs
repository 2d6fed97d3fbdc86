//! The application's paths: protected ones need a verified identity, public ones (and CORS
//! preflights) pass as they are.
//!
//! A request to a protected path that passes [`crate::runtime::authenticate`] goes to
//! `UPSTREAM_URL` + normalised path + query with the identity headers
//! ([`crate::decide::forward`]); one that does not gets the 401 (a 302 to sign in for a
//! browser navigation, [`crate::decide::error`]). Public paths go to the upstream the same
//! way, without identity headers. Either way every client-sent `x-edgeauth-*` header is
//! removed first, and the upstream's response comes back untouched.

use std::future::Future;

use worker::{web_sys, Request};

use crate::decide::error::{EdgeError, Peer};
use crate::decide::forward::{join_url, upstream_headers};
use crate::decide::route::RequestInfo;
use crate::runtime::authenticate::authenticate;
use crate::runtime::cx::Cx;
use crate::runtime::fetch::{
    build_web_request, request_headers, send_through, streamed_body, Body,
};

/// A protected path: authenticated, then forwarded with the identity (a refusal is the
/// error).
pub fn protected<'a>(
    request: Request,
    cx: &'a Cx<'a>,
    path: &'a str,
) -> impl Future<Output = Result<web_sys::Response, EdgeError>> + 'a {
    to_upstream(request, &cx.config.upstream_url, cx.info, path, Some(cx))
}

/// A public path (or a CORS preflight): forwarded without identity.
pub fn public<'a>(
    request: Request,
    upstream_url: &'a str,
    info: &'a RequestInfo,
    path: &'a str,
) -> impl Future<Output = Result<web_sys::Response, EdgeError>> + 'a {
    to_upstream(request, upstream_url, info, path, None)
}

/// Forwards `request` to the upstream at `path` (normalised); with `authenticate_in`, only
/// once [`authenticate`] established the identity, which goes along. One async function for
/// both kinds of path (the two above only name its cases), as before the handlers had a
/// module of their own: a nested state machine per case would cost bundle size.
///
/// The two credential headers are read on their own, before the rest: a refusal then costs
/// two reads out of the runtime however many headers the client sent. The upstream's
/// response object is returned as the runtime gave it.
async fn to_upstream(
    request: Request,
    upstream_url: &str,
    info: &RequestInfo,
    path: &str,
    authenticate_in: Option<&Cx<'_>>,
) -> Result<web_sys::Response, EdgeError> {
    let identity = match authenticate_in {
        Some(cx) => {
            let header = |name: &str| request.headers().get(name).ok().flatten();
            let identity = authenticate(
                cx,
                header("authorization").as_deref(),
                header("cookie").as_deref(),
            )
            .await?;
            Some(identity)
        }
        None => None,
    };
    let headers = upstream_headers(&request_headers(&request), identity.as_ref())?;
    let body: Body = streamed_body(&request);
    let url = join_url(upstream_url, &info.path_and_query(path));
    let outgoing = build_web_request(&info.method, &url, &headers, body)?;
    send_through(&outgoing, Peer::Upstream).await
}
