//! `POST /delete-user` and `GET /delete-user/callback`: account deletion, with the password
//! or a fresh session, or confirmed by a mailed link (`EDGEAUTH_DELETE_USER`).
//!
//! Deletion removes the user, their accounts, sessions and tokens in one transaction
//! ([`crate::db::Db::delete_user`]), clears the caller's cookies, and tells the edge that
//! every session of the user ended.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use axum::Router;
use chrono::Duration;
use edgeauth_token::cookie::encode_uri_component;
use serde_json::json;

use super::Feature;
use crate::app::AppState;
use crate::auth::email_verification::mail_required;
use crate::config::DeleteUser;
use crate::http::cookies::CookieHeaders;
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{optional_str, RawBody};
use crate::http::extract::session::{CurrentSession, Lookup, MaybeSession};
use crate::http::redirect::found;
use crate::ids;
use crate::mail::{Mail, MailKind};
use crate::password::Verified;

/// Account deletion, with the password, a fresh session, or a mailed link.
pub const FEATURE: Feature = Feature {
    name: "delete-user",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

/// With `EDGEAUTH_DELETE_USER=off` the routes do not exist: 404 with an empty body, Better
/// Auth's bare `APIError("NOT_FOUND")`.
fn routes(state: &AppState) -> Router<AppState> {
    if state.config().lifecycle.delete_user == DeleteUser::Off {
        return Router::new();
    }
    Router::new()
        .route("/delete-user", post(delete_user))
        .route("/delete-user/callback", get(delete_user_callback))
}

/// The `identifier` prefix of deletion token rows.
const DELETE_PREFIX: &str = "delete-account-";

/// The `identifier` of a deletion token's row (Better Auth's `delete-account-<token>`).
fn identifier(token: &str) -> String {
    format!("{DELETE_PREFIX}{token}")
}

/// The answer to a deletion: cookies cleared, the edge told, then a redirect to `callback`
/// or `{"success": true, "message": "User deleted"}`.
fn deleted(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    callback: Option<&str>,
) -> Response {
    tracing::info!(user = %user_id, "user deleted");
    let cookies = CookieHeaders::clear(state);
    let mut response = match callback {
        Some(callback) => cookies.apply(found(callback)),
        None => cookies.apply(Json(json!({ "success": true, "message": "User deleted" }))),
    };
    tell_edge_sessions_ended(state, headers, user_id, &mut response);
    response
}

/// `POST /delete-user {password?, token?, callbackURL?}`.
pub async fn delete_user(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let now = state.now();
    let body = body.object(false, true)?;
    let password = optional_str(&body, "password")?.filter(|p| !p.is_empty());
    let token = optional_str(&body, "token")?.filter(|t| !t.is_empty());
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    let user = &current.found.user;
    if let Some(password) = password {
        let stored = state
            .db()
            .find_credential_account(&user.id)
            .await?
            .and_then(|a| a.password)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    messages::CREDENTIAL_ACCOUNT_NOT_FOUND,
                )
            })?;
        if let Verified::NoMatch = state
            .passwords()
            .verify(password.to_string(), stored)
            .await?
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                messages::INVALID_PASSWORD,
            ));
        }
    }
    if let Some(token) = token {
        return if state
            .db()
            .delete_user(&user.id, Some(&identifier(token)), now)
            .await?
        {
            Ok(deleted(&state, &headers, &user.id, None))
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                messages::INVALID_TOKEN,
            ))
        };
    }
    let lifecycle = &state.config().lifecycle;
    if lifecycle.delete_user == DeleteUser::Verify {
        mail_required(&state)?;
        let token = ids::generate_id();
        let lifetime = lifecycle.delete_user_expires_in;
        let expires_at = now + Duration::seconds(i64::try_from(lifetime).unwrap_or(86400));
        state
            .db()
            .replace_verification(
                DELETE_PREFIX,
                &identifier(&token),
                &user.id,
                expires_at,
                now,
            )
            .await?;
        let url = format!(
            "{}?token={token}&callbackURL={}",
            state.auth_url("/delete-user/callback"),
            encode_uri_component(callback.unwrap_or("/"))
        );
        state.mailer().send(Mail {
            kind: MailKind::DeleteAccount,
            to: user.email.clone(),
            user_id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            new_email: String::new(),
            url,
            expires_in: lifetime,
        });
        tracing::info!(user = %user.id, "account deletion link sent");
        return Ok(
            Json(json!({ "success": true, "message": "Verification email sent" })).into_response(),
        );
    }
    // Without the password, only a fresh session may delete (Better Auth means to check
    // this too, but a unit slip in 1.4 makes its check never fire).
    let fresh_age = lifecycle.session_fresh_age;
    let age = now - current.found.session.created_at;
    if password.is_none()
        && fresh_age != 0
        && age > Duration::seconds(i64::try_from(fresh_age).unwrap_or(i64::MAX))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::SESSION_EXPIRED,
        ));
    }
    if !state.db().delete_user(&user.id, None, now).await? {
        // A concurrent request deleted the account first: this session is gone with it.
        return Err(ApiError::unauthorized());
    }
    Ok(deleted(&state, &headers, &user.id, None))
}

/// `GET /delete-user/callback?token&callbackURL`: the mailed link, followed while signed in
/// as the same user. Deletes the account, then redirects to the callback (or answers
/// `{"success":true,"message":"User deleted"}`).
pub async fn delete_user_callback(
    State(state): State<AppState>,
    MaybeSession(session_lookup): MaybeSession,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let callback = query.get("callbackURL").map(String::as_str);
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    let now = state.now();
    let Lookup::Live(current) = session_lookup else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            messages::FAILED_TO_GET_USER_INFO,
        ));
    };
    let user_id = &current.found.user.id;
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    if token.is_empty()
        || !state
            .db()
            .delete_user(user_id, Some(&identifier(token)), now)
            .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            messages::INVALID_TOKEN,
        ));
    }
    Ok(deleted(&state, &headers, user_id, callback))
}
