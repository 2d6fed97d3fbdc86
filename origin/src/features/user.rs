//! `POST /update-user`, `POST /change-password`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use axum::Router;
use serde_json::{json, Value};

use super::Feature;
use crate::app::AppState;
use crate::auth::account;
use crate::http::cookies::CookieHeaders;
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{
    check_length, optional_bool, required_str, RawBody, MAX_IMAGE_LENGTH, MAX_NAME_LENGTH,
};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::CurrentSession;
use crate::rate_limit::{PathRule, Rule};

/// Profile updates and password changes.
pub const FEATURE: Feature = Feature {
    name: "user",
    routes,
    origin_checked: true,
    rate_limits: &[PathRule {
        prefix: "/change-password",
        rule: Rule::STRICT,
    }],
};

fn routes(_: &AppState) -> Router<AppState> {
    Router::new()
        .route("/update-user", post(update_user))
        .route("/change-password", post(change_password))
}

/// `POST /update-user {name?, image?}`: `{"status":true}`, and the session cookie again.
/// `name` and `image` are bounded as on sign-up.
pub async fn update_user(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let now = state.now();
    let body = body.object_or(
        false,
        false,
        ApiError::new(StatusCode::BAD_REQUEST, messages::BODY_MUST_BE_AN_OBJECT),
    )?;
    if body.contains_key("email") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::EMAIL_CAN_NOT_BE_UPDATED,
        ));
    }
    let name = match body.get("name") {
        None => None,
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => {
            return Err(ApiError::validation(
                "[body.name] Invalid input: expected string",
            ))
        }
    };
    let image = match body.get("image") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(image)) => Some(Some(image.as_str())),
        Some(_) => {
            return Err(ApiError::validation(
                "[body.image] Invalid input: expected string",
            ))
        }
    };
    if let Some(name) = name {
        check_length("name", name, MAX_NAME_LENGTH)?;
    }
    if let Some(Some(image)) = image {
        check_length("image", image, MAX_IMAGE_LENGTH)?;
    }
    if name.is_none() && image.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::NO_FIELDS_TO_UPDATE,
        ));
    }
    let found = &current.found;
    state
        .db()
        .update_user(&found.user.id, name, image, now)
        .await?;
    let cookies = CookieHeaders::session(
        &state,
        &found.session.token,
        found.session.expires_at,
        now,
        current.dont_remember,
    )?;
    Ok(cookies.apply(Json(json!({ "status": true }))))
}

/// `POST /change-password {newPassword, currentPassword, revokeOtherSessions?}`:
/// `{token, user}`; with `revokeOtherSessions` every session ends and a new one (whose token
/// is returned and set as the cookie) replaces the caller's.
pub async fn change_password(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    SessionClient(client): SessionClient,
    body: RawBody,
) -> Result<Response, ApiError> {
    let _now = state.now();
    let body = body.object(false, false)?;
    let new_password = required_str(&body, "newPassword")?;
    let current_password = required_str(&body, "currentPassword")?;
    let revoke_others = optional_bool(&body, "revokeOtherSessions")?.unwrap_or(false);
    let user = &current.found.user;
    let replaced = account::change_password(
        &state,
        &current,
        current_password,
        new_password,
        revoke_others,
        &client,
    )
    .await?;
    let Some(session) = replaced else {
        return Ok(Json(json!({ "token": null, "user": user })).into_response());
    };
    let cookies = CookieHeaders::new_session(&state, &session, current.dont_remember)?;
    Ok(cookies.apply(Json(json!({ "token": session.token, "user": user }))))
}
