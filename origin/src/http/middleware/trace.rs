//! Request ids and the access log.

use axum::http::{HeaderName, Request};
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

/// Wraps `router` in request ids (`x-request-id`, echoed in the response, made up when the
/// caller sent none) and one span per request with the id, the method and the path without
/// its query string (query strings may carry tokens).
pub fn layer<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                // The path only: query strings may carry tokens.
                tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
            })
            // The access log: one INFO line per finished request, in the span above, e.g.
            // `INFO request{id=.. method=GET path=/api/auth/get-session}:
            // tower_http::trace::on_response: finished processing request latency=3 ms
            // status=200`.
            .on_response(
                DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(LatencyUnit::Millis),
            ),
        )
        .layer(SetRequestIdLayer::new(request_id, RandomRequestId))
}

/// Request ids: 16 random alphanumerics, unless the caller sent one.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        crate::ids::random_string(16)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}
