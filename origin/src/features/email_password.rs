//! `POST /sign-up/email`, `POST /sign-in/email`, `POST /sign-out`.
//!
//! With `EDGEAUTH_REQUIRE_EMAIL_VERIFICATION`, sign-up answers `{"token": null, "user"}`
//! without a session and sign-in refuses an unverified address with 403
//! `EMAIL_NOT_VERIFIED` (after the password check, so the refusal reveals nothing to
//! someone without the password).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::json;

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::issue;
use crate::auth::sign_in::{self, Completed};
use crate::auth::sign_up::{self, NewAccount};
use crate::db::FieldAction;
use crate::http::cookies::{CookieHeaders, TRUST_DEVICE};
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{
    check_length, is_valid_email, optional_bool, optional_str, required_str, RawBody,
    MAX_IMAGE_LENGTH, MAX_NAME_LENGTH,
};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::MaybeSession;
use crate::rate_limit::{PathRule, Rule};

/// Email and password sign-up, sign-in and sign-out (Better Auth's `emailAndPassword`).
pub const FEATURE: Feature = Feature {
    name: "email-password",
    routes,
    origin_checked: true,
    rate_limits: &[
        PathRule {
            prefix: "/sign-in",
            rule: Rule::STRICT,
        },
        PathRule {
            prefix: "/sign-up",
            rule: Rule::STRICT,
        },
    ],
};

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&SIGN_UP, post(sign_up))
        .route(&SIGN_IN, post(sign_in))
        .route(&SIGN_OUT, post(sign_out))
}

