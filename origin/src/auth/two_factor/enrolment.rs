//! The account's side of two-factor authentication: setting it up, showing the URI again,
//! new backup codes, turning it off. Each needs the password (or, for an account without
//! one, a session younger than `EDGEAUTH_SESSION_FRESH_AGE`); Better Auth accepts only the
//! password, and refuses accounts without one.

use axum::http::StatusCode;

use super::{backup_codes, totp};
use crate::app::AppState;
use crate::auth::account::{check_password, notify_sign_in_change};
use crate::crypto;
use crate::db::User;
use crate::http::error::{messages, ApiError};
use crate::http::extract::session::Current;
use crate::mail::MailKind;

/// Longest issuer a request may name.
const MAX_ISSUER_LEN: usize = 100;

/// Proves it is the account's owner at the keyboard: the password when the account has one
/// (400 `INVALID_PASSWORD` when it is wrong or missing), else a fresh session (400
/// `SESSION_EXPIRED`).
async fn reauthenticate(
    state: &AppState,
    current: &Current,
    password: Option<&str>,
) -> Result<(), ApiError> {
    let user = &current.found.user;
    let has_password = state
        .db()
        .find_credential_account(&user.id)
        .await?
        .is_some_and(|a| a.password.is_some());
    if has_password {
        let password = password
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, messages::INVALID_PASSWORD))?;
        return check_password(state, &user.id, password).await.map(|_| ());
    }
    if !current.is_fresh(state.config().lifecycle.session_fresh_age, state.now()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::SESSION_EXPIRED,
        ));
    }
    Ok(())
}

/// The issuer of the URI: the request's (Better Auth's `enable` accepts one), the
/// configured one, or the application's name.
fn issuer<'a>(state: &'a AppState, requested: Option<&'a str>) -> Result<&'a str, ApiError> {
    if let Some(requested) = requested {
        if requested.trim().is_empty() || requested.chars().count() > MAX_ISSUER_LEN {
            return Err(ApiError::validation(
                "[body.issuer] Issuer must be 1 to 100 characters",
            ));
        }
        return Ok(requested);
    }
    Ok(state
        .config()
        .two_factor
        .issuer
        .as_deref()
        .unwrap_or(&state.config().lifecycle.app_name))
}

/// What setting up gives the person, once: the URI their app scans and their backup codes.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The `otpauth://` URI.
    pub totp_uri: String,
    /// The secret as typed into an app (base32 in groups of four).
    pub typed_secret: String,
    /// The backup codes.
    pub backup_codes: Vec<String>,
}

/// `enable`: a new secret and backup codes, replacing any before. Two-factor turns on
/// when a first code from the new secret verifies ([`super::challenge::pass`]), so a
/// person who never finishes is not locked out.
pub async fn enable(
    state: &AppState,
    current: &Current,
    password: Option<&str>,
    requested_issuer: Option<&str>,
) -> Result<Enrolment, ApiError> {
    reauthenticate(state, current, password).await?;
    let issuer = issuer(state, requested_issuer)?;
    let user = &current.found.user;
    let secret = totp::new_secret();
    let codes = backup_codes::generate();
    let config_secret = &state.config().secret;
    state
        .db()
        .replace_two_factor(
            &user.id,
            &crypto::seal(config_secret, &secret),
            &backup_codes::seal(config_secret, &codes),
        )
        .await?;
    tracing::info!(user = %user.id, "two-factor secret issued");
    Ok(Enrolment {
        totp_uri: totp::uri(&secret, issuer, &user.email),
        typed_secret: totp::typed_secret(&secret),
        backup_codes: codes,
    })
}

/// The user's TOTP secret, opened (400 `TOTP_NOT_ENABLED` without one).
async fn secret_of(state: &AppState, user: &User) -> Result<(String, String, String), ApiError> {
    let row = state
        .db()
        .find_two_factor(&user.id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, messages::TOTP_NOT_ENABLED))?;
    let secret = crypto::open(&state.config().secret, &row.secret).map_err(ApiError::internal)?;
    Ok((secret, row.id, row.backup_codes))
}

/// `get-totp-uri`: the URI again.
pub async fn totp_uri(
    state: &AppState,
    current: &Current,
    password: Option<&str>,
) -> Result<String, ApiError> {
    reauthenticate(state, current, password).await?;
    let user = &current.found.user;
    let (secret, _, _) = secret_of(state, user).await?;
    Ok(totp::uri(&secret, issuer(state, None)?, &user.email))
}

/// `generate-backup-codes`: a new set replacing the old (400 `TWO_FACTOR_ISNT_ENABLED`
/// while two-factor is off).
pub async fn regenerate_backup_codes(
    state: &AppState,
    current: &Current,
    password: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    reauthenticate(state, current, password).await?;
    let user = &current.found.user;
    if !user.two_factor_enabled {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::TWO_FACTOR_ISNT_ENABLED,
        ));
    }
    let (_, row_id, old) = secret_of(state, user).await?;
    let codes = backup_codes::generate();
    let sealed = backup_codes::seal(&state.config().secret, &codes);
    if !state.db().swap_backup_codes(&row_id, &old, &sealed).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            messages::FAILED_TO_VERIFY_BACKUP_CODE,
        ));
    }
    tracing::info!(user = %user.id, "backup codes regenerated");
    Ok(codes)
}

/// `disable`: two-factor off, its secret, backup codes, trusted devices and pending
/// sign-ins gone, and every other session of the user ended (one transaction); mailed to
/// the user. Returns the sessions ended.
pub async fn disable(
    state: &AppState,
    current: &Current,
    password: Option<&str>,
) -> Result<u64, ApiError> {
    reauthenticate(state, current, password).await?;
    let user = &current.found.user;
    let ended = state
        .db()
        .disable_two_factor(&user.id, &current.found.session.token, state.now())
        .await?;
    notify_sign_in_change(state, user, MailKind::TwoFactorDisabled).await;
    tracing::info!(user = %user.id, sessions_ended = ended, "two-factor disabled");
    Ok(ended)
}
