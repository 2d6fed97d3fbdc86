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
use axum::Router;
use serde_json::json;

use super::Feature;
use crate::app::AppState;
use crate::auth::issue;
use crate::auth::sign_in::{self, Completed};
use crate::auth::sign_up::{self, NewAccount};
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

fn routes(_: &AppState) -> Router<AppState> {
    Router::new()
        .route("/sign-up/email", post(sign_up))
        .route("/sign-in/email", post(sign_in))
        .route("/sign-out", post(sign_out))
}

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
    let new = NewAccount {
        name,
        email: &email.to_lowercase(),
        password,
        image,
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
