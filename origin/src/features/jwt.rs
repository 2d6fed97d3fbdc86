//! The JWT plugin: `GET /token` and `GET /jwks`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::json;

use super::endpoint::{ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, NO_SESSION};
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

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&TOKEN, get(token))
        .route(&JWKS, get(jwks))
}

static TOKEN: Endpoint = Endpoint {
    description: "EdDSA, Better Auth's JWT plugin's claims (the user's fields, `sub`, `iat`, \
                  `exp` 15 minutes on, `iss`, `aud`) and `sid`, the session's id.",
    ..Endpoint::new(
        Method::Get,
        "/token",
        "A JWT for the caller's session",
        Caller::Session,
        &[
            Reply::ok(
                "The JWT",
                Shape::Object(&[Field::required("token", Type::String, "The JWT")]),
            ),
            NO_SESSION,
        ],
    )
};

static JWKS: Endpoint = Endpoint::new(
    Method::Get,
    "/jwks",
    "The public keys the JWTs verify with",
    Caller::Anyone,
    &[Reply::ok(
        "A JWKS (RFC 7517) of Ed25519 keys",
        Shape::Object(&[Field::required(
            "keys",
            Type::Object,
            "The keys (an array of JWKs)",
        )]),
    )],
);

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
