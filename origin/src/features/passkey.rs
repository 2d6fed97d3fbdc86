//! Passkeys' endpoints under `/passkey/` (`@better-auth/passkey` 1.4.22: same paths, bodies
//! and error messages), served when `EDGEAUTH_PASSKEY=on`. The rules are in
//! [`crate::auth::passkey::ceremony`].
//!
//! | endpoint | who | answer |
//! |---|---|---|
//! | `GET generate-register-options?authenticatorAttachment=&name=` | fresh session | creation options, challenge cookie |
//! | `POST verify-registration {response, name?}` | fresh session | the new `passkey` row |
//! | `GET generate-authenticate-options` | anyone (a session narrows the allow-list) | request options, challenge cookie |
//! | `POST verify-authentication {response}` | anyone | like a sign-in: `{redirect, token, user}` and the session cookie |
//! | `GET list-user-passkeys` | session | the user's rows |
//! | `POST delete-passkey {id}` | session | `{status: true}` |
//! | `POST update-passkey {id, name}` | session | `{passkey}` |

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::json;

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::passkey::ceremony::{self, messages};
use crate::auth::sign_in::{self, Completed};
use crate::http::cookies::{CookieHeaders, TRUST_DEVICE};
use crate::http::error::ApiError;
use crate::http::extract::body::{optional_str, required_str, RawBody};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::{Current, CurrentSession, Lookup, MaybeSession};
use crate::rate_limit::{PathRule, Rule};

/// Passkeys (`@better-auth/passkey`).
pub const FEATURE: Feature = Feature {
    name: "passkey",
    routes,
    origin_checked: true,
    // A passkey sign-in is a sign-in: the same budget as `/sign-in` (3 per 10 s).
    rate_limits: &[PathRule {
        prefix: "/passkey/verify-authentication",
        rule: Rule::STRICT,
    }],
};

fn routes(state: &AppState) -> ApiRoutes {
    if !state.config().passkey.enabled {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&GENERATE_REGISTER_OPTIONS, get(generate_register_options))
        .route(&VERIFY_REGISTRATION, post(verify_registration))
        .route(
            &GENERATE_AUTHENTICATE_OPTIONS,
            get(generate_authenticate_options),
        )
        .route(&VERIFY_AUTHENTICATION, post(verify_authentication))
        .route(&LIST_USER_PASSKEYS, get(list_user_passkeys))
        .route(&DELETE_PASSKEY, post(delete_passkey))
        .route(&UPDATE_PASSKEY, post(update_passkey))
}

const NOT_FRESH: Reply = Reply::error(
    403,
    "The session is not fresh, or the Origin is not trusted",
);

static GENERATE_REGISTER_OPTIONS: Endpoint = Endpoint {
    description: "Sets the challenge cookie (5 minutes).",
    query: &[
        Field::optional(
            "authenticatorAttachment",
            Type::String,
            "`platform` or `cross-platform`",
        ),
        Field::optional(
            "name",
            Type::String,
            "The user name the authenticator shows",
        ),
    ],
    ..Endpoint::new(
        Method::Get,
        "/passkey/generate-register-options",
        "WebAuthn creation options for a new passkey",
        Caller::Session,
        &[
            Reply::ok(
                "PublicKeyCredentialCreationOptions (simplewebauthn's JSON)",
                Shape::Named("WebAuthnOptions"),
            ),
            NO_SESSION,
            NOT_FRESH,
        ],
    )
};

static VERIFY_REGISTRATION: Endpoint = Endpoint {
    body: Some(&[
        Field::required(
            "response",
            Type::Object,
            "The authenticator's RegistrationResponseJSON",
        ),
        Field::optional("name", Type::String, "A name for the passkey"),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/passkey/verify-registration",
        "Register a passkey",
        Caller::Session,
        &[
            Reply::ok("The new passkey", Shape::Named("Passkey")),
            Reply::error(
                400,
                "The response does not verify, or the challenge is gone",
            ),
            NO_SESSION,
            NOT_FRESH,
        ],
    )
};

static GENERATE_AUTHENTICATE_OPTIONS: Endpoint = Endpoint {
    description: "A session narrows the allow-list to its passkeys. Sets the challenge cookie \
                  (5 minutes).",
    ..Endpoint::new(
        Method::Get,
        "/passkey/generate-authenticate-options",
        "WebAuthn request options for a passkey sign-in",
        Caller::MaybeSession,
        &[Reply::ok(
            "PublicKeyCredentialRequestOptions (simplewebauthn's JSON)",
            Shape::Named("WebAuthnOptions"),
        )],
    )
};

static VERIFY_AUTHENTICATION: Endpoint = Endpoint {
    body: Some(&[Field::required(
        "response",
        Type::Object,
        "The authenticator's AuthenticationResponseJSON",
    )]),
    ..Endpoint::new(
        Method::Post,
        "/passkey/verify-authentication",
        "Sign in with a passkey",
        Caller::Anyone,
        &[
            Reply::ok(
                "Signed in (the session cookie is set), or `{\"twoFactorRedirect\": true}`",
                Shape::Named("SignIn"),
            ),
            Reply::error(
                400,
                "The response does not verify, or the challenge is gone",
            ),
            Reply::error(401, "Unknown passkey"),
            UNTRUSTED_ORIGIN,
        ],
    )
};

static LIST_USER_PASSKEYS: Endpoint = Endpoint::new(
    Method::Get,
    "/passkey/list-user-passkeys",
    "The caller's passkeys",
    Caller::Session,
    &[
        Reply::ok("The passkeys", Shape::ListOf("Passkey")),
        NO_SESSION,
    ],
);

static DELETE_PASSKEY: Endpoint = Endpoint {
    body: Some(&[Field::required("id", Type::String, "The passkey's id")]),
    ..Endpoint::new(
        Method::Post,
        "/passkey/delete-passkey",
        "Remove one of the caller's passkeys",
        Caller::Session,
        &[
            Reply::ok("Removed", Shape::Named("Status")),
            INVALID_INPUT,
            NO_SESSION,
            UNTRUSTED_ORIGIN,
            Reply::error(404, "No such passkey of the caller's"),
        ],
    )
};

static UPDATE_PASSKEY: Endpoint = Endpoint {
    body: Some(&[
        Field::required("id", Type::String, "The passkey's id"),
        Field::required("name", Type::String, "Its new name"),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/passkey/update-passkey",
        "Rename one of the caller's passkeys",
        Caller::Session,
        &[
            Reply::ok(
                "Renamed",
                Shape::Object(&[Field::required("passkey", Type::Object, "The passkey")]),
            ),
            INVALID_INPUT,
            NO_SESSION,
            UNTRUSTED_ORIGIN,
            Reply::error(404, "No such passkey of the caller's"),
        ],
    )
};

/// Registering needs a session younger than `EDGEAUTH_SESSION_FRESH_AGE` (Better Auth's
/// `freshSessionMiddleware`): 403 `SESSION_IS_NOT_FRESH` otherwise.
pub fn require_fresh(state: &AppState, current: &Current) -> Result<(), ApiError> {
    if !current.is_fresh(state.config().lifecycle.session_fresh_age, state.now()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            messages::SESSION_NOT_FRESH,
        ));
    }
    Ok(())
}

