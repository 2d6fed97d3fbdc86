//! A user's sign-in methods (Better Auth's core account endpoints), served when a provider
//! is configured (`EDGEAUTH_GENERIC_OAUTH`):
//!
//! | endpoint | who | body | answer |
//! |---|---|---|---|
//! | `GET /list-accounts` | session | | `[{id, providerId, accountId, userId, createdAt, updatedAt, scopes}]` |
//! | `POST /unlink-account` | fresh session | `{providerId, accountId?}` | `{status: true}` |
//! | `POST /get-access-token` | session | `{providerId, accountId?}` | `{accessToken, accessTokenExpiresAt?, scopes, idToken?}`, refreshed first when it expires within 5 s |
//! | `POST /refresh-token` | session | `{providerId, accountId?}` | `{accessToken, refreshToken, accessTokenExpiresAt, refreshTokenExpiresAt, scope, idToken, providerId, accountId}` |
//! | `GET /account-info?accountId=` | session | | `{user: {id, name, email, image, emailVerified}, data}` from the provider's user-info endpoint |
//!
//! As in Better Auth, `accountId` of the token endpoints is the account row's `id`; a
//! `userId` in the body is ignored (a request acts for its session's user only).
//!
//! Unlinking the last account is refused (400 `You can't unlink your last account`), even
//! under concurrent requests ([`crate::db::Db::unlink_account`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::passkey::require_fresh;
use super::Feature;
use crate::app::AppState;
use crate::auth::oauth::flow::{self, Failure};
use crate::auth::oauth::messages;
use crate::config::GenericProvider;
use crate::db::{js_date, AccountRow, Unlink};
use crate::http::error::derive_code;
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

fn routes(state: &AppState) -> ApiRoutes {
    if !state.config().oauth.has_providers() {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&LIST_ACCOUNTS, get(list_accounts))
        .route(&UNLINK_ACCOUNT, post(unlink_account))
        .route(&GET_ACCESS_TOKEN, post(get_access_token))
        .route(&REFRESH_TOKEN, post(refresh_token))
        .route(&ACCOUNT_INFO, get(account_info))
}

const WHICH_ACCOUNT: &[Field] = &[
    Field::required("providerId", Type::String, "The provider's id"),
    Field::optional(
        "accountId",
        Type::String,
        "The account row's id, when the user has several accounts with the provider",
    ),
];

static LIST_ACCOUNTS: Endpoint = Endpoint::new(
    Method::Get,
    "/list-accounts",
    "The caller's sign-in methods",
    Caller::Session,
    &[
        Reply::ok(
            "Each account: id, providerId, accountId, userId, createdAt, updatedAt, scopes \
             (never a token or the password)",
            Shape::Empty,
        ),
        NO_SESSION,
    ],
);

static UNLINK_ACCOUNT: Endpoint = Endpoint {
    description: "The last way to sign in is never unlinked, even by concurrent requests.",
    body: Some(WHICH_ACCOUNT),
    ..Endpoint::new(
        Method::Post,
        "/unlink-account",
        "Remove a sign-in method (fresh session)",
        Caller::Session,
        &[
            Reply::ok(
                "Unlinked",
                Shape::Object(&[Field::required("status", Type::Boolean, "true")]),
            ),
            Reply::error(400, "The last account, no such account, or invalid input"),
            NO_SESSION,
            Reply::error(
                403,
                "The session is not fresh, or the origin is not trusted",
            ),
        ],
    )
};

