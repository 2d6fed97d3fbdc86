//! The JWT plugin: `GET /token` and `GET /jwks`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use axum::Router;
use serde_json::json;

use super::Feature;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::session::CurrentSession;
use crate::keys;

/// The JWT plugin's endpoints.
pub const FEATURE: Feature = Feature {
    name: "jwt",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

fn routes(_: &AppState) -> Router<AppState> {
    Router::new()
        .route("/token", get(token))
        .route("/jwks", get(jwks))
}

/// `GET /token`: `{token}`, a JWT for the caller's session.
pub async fn token(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
) -> Result<Response, ApiError> {
    let now = state.now();
    let jwt = keys::mint(state.keys(), state.jwt_issuer(), &current.found, now).await?;
    Ok(Json(json!({ "token": jwt })).into_response())
}

/// `GET /jwks`: the public keys, in Better Auth's shape (a first key is created if needed).
pub async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jwks = state
        .keys()
        .jwks(state.now())
        .await
        .map_err(ApiError::from)?;
    Ok(Json(jwks.as_ref().clone()).into_response())
}
