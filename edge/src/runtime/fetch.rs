//! Requests out of the worker: reading the client's headers and body, building an outgoing
//! request exactly as decided, and sending it. Fetches use `redirect: manual`, so a 3xx
//! reaches the client as the server sent it (every `Set-Cookie`, `set-auth-token`,
//! redirects).

use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, AbortController, Delay, Fetch, Request, Response};

use crate::decide::error::{EdgeError, Peer};
use crate::decide::forward::is_bodyless;

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
    build_web_request(method, url, headers, body).map(Request::from)
}

/// [`build_request`]'s request as the runtime's own object, for [`send_through`] (wrapping
/// it in a `worker::Request` would read its method, URL, headers and `cf` back out of
/// JavaScript for nothing).
pub fn build_web_request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Body,
) -> worker::Result<web_sys::Request> {
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
    Ok(web_sys::Request::new_with_str_and_init(url, &init)?)
}

/// Sends a request; a network failure is a 502 naming `peer`.
pub async fn send(request: Request, peer: Peer) -> Result<Response, EdgeError> {
    Fetch::Request(request)
        .send()
        .await
        .map_err(|e| EdgeError::BadGateway(peer, e.to_string()))
}

/// Sends a request, waiting at most `seconds` for the answer's status and headers (its body
/// then streams as it comes): a network failure is a 502 naming `peer`, silence a 504.
pub async fn send_within(
    request: Request,
    peer: Peer,
    seconds: u64,
) -> Result<Response, EdgeError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let call = pin!(fetch.send_with_signal(&signal));
    let timeout = pin!(Delay::from(Duration::from_secs(seconds)));
    match select(call, timeout).await {
        Either::Left((result, _)) => result.map_err(|e| EdgeError::BadGateway(peer, e.to_string())),
        Either::Right(((), _)) => {
            controller.abort();
            Err(EdgeError::GatewayTimeout(
                peer,
                format!("no answer within {seconds} s"),
            ))
        }
    }
}

/// Sends a request built by [`build_web_request`] and hands back the response object the
/// runtime gave, untouched: for passing a response through as it is, without converting it
/// to a `worker::Response` and back (which reads its status, headers, body and `cf` out of
/// JavaScript and builds a new `Response` from them). A network failure is a 502 naming
/// `peer`.
pub async fn send_through(
    request: &web_sys::Request,
    peer: Peer,
) -> Result<web_sys::Response, EdgeError> {
    let global: web_sys::WorkerGlobalScope = worker::js_sys::global().unchecked_into();
    let answer = JsFuture::from(global.fetch_with_request(request))
        .await
        .map_err(|e| EdgeError::BadGateway(peer, worker::Error::from(e).to_string()))?;
    answer
        .dyn_into::<web_sys::Response>()
        .map_err(|_| EdgeError::BadGateway(peer, "fetch answered something else".into()))
}

/// A mutable copy of `headers` without the names in `except` (every `Set-Cookie` kept).
pub fn copy_headers_except(
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
