//! The application router: every feature's routes under `/api/auth`, the health checks,
//! and the middleware stack around them all.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tower_http::timeout::TimeoutLayer;

use super::AppState;
use crate::features::{health, FEATURES};
use crate::http::extract::body::MAX_BODY_BYTES;
use crate::http::middleware::{origin_check, path, rate_limit, trace};
use crate::http::{BASE_PATH, REQUEST_TIMEOUT};
use crate::pages;

/// The application: the features' routes under [`BASE_PATH`] (behind the CSRF origin
/// check unless a feature opts out), the hosted pages under their path (with their own
/// forgery checks), `/healthz` and `/readyz`, and around everything, from
/// the outside in: request ids and the access log, the request timeout, the body limit, the
/// refusal of ambiguous paths (and of queries holding NUL), and the rate limiter (outside the router's matching, so it
/// also counts paths the router refuses).
pub fn router(state: AppState) -> Router {
    let (checked, unchecked) = FEATURES.iter().fold(
        (Router::new(), Router::new()),
        |(checked, unchecked), feature| {
            let (routes, _) = (feature.routes)(&state).into_parts();
            if feature.origin_checked {
                (checked.merge(routes), unchecked)
            } else {
                (checked, unchecked.merge(routes))
            }
        },
    );
    let api = checked
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin_check::check,
        ))
        .merge(unchecked);
    let app = Router::new().nest(BASE_PATH, api);
    let app = if state.config().pages.enabled {
        app.nest(&state.config().pages.path, pages::router())
    } else {
        app
    };
    let app = app
        .route("/healthz", get(health::ok))
        .route("/readyz", get(health::ready))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn(path::refuse_ambiguous))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    trace::layer(app).with_state(state)
}