static SIGN_UP: Endpoint = Endpoint {
    description: "Creates the user, its credential account and a session (no session when \
                  email verification is required). Also accepted as a form. The user's \
                  `additionalFields` declared in `EDGEAUTH_SCHEMA` with `input` on are taken \
                  from the body too.",
    body: Some(&[
        Field::required(
            "name",
            Type::String,
            "Display name (at most 256 characters)",
        ),
        Field::required("email", Type::String, "Email address"),
        Field::required("password", Type::String, "Password (8 to 128 characters)"),
        Field::optional("image", Type::String, "Image URL"),
        Field::optional(
            "rememberMe",
            Type::Boolean,
            "false: a browser-session cookie",
        ),
        Field::optional(
            "callbackURL",
            Type::String,
            "Where the verification link leads",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/sign-up/email",
        "Sign up with email and password",
        Caller::Anyone,
        &[
            Reply::ok(
                "Signed up: the session token (null without a session) and the user; the \
                 session cookie is set",
                Shape::Named("TokenAndUser"),
            ),
            INVALID_INPUT,
            UNTRUSTED_ORIGIN,
            Reply::error(422, "The email is taken, or the password is refused"),
        ],
    )
};

static SIGN_IN: Endpoint = Endpoint {
    description: "Checks the password and starts a session, or answers \
                  `{\"twoFactorRedirect\": true}` when the second factor is due. Also accepted \
                  as a form.",
    body: Some(&[
        Field::required("email", Type::String, "Email address"),
        Field::required("password", Type::String, "Password"),
        Field::optional(
            "rememberMe",
            Type::Boolean,
            "false: a browser-session cookie",
        ),
        Field::optional(
            "callbackURL",
            Type::String,
            "Echoed as `url`, and in `Location`",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/sign-in/email",
        "Sign in with email and password",
        Caller::Anyone,
        &[
            Reply::ok(
                "Signed in (`redirect`, `token`, `url`, `user`; the session cookie is set), \
                 or `{\"twoFactorRedirect\": true}`",
                Shape::Named("SignIn"),
            ),
            INVALID_INPUT,
            Reply::error(401, "Wrong email or password"),
            Reply::error(
                403,
                "The email is not verified, or the Origin is not trusted",
            ),
        ],
    )
};

static SIGN_OUT: Endpoint = Endpoint::new(
    Method::Post,
    "/sign-out",
    "Sign out: end the session and clear the cookies",
    Caller::MaybeSession,
    &[
        Reply::ok("Always", Shape::Named("Success")),
        UNTRUSTED_ORIGIN,
    ],
);

/// `POST /sign-up/email`: creates the user, its credential account and a session. `name`
/// and `image` are bounded ([`MAX_NAME_LENGTH`], [`MAX_IMAGE_LENGTH`]), the email by RFC
/// 5321's lengths ([`is_valid_email`]).
pub async fn sign_up(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(true, false)?;
    let name = required_str(&body, "name")?;
    let email = required_str(&body, "email")?;
    let password = required_str(&body, "password")?;
    let image = optional_str(&body, "image")?;
    check_length("name", name, MAX_NAME_LENGTH)?;
    if let Some(image) = image {
        check_length("image", image, MAX_IMAGE_LENGTH)?;
    }
    let remember = optional_bool(&body, "rememberMe")?.unwrap_or(true);
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    if !is_valid_email(email) {
        return Err(ApiError::validation("[body.email] Invalid email address"));
    }
    // `user.additionalFields`: the body's values (Better Auth's `parseUserInput`).
    let fields = state
        .db()
        .schema()
        .parse_user_input(&body, FieldAction::Create)
        .map_err(|e| ApiError::field(e, FieldAction::Create))?;
    let new = NewAccount {
        name,
        email: &email.to_lowercase(),
        password,
        image,
        fields: Some(&fields),
    };
    let (user, session) = sign_up::create(&state, new, &client, remember, callback).await?;
    let Some(session) = session else {
        return Ok(Json(json!({ "token": null, "user": user })).into_response());
    };
    let cookies = CookieHeaders::new_session(&state, &session, !remember)?;
    Ok(cookies.apply(Json(json!({ "token": session.token, "user": user }))))
}

/// `POST /sign-in/email`: the password method, then the common sign-in step
/// ([`sign_in::complete`]).
pub async fn sign_in(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(true, false)?;
    let email = required_str(&body, "email")?;
    let password = required_str(&body, "password")?;
    let remember = optional_bool(&body, "rememberMe")?.unwrap_or(true);
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    if !is_valid_email(email) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::INVALID_EMAIL,
        ));
    }
    let authenticated = sign_in::password(&state, email, password).await?;
    let request = sign_in::Request {
        client: &client,
        remember,
        callback,
        trusted_device: state.cookies().get(&headers, TRUST_DEVICE),
    };
    let (user, session, extra) = match sign_in::complete(&state, authenticated, request).await? {
        Completed::SignedIn(user, session, extra) => (user, session, extra),
        // Better Auth's twoFactor answer: no session, the pending sign-in's cookie.
        Completed::SecondFactor(cookies) => {
            return Ok(CookieHeaders::default()
                .with_cookies(cookies)
                .apply(Json(json!({ "twoFactorRedirect": true }))))
        }
    };
    let cookies = CookieHeaders::new_session(&state, &session, !remember)?.with_cookies(extra);
    let body = match callback {
        Some(url) => json!({ "redirect": true, "token": session.token, "url": url, "user": user }),
        None => json!({ "redirect": false, "token": session.token, "user": user }),
    };
    let mut response = cookies.apply(Json(body));
    if let Some(url) = callback.and_then(|u| HeaderValue::from_str(u).ok()) {
        response.headers_mut().insert(header::LOCATION, url);
    }
    Ok(response)
}

/// `POST /sign-out`: ends the session named by a genuine credential and clears the cookies.
/// Always `{"success":true}`.
pub async fn sign_out(
    State(state): State<AppState>,
    MaybeSession(found): MaybeSession,
) -> Result<Response, ApiError> {
    issue::sign_out(&state, found).await?;
    Ok(CookieHeaders::clear(&state)
        .apply(Json(json!({ "success": true })))
        .into_response())
}
