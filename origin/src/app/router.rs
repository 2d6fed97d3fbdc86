//! The application router: every feature's routes under `/api/auth`, the health checks,
//! and the middleware stack around them all.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::timeout::TimeoutLayer;

use super::AppState;
use crate::features::{health, FEATURES};
use crate::http::extract::body::MAX_BODY_BYTES;
use crate::http::middleware::{origin_check, path, rate_limit, trace};
use crate::http::{BASE_PATH, REQUEST_TIMEOUT};
use crate::metrics;
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
    // Around everything, so refusals by the middleware (429, 408, 400) are counted too.
    let app = if metrics::enabled() {
        app.layer(axum::middleware::from_fn(metrics::http::track))
    } else {
        app
    };
    trace::layer(app).with_state(state)
}

/// The metrics listener's application (`EDGEAUTH_METRICS_LISTEN`): `GET /metrics`, the
/// Prometheus text exposition, the pools and the signing key sampled at each scrape; every
/// other path 404. Never merged into [`router`]: the main listener does not serve it.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    // The outbox is shared by every process on the database: its count, not this process's
    // queue, says how much mail waits. Read within readiness' budget, so that a slow or
    // unreachable database never holds the scrape (the gauge then keeps its last value).
    let mail_pending = tokio::time::timeout(
        crate::features::health::READY_BUDGET,
        state.db().count_pending_mail(),
    )
    .await
    .ok()
    .and_then(Result::ok);
    let passwords = state.passwords();
    let pool = state.db().pool_stats();
    let sample = metrics::Sample {
        hash_busy: passwords.busy(),
        hash_queued: passwords.queued(),
        hash_slots: passwords.size(),
        db_open: pool.open,
        db_idle: pool.idle,
        db_max: pool.max,
        db_unreachable: state.db().marked_unreachable(),
        key_created_at: state.keys().signer_created_at(),
        mail_pending,
        now: state.now(),
    };
    match metrics::render(&sample) {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
