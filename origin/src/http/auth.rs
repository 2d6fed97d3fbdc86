//! `POST /sign-up/email`, `POST /sign-in/email`, `POST /sign-out`.
//!
//! With `EDGEAUTH_REQUIRE_EMAIL_VERIFICATION`, sign-up answers `{"token": null, "user"}`
//! without a session and sign-in refuses an unverified address with 403
//! `EMAIL_NOT_VERIFIED` (after the password check, so the refusal reveals nothing to
//! someone without the password).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::body::{is_valid_email, optional_bool, optional_str, required_str, RawBody};
use super::client_ip::ClientIp;
use super::error::{messages, ApiError};
use super::session::{self, CookieHeaders, Lookup};
use super::verification;
use super::AppState;
use crate::db::{DbError, NewUser, User};
use crate::ids;
use crate::password::Verified;

/// `POST /sign-up/email`: creates the user, its credential account and a session.
pub async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(true, false)?;
    let name = required_str(&body, "name")?;
    let email = required_str(&body, "email")?;
    let password = required_str(&body, "password")?;
    let image = optional_str(&body, "image")?;
    let remember = optional_bool(&body, "rememberMe")?.unwrap_or(true);
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    if !is_valid_email(email) {
        return Err(ApiError::validation("[body.email] Invalid email address"));
    }
    state.password_policy().check_new(password)?;

    let email = email.to_lowercase();
    // Hash before the uniqueness check too, so a taken address answers no faster.
    let hash = state.passwords().hash(password.to_string()).await?;
    let now = state.now();
    let user = User {
        id: ids::generate_id(),
        name: name.to_string(),
        email,
        email_verified: false,
        image: image.map(str::to_string),
        created_at: now,
        updated_at: now,
    };
    let lifecycle = &state.config().lifecycle;
    // With verification required, sign-up creates no session: sign-in waits for the link.
    let session = (!lifecycle.require_email_verification)
        .then(|| session::new_session(&state, &headers, &ip, &user.id, remember, now));
    let new = NewUser {
        user: user.clone(),
        password_hash: hash,
    };
    match state.db().create_user(&new, session.as_ref()).await {
        Ok(()) => {}
        Err(DbError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                messages::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %user.id, "sign-up");
    if lifecycle.verification_on_sign_up && state.mailer().enabled() {
        verification::send_verification(&state, &user, callback)?;
    }
    let Some(session) = session else {
        return Ok(Json(json!({ "token": null, "user": user })).into_response());
    };
    let cookies =
        CookieHeaders::session(&state, &session.token, session.expires_at, now, !remember)?;
    Ok(cookies.apply(Json(json!({ "token": session.token, "user": user }))))
}

/// `POST /sign-in/email`: checks the password and creates a session. Unknown address,
/// missing credential account and wrong password answer alike, after the same hashing work.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
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
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            messages::INVALID_EMAIL_OR_PASSWORD,
        )
    };

    // Per-account limit: the attempt is counted now, atomically, and the count cleared on
    // success (see rate_limit); every address counts, registered or not.
    state
        .rate_limiter()
        .count_sign_in_attempt(email, state.now())
        .await?;

    let user = state.db().find_user_by_email(&email.to_lowercase()).await?;
    let account = match &user {
        Some(user) => state.db().find_credential_account(&user.id).await?,
        None => None,
    };
    let (Some(user), Some(account), Some(stored)) =
        (user, account.clone(), account.and_then(|a| a.password))
    else {
        state.passwords().dummy_verify(password.to_string()).await?;
        tracing::info!("sign-in refused");
        return Err(refused());
    };
    match state
        .passwords()
        .verify(password.to_string(), stored)
        .await?
    {
        Verified::NoMatch => {
            tracing::info!(user = %user.id, "sign-in refused");
            return Err(refused());
        }
        Verified::Match { needs_rehash } => {
            if needs_rehash {
                let hash = state.passwords().hash(password.to_string()).await?;
                state
                    .db()
                    .set_account_password(&account.id, &hash, state.now())
                    .await?;
                tracing::info!(user = %user.id, "password hash upgraded");
            }
        }
    }
    state.rate_limiter().sign_in_succeeded(email).await;
    let lifecycle = &state.config().lifecycle;
    if lifecycle.require_email_verification && !user.email_verified {
        if lifecycle.verification_on_sign_in && state.mailer().enabled() {
            verification::send_verification(&state, &user, callback)?;
        }
        tracing::info!(user = %user.id, "sign-in refused: email not verified");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            messages::EMAIL_NOT_VERIFIED,
        ));
    }
    let now = state.now();
    let session = session::new_session(&state, &headers, &ip, &user.id, remember, now);
    state.db().create_session(&session).await?;
    tracing::info!(user = %user.id, "sign-in");
    let cookies =
        CookieHeaders::session(&state, &session.token, session.expires_at, now, !remember)?;
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
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Lookup::Live(current) = session::lookup(&state, &headers, state.now()).await? {
        state
            .db()
            .delete_session(&current.found.session.token)
            .await?;
        tracing::info!(user = %current.found.user.id, "sign-out");
    }
    Ok(CookieHeaders::clear(&state)
        .apply(Json(json!({ "success": true })))
        .into_response())
}
