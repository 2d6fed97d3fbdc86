//! Liveness and readiness: `GET /api/auth/ok` (Better Auth's), and outside the API
//! `GET /healthz` and `GET /readyz` (mounted by [`crate::app::router`]).

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};

use super::endpoint::{ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type};
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

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new().route(&OK, get(ok))
}

static OK: Endpoint = Endpoint::new(
    Method::Get,
    "/ok",
    "Liveness",
    Caller::Anyone,
    &[Reply::ok(
        "The process runs",
        Shape::Object(&[Field::required("ok", Type::Boolean, "true")]),
    )],
);

/// `GET /api/auth/ok` and `/healthz`: liveness, as Better Auth answers it.
pub async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// How long `/readyz` waits for the database's answer: well inside the 1 s a readiness
/// probe commonly allows (Kubernetes' default `timeoutSeconds`), where the pool alone would
/// wait its full acquire timeout while the database is down.
pub const READY_BUDGET: Duration = Duration::from_millis(500);

/// `GET /readyz`: 200 when the database answers within [`READY_BUDGET`], else 503 (at once
/// while it is marked unreachable: see `db::outage`).
pub async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_BUDGET, state.db().ping()).await {
        Ok(Ok(())) => Json(json!({ "ok": true, "database": state.db().dialect() })).into_response(),
        Ok(Err(e)) => ApiError::unavailable(e).into_response(),
        Err(_) => ApiError::unavailable(format!(
            "database unavailable: no answer within {} ms",
            READY_BUDGET.as_millis()
        ))
        .into_response(),
    }
}
