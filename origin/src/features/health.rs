//! Liveness and readiness: `GET /api/auth/ok` (Better Auth's), and outside the API
//! `GET /healthz` and `GET /readyz` (mounted by [`crate::app::router`]).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Feature;
use crate::app::AppState;
use crate::http::error::ApiError;

/// `GET /ok`.
pub const FEATURE: Feature = Feature {
    name: "health",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

fn routes(_: &AppState) -> Router<AppState> {
    Router::new().route("/ok", get(ok))
}

/// `GET /api/auth/ok` and `/healthz`: liveness, as Better Auth answers it.
pub async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `GET /readyz`: 200 when the database answers, else 503.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.db().ping().await {
        Ok(()) => Json(json!({ "ok": true, "database": state.db().dialect() })).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}
