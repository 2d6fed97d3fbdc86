//! `POST /request-password-reset`, `GET /reset-password/{token}`, `POST /reset-password`:
//! the API over [`crate::auth::password_reset`], which has the token's rules.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::json;

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::password_reset::{self, reset_identifier};
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{is_valid_email, optional_str, required_str, RawBody};
use crate::http::redirect::{found, with_query};
use crate::rate_limit::{PathRule, Rule};

/// Password reset by mailed link.
pub const FEATURE: Feature = Feature {
    name: "password-reset",
    routes,
    origin_checked: true,
    rate_limits: &[PathRule {
        prefix: "/request-password-reset",
        rule: Rule::MAIL,
    }],
};

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&REQUEST_PASSWORD_RESET, post(request_password_reset))
        .route(&RESET_PASSWORD_LINK, get(reset_password_callback))
        .route(&RESET_PASSWORD, post(reset_password))
}

static REQUEST_PASSWORD_RESET: Endpoint = Endpoint {
    description: "The answer is the same whether or not the address is registered (it is \
                  looked up after answering).",
    body: Some(&[
        Field::required("email", Type::String, "The account's address"),
        Field::optional(
            "redirectTo",
            Type::String,
            "Where the mailed link sends the browser, with `?token=`",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/request-password-reset",
        "Mail a password reset link",
        Caller::Anyone,
        &[
            Reply::ok("Accepted", Shape::Named("StatusMessage")),
            INVALID_INPUT,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static RESET_PASSWORD_LINK: Endpoint = Endpoint {
    description: "A live token redirects to `callbackURL?token=`; anything else to \
                  `?error=INVALID_TOKEN` (to `/error` without a callback). The token is not \
                  consumed here.",
    query: &[Field::optional(
        "callbackURL",
        Type::String,
        "Where to send the browser",
    )],
    ..Endpoint::new(
        Method::Get,
        "/reset-password/{token}",
        "Follow a mailed password reset link",
        Caller::Anyone,
        &[
            Reply::redirect(302, "On to the callback, with `token` or `error`"),
            UNTRUSTED_ORIGIN,
        ],
    )
};

static RESET_PASSWORD: Endpoint = Endpoint {
    description: "Consumes the token; by default every session of the user ends \
                  (`EDGEAUTH_REVOKE_SESSIONS_ON_RESET`).",
    query: &[Field::optional(
        "token",
        Type::String,
        "The token, when not in the body",
    )],
    body: Some(&[
        Field::required(
            "newPassword",
            Type::String,
            "The new password (8 to 128 characters)",
        ),
        Field::optional("token", Type::String, "The mailed token"),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/reset-password",
        "Set a new password with a mailed token",
        Caller::Anyone,
        &[
            Reply::ok("Done", Shape::Named("Status")),
            Reply::error(400, "Invalid input, or an invalid or expired token"),
            UNTRUSTED_ORIGIN,
        ],
    )
};

/// `POST /request-password-reset {email, redirectTo?}`: always the same answer, sent once
/// the request is recorded in the mail outbox and before anything about the address is
/// looked up; the outbox worker writes the token and the mail when the address is
/// registered.
pub async fn request_password_reset(
    State(state): State<AppState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    if !state.mailer().enabled() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::RESET_PASSWORD_ISNT_ENABLED,
        ));
    }
    let body = body.object(false, false)?;
    let email = required_str(&body, "email")?;
    let redirect_to = optional_str(&body, "redirectTo")?;
    if let Some(target) = redirect_to {
        if state.check_redirect(target).is_err() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                messages::INVALID_REDIRECT_URL,
            ));
        }
    }
    if !is_valid_email(email) {
        return Err(ApiError::validation("[body.email] Invalid email address"));
    }
    password_reset::request(
        &state,
        &email.to_lowercase(),
        redirect_to.unwrap_or_default(),
    )
    .await?;
    Ok(Json(json!({
        "status": true,
        "message": "If this email exists in our system, check your email for the reset link"
    }))
    .into_response())
}

/// A callback target as an absolute URL (Better Auth resolves it against the base URL).
fn absolute(state: &AppState, target: &str) -> String {
    if target.starts_with('/') {
        format!("{}{target}", state.config().base_origin)
    } else {
        target.to_string()
    }
}

/// `GET /reset-password/{token}?callbackURL=`: the mailed link. A live token redirects to
/// the callback with `?token=`; anything else with `?error=INVALID_TOKEN` (to `/error`
/// when there is no callback). The token is not consumed here.
pub async fn reset_password_callback(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let callback = query
        .get("callbackURL")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let Some(callback) = callback else {
        return Ok(found(&state.auth_url("/error?error=INVALID_TOKEN")));
    };
    state.check_redirect(callback)?;
    let callback = absolute(&state, callback);
    let live = match state
        .db()
        .find_verification(&reset_identifier(&token))
        .await?
    {
        Some(row) => row.expires_at > state.now(),
        None => false,
    };
    Ok(if live {
        found(&with_query(&callback, "token", &token))
    } else {
        found(&with_query(&callback, "error", "INVALID_TOKEN"))
    })
}

/// `POST /reset-password {newPassword, token?}` (or `?token=`): sets the password and
/// consumes the token; with `EDGEAUTH_REVOKE_SESSIONS_ON_RESET` (the default) every
/// session of the user ends, at the edge too.
pub async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let new_password = required_str(&body, "newPassword")?;
    let token = match optional_str(&body, "token")? {
        Some(token) if !token.is_empty() => Some(token),
        _ => query.get("token").map(String::as_str),
    };
    let invalid = || ApiError::new(StatusCode::BAD_REQUEST, messages::INVALID_TOKEN);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(invalid());
    };
    let reset = password_reset::redeem(&state, token, new_password).await?;
    let mut response = Json(json!({ "status": true })).into_response();
    if reset.sessions_ended {
        tell_edge_sessions_ended(&state, &headers, &reset.user_id, &mut response);
    }
    Ok(response)
}
