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
use crate::auth::issue::new_session;
use crate::http::cookies::CookieHeaders;
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{optional_bool, required_str, RawBody};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::CurrentSession;
use crate::password::Verified;
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
pub async fn update_user(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let now = state.now();
    let body = match body.object(false, false) {
        Ok(body) => body,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                messages::BODY_MUST_BE_AN_OBJECT,
            ))
        }
    };
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
    let now = state.now();
    let body = body.object(false, false)?;
    let new_password = required_str(&body, "newPassword")?;
    let current_password = required_str(&body, "currentPassword")?;
    let revoke_others = optional_bool(&body, "revokeOtherSessions")?.unwrap_or(false);
    state.password_policy().check_new(new_password)?;

    let user = &current.found.user;
    let account = state
        .db()
        .find_credential_account(&user.id)
        .await?
        .filter(|a| a.password.is_some())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                messages::CREDENTIAL_ACCOUNT_NOT_FOUND,
            )
        })?;
    let stored = account.password.clone().unwrap_or_default();
    if let Verified::NoMatch = state
        .passwords()
        .verify(current_password.to_string(), stored)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::INVALID_PASSWORD,
        ));
    }
    let hash = state.passwords().hash(new_password.to_string()).await?;
    state
        .db()
        .set_account_password(&account.id, &hash, now)
        .await?;
    tracing::info!(user = %user.id, revoke_others, "password changed");

    if !revoke_others {
        return Ok(Json(json!({ "token": null, "user": user })).into_response());
    }
    state.db().delete_user_sessions(&user.id, None).await?;
    let session = new_session(
        state.config(),
        &client,
        &user.id,
        !current.dont_remember,
        now,
    );
    state.db().create_session(&session).await?;
    let cookies = CookieHeaders::session(
        &state,
        &session.token,
        session.expires_at,
        now,
        current.dont_remember,
    )?;
    Ok(cookies.apply(Json(json!({ "token": session.token, "user": user }))))
}
