//! Password reset: a mailed link carrying Better Auth's token, and its redemption. Shared by
//! the API and the hosted pages.
//!
//! Reset tokens are Better Auth's: 24 random alphanumerics in a `verification` row
//! `reset-password:<token>` whose value is the user id, one hour by default. Redeeming
//! deletes the row in the transaction that sets the password, so a token works once even
//! under concurrent redemptions. A new request replaces the user's earlier tokens (Better
//! Auth keeps them all): only the newest link works. The request is a row of the mail
//! outbox; the token and the mail are written together by the outbox worker.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use edgeauth_token::cookie::encode_uri_component;

use crate::app::{auth_url, AppState};
use crate::config::Config;
use crate::db::{ResetOutcome, User};
use crate::http::error::{messages, ApiError};
use crate::ids;
use crate::mail::{Mail, MailKind};

/// Length of a reset token (Better Auth's `generateId(24)`).
pub const RESET_TOKEN_LEN: usize = 24;

/// The `identifier` prefix of reset token rows.
pub const RESET_PREFIX: &str = "reset-password:";

/// The `identifier` of a reset token's row.
pub fn reset_identifier(token: &str) -> String {
    format!("{RESET_PREFIX}{token}")
}

/// Records a request for a reset link to `email` (valid, lower-cased), leading to
/// `redirect_to` (already checked): one row written to the mail outbox, the same for every
/// address, before the caller is answered. Nothing about the address is looked up here: the
/// outbox worker looks it up and, if it is registered, writes the token and queues the mail
/// in one transaction ([`new_reset`]), so neither the answer nor its timing tells whether the
/// address is registered, and an acknowledged request survives a crash.
pub async fn request(state: &AppState, email: &str, redirect_to: &str) -> Result<(), ApiError> {
    let row = state
        .mailer()
        .request_row(MailKind::ResetPassword, email, Some(redirect_to));
    if let Some(row) = &row {
        state.db().enqueue_mail(row).await?;
    }
    state.mailer().queued(row.as_ref());
    Ok(())
}

/// A new reset for `user`: the token's row identifier, its expiry, and the mail carrying the
/// link (leading to `redirect_to`). Written by the outbox worker, replacing the user's
/// earlier reset tokens.
#[derive(Debug, Clone)]
pub struct NewReset {
    /// The `verification` row's identifier (`reset-password:<token>`).
    pub identifier: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// The mail with the link.
    pub mail: Mail,
}

/// See [`NewReset`].
pub fn new_reset(
    config: &Config,
    user: &User,
    redirect_to: Option<&str>,
    now: DateTime<Utc>,
) -> NewReset {
    let lifetime = config.lifecycle.reset_password_expires_in;
    let token = ids::random_string(RESET_TOKEN_LEN);
    let expires_at = now + Duration::seconds(i64::try_from(lifetime).unwrap_or(3600));
    let url = format!(
        "{}?callbackURL={}",
        auth_url(config, &format!("/reset-password/{token}")),
        encode_uri_component(redirect_to.unwrap_or_default())
    );
    NewReset {
        identifier: reset_identifier(&token),
        expires_at,
        mail: Mail::to_user(MailKind::ResetPassword, user, url, lifetime),
    }
}

/// What a redemption did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// Whose password was replaced.
    pub user_id: String,
    /// Whether every session of the user ended (`EDGEAUTH_REVOKE_SESSIONS_ON_RESET`).
    pub sessions_ended: bool,
}

/// Sets `new_password` for the user `token` names and consumes the token (400
/// `INVALID_TOKEN` for an unknown, used or expired one); with
/// `EDGEAUTH_REVOKE_SESSIONS_ON_RESET` (the default) every session of the user ends. The
/// account's failed sign-in lock is lifted.
pub async fn redeem(
    state: &AppState,
    token: &str,
    new_password: &str,
) -> Result<Redeemed, ApiError> {
    let invalid = || ApiError::new(StatusCode::BAD_REQUEST, messages::INVALID_TOKEN);
    state.password_policy().check_new(new_password)?;
    let identifier = reset_identifier(token);
    // Refuse unknown tokens before the (costly) hash; the redemption below re-checks.
    match state.db().find_verification(&identifier).await? {
        Some(row) if row.expires_at > state.now() => {}
        _ => return Err(invalid()),
    }
    let hash = state.passwords().hash(new_password.to_string()).await?;
    let end_sessions = state.config().lifecycle.revoke_sessions_on_reset;
    match state
        .db()
        .redeem_reset_token(&identifier, &hash, end_sessions, state.now())
        .await?
    {
        ResetOutcome::InvalidToken => Err(invalid()),
        ResetOutcome::Reset {
            user_id,
            email,
            sessions_ended,
        } => {
            tracing::info!(user = %user_id, sessions_ended, "password reset");
            // Whoever reset the password controls the mailbox: lift the failed sign-in lock
            // (NIST SP 800-63B: a lockout ends through account recovery, not only by time).
            if let Some(email) = email {
                state.rate_limiter().sign_in_succeeded(&email).await;
            }
            Ok(Redeemed {
                user_id,
                sessions_ended: end_sessions,
            })
        }
    }
}
