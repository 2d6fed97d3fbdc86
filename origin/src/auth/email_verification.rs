//! Email verification as a step of the domain: the `verify-email` link for an address,
//! and the mail that carries it (sent on sign-up, on sign-in when required, and on request).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use edgeauth_token::cookie::encode_uri_component;

use super::email_token::{self, EmailClaims};
use crate::app::{auth_url, AppState};
use crate::config::Config;
use crate::db::User;
use crate::http::error::{messages, ApiError};
use crate::mail::{Mail, MailKind};

/// A `verify-email` link for `claims`, ending at `callback` (default `/`).
pub fn verification_link(
    state: &AppState,
    claims: &EmailClaims,
    callback: Option<&str>,
) -> Result<String, ApiError> {
    link_at(state.config(), state.now(), claims, callback).map_err(ApiError::internal)
}

/// [`verification_link`] from the configuration and the time alone (the outbox worker's).
fn link_at(
    config: &Config,
    now: DateTime<Utc>,
    claims: &EmailClaims,
    callback: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let lifecycle = &config.lifecycle;
    let token = email_token::sign(
        &config.secret,
        claims,
        now,
        lifecycle.verification_expires_in,
    )?;
    Ok(format!(
        "{}?token={token}&callbackURL={}",
        auth_url(config, "/verify-email"),
        encode_uri_component(callback.unwrap_or("/"))
    ))
}

/// The verification mail for `user`'s current address, its link ending at `callback`.
pub fn verification_mail(
    config: &Config,
    now: DateTime<Utc>,
    user: &User,
    callback: Option<&str>,
) -> Result<Mail, jsonwebtoken::errors::Error> {
    let claims = EmailClaims {
        email: user.email.clone(),
        update_to: None,
        request_type: None,
    };
    let url = link_at(config, now, &claims, callback)?;
    Ok(Mail::to_user(
        MailKind::VerifyEmail,
        user,
        url,
        config.lifecycle.verification_expires_in,
    ))
}

/// Queues the verification mail for `user`'s current address (its token is stateless: the
/// outbox row is the one thing written).
pub async fn send_verification(
    state: &AppState,
    user: &User,
    callback: Option<&str>,
) -> Result<(), ApiError> {
    let mail = verification_mail(state.config(), state.now(), user, callback)
        .map_err(ApiError::internal)?;
    state.mailer().send(state.db(), mail).await?;
    Ok(())
}

/// Records a signed-out request for the verification mail of `email` (valid, lower-cased):
/// one outbox row, whatever the address; the outbox worker looks it up and queues the mail if
/// the address is registered and unverified.
pub async fn request_verification(
    state: &AppState,
    email: &str,
    callback: Option<&str>,
) -> Result<(), ApiError> {
    let row = state
        .mailer()
        .request_row(MailKind::VerifyEmail, email, callback);
    if let Some(row) = &row {
        state.db().enqueue_mail(row).await?;
    }
    state.mailer().queued(row.as_ref());
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
