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
use serde_json::json;

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, NO_SESSION, UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::account::{self, deletion_identifier, Deletion};
use crate::config::DeleteUser;
use crate::http::cookies::CookieHeaders;
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{optional_str, RawBody};
use crate::http::extract::session::{CurrentSession, Lookup, MaybeSession};
use crate::http::redirect::found;

/// Account deletion, with the password, a fresh session, or a mailed link.
pub const FEATURE: Feature = Feature {
    name: "delete-user",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

/// With `EDGEAUTH_DELETE_USER=off` the routes do not exist: 404 with an empty body, Better
/// Auth's bare `APIError("NOT_FOUND")`.
fn routes(state: &AppState) -> ApiRoutes {
    if state.config().lifecycle.delete_user == DeleteUser::Off {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&DELETE_USER, post(delete_user))
        .route(&DELETE_USER_LINK, get(delete_user_callback))
}

static DELETE_USER: Endpoint = Endpoint {
    description: "With the password, or from a fresh session without it; with a token from \
                  the mailed link; or, with `EDGEAUTH_DELETE_USER=verify`, a confirmation link \
                  is mailed first. Every session of the user ends, at the edge too.",
    body: Some(&[
        Field::optional("password", Type::String, "The caller's password"),
        Field::optional("token", Type::String, "The token of a mailed deletion link"),
        Field::optional(
            "callbackURL",
            Type::String,
            "Where to send the browser afterwards",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/delete-user",
        "Delete the caller's account",
        Caller::Session,
        &[
            Reply::ok(
                "Deleted (`User deleted`), or a confirmation link was mailed \
                 (`Verification email sent`)",
                Shape::Named("SuccessMessage"),
            ),
            Reply::error(400, "Wrong password, or the session is not fresh enough"),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
            Reply::error(404, "The token is invalid or expired"),
        ],
    )
};

static DELETE_USER_LINK: Endpoint = Endpoint {
    description: "Followed while signed in as the same user: deletes the account, then \
                  redirects to `callbackURL` (or answers JSON).",
    query: &[
        Field::required("token", Type::String, "The mailed token"),
        Field::optional("callbackURL", Type::String, "Where to send the browser"),
    ],
    ..Endpoint::new(
        Method::Get,
        "/delete-user/callback",
        "Follow a mailed account deletion link",
        Caller::Session,
        &[
            Reply::ok("Deleted", Shape::Named("SuccessMessage")),
            Reply::redirect(302, "Deleted: on to `callbackURL`"),
            UNTRUSTED_ORIGIN,
            Reply::error(404, "No session, or the token is invalid or expired"),
        ],
    )
};

/// The answer to a deletion: cookies cleared, the edge told, then a redirect to `callback`
/// or `{"success": true, "message": "User deleted"}`.
fn deleted(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    callback: Option<&str>,
) -> Response {
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
    let body = body.object(false, true)?;
    let password = optional_str(&body, "password")?.filter(|p| !p.is_empty());
    let token = optional_str(&body, "token")?.filter(|t| !t.is_empty());
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    let user_id = &current.found.user.id;
    if let Some(token) = token {
        if let Some(password) = password {
            account::check_password(&state, user_id, password).await?;
        }
        return if state
            .db()
            .delete_user(user_id, Some(&deletion_identifier(token)), state.now())
            .await?
        {
            tracing::info!(user = %user_id, "user deleted");
            Ok(deleted(&state, &headers, user_id, None))
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                messages::INVALID_TOKEN,
            ))
        };
    }
    match account::delete(&state, &current, password, callback).await? {
        Deletion::Deleted => Ok(deleted(&state, &headers, user_id, None)),
        Deletion::LinkSent => Ok(Json(
            json!({ "success": true, "message": "Verification email sent" }),
        )
        .into_response()),
    }
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
            .delete_user(user_id, Some(&deletion_identifier(token)), now)
            .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            messages::INVALID_TOKEN,
        ));
    }
    tracing::info!(user = %user_id, "user deleted");
    Ok(deleted(&state, &headers, user_id, callback))
}
