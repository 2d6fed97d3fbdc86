//! A user's sign-in methods (Better Auth's core account endpoints), served when a provider
//! is configured (`EDGEAUTH_GENERIC_OAUTH`):
//!
//! | endpoint | who | body | answer |
//! |---|---|---|---|
//! | `GET /list-accounts` | session | | `[{id, providerId, accountId, userId, createdAt, updatedAt, scopes}]` |
//! | `POST /unlink-account` | fresh session | `{providerId, accountId?}` | `{status: true}` |
//!
//! Unlinking the last account is refused (400 `You can't unlink your last account`), even
//! under concurrent requests ([`crate::db::Db::unlink_account`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::passkey::require_fresh;
use super::Feature;
use crate::app::AppState;
use crate::auth::oauth::messages;
use crate::db::{js_date, Unlink};
use crate::http::error::ApiError;
use crate::http::extract::body::{optional_str, required_str, RawBody};
use crate::http::extract::session::CurrentSession;

/// The account endpoints.
pub const FEATURE: Feature = Feature {
    name: "accounts",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

fn routes(state: &AppState) -> Router<AppState> {
    if state.config().oauth.generic.is_empty() {
        return Router::new();
    }
    Router::new()
        .route("/list-accounts", get(list_accounts))
        .route("/unlink-account", post(unlink_account))
}

/// `GET /list-accounts`: the user's accounts, tokens and password never included, `scope`
/// as the list `scopes`.
async fn list_accounts(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
) -> Result<Response, ApiError> {
    let rows = state.db().list_accounts(&current.found.user.id).await?;
    let accounts: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let scopes: Vec<&str> = row
                .scope
                .as_deref()
                .map(|s| s.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            json!({
                "id": row.id,
                "providerId": row.provider_id,
                "accountId": row.account_id,
                "userId": row.user_id,
                "createdAt": js_date(&row.created_at),
                "updatedAt": js_date(&row.updated_at),
                "scopes": scopes,
            })
        })
        .collect();
    Ok(Json(accounts).into_response())
}

/// `POST /unlink-account {providerId, accountId?}`.
async fn unlink_account(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    require_fresh(&state, &current)?;
    let body = body.object(false, false)?;
    let provider_id = required_str(&body, "providerId")?;
    let account_id = optional_str(&body, "accountId")?;
    let user_id = &current.found.user.id;
    match state
        .db()
        .unlink_account(user_id, provider_id, account_id)
        .await?
    {
        Unlink::Unlinked => {
            tracing::info!(user = %user_id, provider = %provider_id, "account unlinked");
            Ok(Json(json!({ "status": true })).into_response())
        }
        Unlink::LastAccount => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::FAILED_TO_UNLINK_LAST_ACCOUNT,
        )),
        Unlink::NotFound => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::ACCOUNT_NOT_FOUND,
        )),
    }
}
