//! The JWT plugin: `GET /token` and `GET /jwks`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::session;
use super::AppState;

/// `GET /token`: `{token}`, a JWT for the caller's session.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = state.now();
    let current = session::require(&state, &headers, now).await?;
    let jwt = state.mint_jwt(&current.found, now).await?;
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