/// `GET /passkey/generate-register-options`.
async fn generate_register_options(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_fresh(&state, &current)?;
    let (options, cookie) = ceremony::registration_options(
        &state,
        &current.found.user,
        query.get("name").map(String::as_str),
        query.get("authenticatorAttachment").map(String::as_str),
    )
    .await?;
    Ok(CookieHeaders::default()
        .with_cookies([cookie])
        .apply(Json(options)))
}

/// `POST /passkey/verify-registration {response, name?}`.
async fn verify_registration(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let response = body
        .get("response")
        .filter(|r| r.is_object())
        .ok_or_else(|| ApiError::validation("[body.response] Invalid input: expected object"))?;
    let name = optional_str(&body, "name")?;
    require_fresh(&state, &current)?;
    let row = ceremony::register(&state, &headers, &current.found.user, response, name).await?;
    Ok(CookieHeaders::default()
        .with_cookies([state.cookies().delete(ceremony::CHALLENGE_COOKIE)])
        .apply(Json(row)))
}

/// `GET /passkey/generate-authenticate-options`.
async fn generate_authenticate_options(
    State(state): State<AppState>,
    MaybeSession(found): MaybeSession,
) -> Result<Response, ApiError> {
    let user = match &found {
        Lookup::Live(current) => Some(&current.found.user),
        _ => None,
    };
    let (options, cookie) = ceremony::authentication_options(&state, user).await?;
    Ok(CookieHeaders::default()
        .with_cookies([cookie])
        .apply(Json(options)))
}

/// `POST /passkey/verify-authentication {response}`: a sign-in.
async fn verify_authentication(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let response = body
        .get("response")
        .filter(|r| r.is_object())
        .ok_or_else(|| ApiError::validation("[body.response] Invalid input: expected object"))?;
    let user = ceremony::authenticate(&state, &headers, response).await?;
    let authenticated = sign_in::Authenticated {
        attempted_as: user.email.clone(),
        user,
        method: sign_in::Method::Passkey,
    };
    let request = sign_in::Request {
        client: &client,
        remember: true,
        callback: None,
        trusted_device: state.cookies().get(&headers, TRUST_DEVICE),
    };
    let expire_challenge = state.cookies().delete(ceremony::CHALLENGE_COOKIE);
    match sign_in::complete(&state, authenticated, request).await? {
        Completed::SignedIn(user, session, extra) => {
            Ok(CookieHeaders::new_session(&state, &session, false)?
                .with_cookies(extra)
                .with_cookies([expire_challenge])
                .apply(Json(
                    json!({ "redirect": false, "token": session.token, "user": user }),
                )))
        }
        Completed::SecondFactor(cookies) => Ok(CookieHeaders::default()
            .with_cookies(cookies)
            .with_cookies([expire_challenge])
            .apply(Json(json!({ "twoFactorRedirect": true })))),
    }
}

/// `GET /passkey/list-user-passkeys`.
async fn list_user_passkeys(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
) -> Result<Response, ApiError> {
    let rows = state.db().list_passkeys(&current.found.user.id).await?;
    Ok(Json(rows).into_response())
}

/// `POST /passkey/delete-passkey {id}`.
async fn delete_passkey(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let id = required_str(&body, "id")?;
    ceremony::remove(&state, &current.found.user, id).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// `POST /passkey/update-passkey {id, name}`.
async fn update_passkey(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let id = required_str(&body, "id")?;
    let name = required_str(&body, "name")?;
    let row = ceremony::rename(&state, &current.found.user, id, name).await?;
    Ok(Json(json!({ "passkey": row })).into_response())
}

#[cfg(test)]
#[path = "passkey_http_tests.rs"]
mod http_tests;
