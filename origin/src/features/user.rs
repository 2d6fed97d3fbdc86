//! `POST /update-user`, `POST /change-password`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::account;
use crate::db::FieldAction;
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

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&UPDATE_USER, post(update_user))
        .route(&CHANGE_PASSWORD, post(change_password))
}

static UPDATE_USER: Endpoint = Endpoint {
    description: "`email` cannot be changed here (see `/change-email`). The user's \
                  `additionalFields` declared in `EDGEAUTH_SCHEMA` with `input` on are taken \
                  from the body too.",
    body: Some(&[
        Field::optional(
            "name",
            Type::String,
            "Display name (at most 256 characters)",
        ),
        Field::optional("image", Type::String, "Image URL, or null to remove it"),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/update-user",
        "Change the caller's name or image",
        Caller::Session,
        &[
            Reply::ok(
                "Done; the session cookie is set again",
                Shape::Named("Status"),
            ),
            INVALID_INPUT,
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static CHANGE_PASSWORD: Endpoint = Endpoint {
    description: "With `revokeOtherSessions`, every session ends and a new one replaces the \
                  caller's (its token is returned and set as the cookie).",
    body: Some(&[
        Field::required("currentPassword", Type::String, "The password now"),
        Field::required(
            "newPassword",
            Type::String,
            "The new password (8 to 128 characters)",
        ),
        Field::optional(
            "revokeOtherSessions",
            Type::Boolean,
            "End every other session",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/change-password",
        "Change the caller's password",
        Caller::Session,
        &[
            Reply::ok(
                "Changed: the new session's token (null when none was made) and the user",
                Shape::Named("TokenAndUser"),
            ),
            Reply::error(
                400,
                "The current password is wrong, or the new one is refused",
            ),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

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
    // `user.additionalFields`: the ones with `input` on (Better Auth's `parseUserInput`).
    let fields = state
        .db()
        .schema()
        .parse_user_input(&body, FieldAction::Update)
        .map_err(|e| ApiError::field(e, FieldAction::Update))?;
    if name.is_none() && image.is_none() && fields.values.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::NO_FIELDS_TO_UPDATE,
        ));
    }
    let found = &current.found;
    state
        .db()
        .update_user(&found.user.id, name, image, &fields.values, now)
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