static GET_ACCESS_TOKEN: Endpoint = Endpoint {
    description: "Refreshed first when it expires within 5 seconds.",
    body: Some(WHICH_ACCOUNT),
    ..Endpoint::new(
        Method::Post,
        "/get-access-token",
        "The provider's access token for the caller's account",
        Caller::Session,
        &[
            Reply::ok(
                "accessToken, accessTokenExpiresAt, scopes, idToken",
                Shape::Object(&[
                    Field::required("accessToken", Type::String, "The access token"),
                    Field::optional("accessTokenExpiresAt", Type::String, "When it expires"),
                    Field::required("scopes", Type::Strings, "The granted scopes"),
                    Field::optional("idToken", Type::String, "The ID token"),
                ]),
            ),
            Reply::error(400, "No such account, no token, or invalid input"),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static REFRESH_TOKEN: Endpoint = Endpoint {
    body: Some(WHICH_ACCOUNT),
    ..Endpoint::new(
        Method::Post,
        "/refresh-token",
        "Refresh the provider's tokens for the caller's account",
        Caller::Session,
        &[
            Reply::ok(
                "The new tokens, stored sealed",
                Shape::Object(&[
                    Field::required("accessToken", Type::String, "The access token"),
                    Field::optional("refreshToken", Type::String, "The refresh token"),
                    Field::optional("accessTokenExpiresAt", Type::String, "When it expires"),
                    Field::optional(
                        "refreshTokenExpiresAt",
                        Type::String,
                        "When the refresh token expires",
                    ),
                    Field::optional("scope", Type::String, "The granted scopes"),
                    Field::optional("idToken", Type::String, "The ID token"),
                    Field::required("providerId", Type::String, "The provider's id"),
                    Field::required("accountId", Type::String, "The provider's subject"),
                ]),
            ),
            INVALID_INPUT,
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static ACCOUNT_INFO: Endpoint = Endpoint {
    query: &[Field::required(
        "accountId",
        Type::String,
        "The account row's id (the caller's own)",
    )],
    ..Endpoint::new(
        Method::Get,
        "/account-info",
        "What the provider says about the caller's account (its user-info endpoint)",
        Caller::Session,
        &[
            Reply::ok(
                "user (id, name, email, image, emailVerified) and the provider's data",
                Shape::Object(&[
                    Field::required("user", Type::Object, "The mapped profile"),
                    Field::required("data", Type::Object, "The provider's answer"),
                ]),
            ),
            Reply::error(400, "No such account, or invalid input"),
            NO_SESSION,
        ],
    )
};

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

fn bad_request(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// The provider and the session user's account of it a token request names.
async fn token_account<'s>(
    state: &'s AppState,
    current: &crate::http::extract::session::Current,
    body: &serde_json::Map<String, Value>,
) -> Result<(&'s GenericProvider, AccountRow), ApiError> {
    let provider_id = required_str(body, "providerId")?;
    let row_id = optional_str(body, "accountId")?;
    let Some(provider) = state.config().oauth.provider(provider_id) else {
        let message = format!("Provider {provider_id} is not supported.");
        return Err(ApiError::with_code(
            StatusCode::BAD_REQUEST,
            derive_code(&message),
            message,
        ));
    };
    let account = state
        .db()
        .list_accounts(&current.found.user.id)
        .await?
        .into_iter()
        .find(|a| a.provider_id == provider_id && row_id.is_none_or(|id| id == a.id))
        .ok_or_else(|| bad_request(messages::ACCOUNT_NOT_FOUND))?;
    Ok((provider, account))
}

fn scopes_of(scope: Option<&str>) -> Vec<&str> {
    scope
        .map(|s| s.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// A usable access token of `account`: the stored one, or a refreshed one when it expires
/// within 5 seconds and a refresh token is stored; with its expiry and scopes.
async fn valid_access_token(
    state: &AppState,
    provider: &GenericProvider,
    account: &AccountRow,
) -> Result<AccessToken, ApiError> {
    let failed = || bad_request(messages::FAILED_TO_GET_A_VALID_ACCESS_TOKEN);
    let expiring = account
        .access_token_expires_at
        .is_some_and(|at| at - state.now() < chrono::Duration::seconds(5));
    let stored_refresh = account
        .refresh_token
        .as_deref()
        .and_then(|t| flow::open_token(state, t));
    Ok(match (expiring, stored_refresh) {
        (true, Some(refresh_token)) => {
            let refreshed = match flow::refresh(state, provider, account, &refresh_token).await {
                Ok(refreshed) => refreshed,
                Err(Failure::Redirect(_)) => return Err(failed()),
                Err(Failure::Api(e)) => return Err(e),
            };
            (
                refreshed.access_token,
                refreshed.access_token_expires_at,
                refreshed.scope,
            )
        }
        _ => (
            account
                .access_token
                .as_deref()
                .and_then(|t| flow::open_token(state, t))
                .ok_or_else(failed)?,
            account.access_token_expires_at,
            account.scope.clone(),
        ),
    })
}

/// An access token, when it expires, and the scopes granted (comma-joined).
type AccessToken = (
    String,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<String>,
);

/// `POST /get-access-token {providerId, accountId?}`.
async fn get_access_token(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let (provider, account) = token_account(&state, &current, &body).await?;
    let (access_token, expires_at, scope) = valid_access_token(&state, provider, &account).await?;
    let mut answer = serde_json::Map::new();
    answer.insert("accessToken".into(), json!(access_token));
    if let Some(at) = expires_at {
        answer.insert("accessTokenExpiresAt".into(), json!(js_date(&at)));
    }
    answer.insert("scopes".into(), json!(scopes_of(scope.as_deref())));
    if let Some(id_token) = &account.id_token {
        answer.insert("idToken".into(), json!(id_token));
    }
    Ok(Json(Value::Object(answer)).into_response())
}

/// `POST /refresh-token {providerId, accountId?}`.
async fn refresh_token(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let (provider, account) = token_account(&state, &current, &body).await?;
    let refresh_token = account
        .refresh_token
        .as_deref()
        .and_then(|t| flow::open_token(&state, t))
        .ok_or_else(|| bad_request(messages::REFRESH_TOKEN_NOT_FOUND))?;
    let refreshed = match flow::refresh(&state, provider, &account, &refresh_token).await {
        Ok(refreshed) => refreshed,
        Err(Failure::Redirect(_)) => {
            return Err(bad_request(messages::FAILED_TO_REFRESH_ACCESS_TOKEN))
        }
        Err(Failure::Api(e)) => return Err(e),
    };
    Ok(Json(json!({
        "accessToken": refreshed.access_token,
        "refreshToken": refreshed.refresh_token,
        "accessTokenExpiresAt": refreshed.access_token_expires_at.as_ref().map(js_date),
        "refreshTokenExpiresAt": refreshed.refresh_token_expires_at.as_ref().map(js_date),
        "scope": refreshed.scope,
        "idToken": account.id_token,
        "providerId": account.provider_id,
        "accountId": account.account_id,
    }))
    .into_response())
}

/// `GET /account-info?accountId=`: what the provider says about the user's account with this
/// `accountId` (the provider's subject; the user's own accounts only), from its user-info
/// endpoint with a valid access token.
async fn account_info(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let not_found = || bad_request(messages::ACCOUNT_NOT_FOUND);
    let account_id = query.get("accountId").ok_or_else(not_found)?;
    let account = state
        .db()
        .list_accounts(&current.found.user.id)
        .await?
        .into_iter()
        .find(|a| &a.account_id == account_id && a.provider_id != "credential")
        .ok_or_else(not_found)?;
    let provider = state
        .config()
        .oauth
        .provider(&account.provider_id)
        .ok_or_else(not_found)?;
    let (access_token, _, _) = valid_access_token(&state, provider, &account).await?;
    let failed = || bad_request(messages::FAILED_TO_GET_USER_INFO);
    let resolved = state
        .oauth()
        .resolve(provider, state.now())
        .await
        .map_err(|_| failed())?;
    if provider.kind.is_social() {
        // Better Auth's getUserInfo of the built-in provider: the user-info endpoint's answer,
        // or for Google, Microsoft and Apple the stored ID token's claims.
        let data = match resolved.user_info {
            Some(url) => match state
                .oauth()
                .http()
                .get_json(&url, Some(&access_token))
                .await
            {
                Ok(Value::Object(data)) => data,
                _ => return Err(failed()),
            },
            None => account
                .id_token
                .as_deref()
                .and_then(flow::stored_claims)
                .ok_or_else(failed)?,
        };
        let user =
            flow::account_profile(&state, provider, &access_token, &data, &account.account_id)
                .await
                .map_err(|_| failed())?;
        return Ok(Json(json!({ "user": user, "data": data })).into_response());
    }
    let url = resolved.user_info.ok_or_else(failed)?;
    let data = state
        .oauth()
        .http()
        .get_json(&url, Some(&access_token))
        .await
        .map_err(|_| failed())?;
    let text = |name: &str| data.get(name).and_then(Value::as_str);
    let user = json!({
        "id": text("sub").map(str::to_owned).unwrap_or_else(|| account.account_id.clone()),
        "name": text("name"),
        "email": text("email"),
        "image": text("picture"),
        "emailVerified": data.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
    });
    Ok(Json(json!({ "user": user, "data": data })).into_response())
}
