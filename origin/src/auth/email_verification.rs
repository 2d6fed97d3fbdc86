//! Email verification as a step of the domain: the `verify-email` link for an address,
//! and the mail that carries it (sent on sign-up, on sign-in when required, and on request).

use axum::http::StatusCode;
use edgeauth_token::cookie::encode_uri_component;

use super::email_token::{self, EmailClaims};
use crate::app::AppState;
use crate::db::User;
use crate::http::error::{messages, ApiError};
use crate::mail::{Mail, MailKind};

/// A `verify-email` link for `claims`, ending at `callback` (default `/`).
pub fn verification_link(
    state: &AppState,
    claims: &EmailClaims,
    callback: Option<&str>,
) -> Result<String, ApiError> {
    let lifecycle = &state.config().lifecycle;
    let token = email_token::sign(
        &state.config().secret,
        claims,
        state.now(),
        lifecycle.verification_expires_in,
    )
    .map_err(ApiError::internal)?;
    Ok(format!(
        "{}?token={token}&callbackURL={}",
        state.auth_url("/verify-email"),
        encode_uri_component(callback.unwrap_or("/"))
    ))
}

/// Queues the verification mail for `user`'s current address.
pub fn send_verification(
    state: &AppState,
    user: &User,
    callback: Option<&str>,
) -> Result<(), ApiError> {
    let claims = EmailClaims {
        email: user.email.clone(),
        update_to: None,
        request_type: None,
    };
    let url = verification_link(state, &claims, callback)?;
    state.mailer().send(Mail::to_user(
        MailKind::VerifyEmail,
        user,
        url,
        state.config().lifecycle.verification_expires_in,
    ));
    Ok(())
}

/// 400 `VERIFICATION_EMAIL_ISNT_ENABLED` when no mail can be sent (production without SMTP).
pub fn mail_required(state: &AppState) -> Result<(), ApiError> {
    if state.mailer().enabled() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::VERIFICATION_EMAIL_ISNT_ENABLED,
        ))
    }
}
