//! What a signed-in user does to their own account: change the password, ask to change the
//! email address, delete the account. Shared by the API's handlers and the hosted pages.

use axum::http::StatusCode;
use chrono::Duration;
use edgeauth_token::cookie::encode_uri_component;

use super::email_token::{EmailClaims, CHANGE_EMAIL_CONFIRMATION, CHANGE_EMAIL_VERIFICATION};
use super::email_verification::{mail_required, verification_link};
use super::issue::{new_session, Client};
use crate::app::AppState;
use crate::config::{ChangeEmail, DeleteUser};
use crate::db::{PasswordChange, Session, TokenRow, User};
use crate::http::error::{messages, ApiError};
use crate::http::extract::session::Current;
use crate::ids;
use crate::mail::{Mail, MailKind};
use crate::password::Verified;

/// A credential account whose password was just verified.
#[derive(Debug, Clone)]
pub struct CheckedAccount {
    /// The account's id.
    pub id: String,
    /// The stored hash the password matched. A change made on the strength of this check
    /// is written only while this is still the stored hash ([`crate::db::PasswordChange`]).
    pub hash: String,
}

/// Checks `password` against the user's credential account: 400
/// `CREDENTIAL_ACCOUNT_NOT_FOUND` without one, 400 `INVALID_PASSWORD` when it differs.
pub async fn check_password(
    state: &AppState,
    user_id: &str,
    password: &str,
) -> Result<CheckedAccount, ApiError> {
    let account = state
        .db()
        .find_credential_account(user_id)
        .await?
        .filter(|a| a.password.is_some())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                messages::CREDENTIAL_ACCOUNT_NOT_FOUND,
            )
        })?;
    let stored = account.password.clone().unwrap_or_default();
    match state
        .passwords()
        .verify(password.to_string(), stored.clone())
        .await?
    {
        Verified::NoMatch => Err(invalid_password()),
        Verified::Match { .. } => Ok(CheckedAccount {
            id: account.id,
            hash: stored,
        }),
    }
}

fn invalid_password() -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, messages::INVALID_PASSWORD)
}

/// Changes the caller's password after checking the current one. With `revoke_others`,
/// every session of the user ends and a new one, returned, replaces the caller's.
///
/// Verify and replace are atomic: the new hash is written only if the stored one is still
/// the one `current_password` matched, so of concurrent changes (or a change racing a
/// password reset) exactly one takes effect and the others answer `INVALID_PASSWORD`, as
/// they would have had they come a moment later. The password, the end of the other
/// sessions and the replacement session are one transaction: a failure midway (a lost
/// connection) leaves the old password and every session as they were, so a retry with
/// the same current password works.
pub async fn change_password(
    state: &AppState,
    current: &Current,
    current_password: &str,
    new_password: &str,
    revoke_others: bool,
    client: &Client,
) -> Result<Option<Session>, ApiError> {
    state.password_policy().check_new(new_password)?;
    let user = &current.found.user;
    let checked = check_password(state, &user.id, current_password).await?;
    let hash = state.passwords().hash(new_password.to_string()).await?;
    let now = state.now();
    let replacement = if revoke_others {
        Some(new_session(state, client, &user.id, !current.dont_remember, now).await?)
    } else {
        None
    };
    let change = PasswordChange {
        account_id: &checked.id,
        verified_hash: &checked.hash,
        new_hash: &hash,
        now,
        replacement: replacement.as_ref(),
    };
    if !state.db().change_password(&change).await? {
        tracing::info!(user = %user.id, "password change refused: changed meanwhile");
        return Err(invalid_password());
    }
    tracing::info!(user = %user.id, revoke_others, "password changed");
    Ok(replacement)
}

/// Starts an email change to `new_email` (valid and lower-cased) in the configured flow
/// ([`ChangeEmail`]): a verified user first confirms from the current address, anyone else
/// verifies the new address. The links lead to `callback`.
pub async fn request_email_change(
    state: &AppState,
    user: &User,
    new_email: &str,
    callback: Option<&str>,
) -> Result<(), ApiError> {
    let mode = state.config().lifecycle.change_email;
    if mode == ChangeEmail::Off {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::CHANGE_EMAIL_IS_DISABLED,
        ));
    }
    mail_required(state)?;
    if new_email == user.email {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::EMAIL_IS_THE_SAME,
        ));
    }
    if state.db().find_user_by_email(new_email).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            messages::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
        ));
    }
    let confirm_old = mode == ChangeEmail::ConfirmOld && user.email_verified;
    let claims = EmailClaims {
        email: user.email.clone(),
        update_to: Some(new_email.to_string()),
        request_type: Some(
            if confirm_old {
                CHANGE_EMAIL_CONFIRMATION
            } else {
                CHANGE_EMAIL_VERIFICATION
            }
            .to_string(),
        ),
    };
    let url = verification_link(state, &claims, callback)?;
    let (kind, to) = if confirm_old {
        (MailKind::ChangeEmailConfirmation, user.email.clone())
    } else {
        (MailKind::VerifyEmail, new_email.to_string())
    };
    let mail = Mail {
        kind,
        to,
        user_id: user.id.clone(),
        name: user.name.clone(),
        email: if confirm_old {
            user.email.clone()
        } else {
            new_email.to_string()
        },
        new_email: new_email.to_string(),
        url,
        code: String::new(),
        expires_in: state.config().lifecycle.verification_expires_in,
    };
    state.mailer().send(state.db(), mail).await?;
    tracing::info!(user = %user.id, confirm_old, "email change requested");
    Ok(())
}

/// The `identifier` prefix of deletion token rows.
pub const DELETE_PREFIX: &str = "delete-account-";

/// The `identifier` of a deletion token's row (Better Auth's `delete-account-<token>`).
pub fn deletion_identifier(token: &str) -> String {
    format!("{DELETE_PREFIX}{token}")
}

/// What a deletion request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The account is gone, with every session.
    Deleted,
    /// A confirmation link was mailed (`EDGEAUTH_DELETE_USER=verify`).
    LinkSent,
}

/// Deletes the caller's account, or mails a confirmation link (`EDGEAUTH_DELETE_USER=verify`,
/// leading to `callback`). `password`, when given, must be the account's; without it only a
/// fresh session may delete (younger than `EDGEAUTH_SESSION_FRESH_AGE`).
pub async fn delete(
    state: &AppState,
    current: &Current,
    password: Option<&str>,
    callback: Option<&str>,
) -> Result<Deletion, ApiError> {
    let now = state.now();
    let user = &current.found.user;
    if let Some(password) = password {
        check_password(state, &user.id, password).await?;
    }
    let lifecycle = &state.config().lifecycle;
    if lifecycle.delete_user == DeleteUser::Verify {
        mail_required(state)?;
        let token = ids::generate_id();
        let lifetime = lifecycle.delete_user_expires_in;
        let expires_at = now + Duration::seconds(i64::try_from(lifetime).unwrap_or(86400));
        let url = format!(
            "{}?token={token}&callbackURL={}",
            state.auth_url("/delete-user/callback"),
            encode_uri_component(callback.unwrap_or("/"))
        );
        // The token and the mail carrying it: one transaction.
        let mail = state
            .mailer()
            .row(&Mail::to_user(MailKind::DeleteAccount, user, url, lifetime));
        let token_row = TokenRow {
            kind_prefix: DELETE_PREFIX,
            identifier: &deletion_identifier(&token),
            value: &user.id,
            expires_at,
            now,
        };
        state
            .db()
            .replace_verification(&token_row, mail.as_ref())
            .await?;
        state.mailer().queued(mail.as_ref());
        tracing::info!(user = %user.id, "account deletion link sent");
        return Ok(Deletion::LinkSent);
    }
    // Without the password, only a fresh session may delete (Better Auth means to check
    // this too, but a unit slip in 1.4 makes its check never fire).
    if password.is_none() && !current.is_fresh(lifecycle.session_fresh_age, now) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::SESSION_EXPIRED,
        ));
    }
    if !state.db().delete_user(&user.id, None, now).await? {
        // A concurrent request deleted the account first: this session is gone with it.
        return Err(ApiError::unauthorized());
    }
    tracing::info!(user = %user.id, "user deleted");
    Ok(Deletion::Deleted)
}

/// Mails the user a notice about a change to how they sign in (two-factor on or off, a
/// passkey added or removed), with a link to the account page (or the site, without the
/// pages) for when it was not them. Queued after the change is committed; a failure to queue
/// it is logged, not returned.
pub async fn notify_sign_in_change(state: &AppState, user: &User, kind: MailKind) {
    let config = state.config();
    let url = if config.pages.enabled {
        format!("{}{}/account", config.base_origin, config.pages.path)
    } else {
        config.base_origin.clone()
    };
    let mail = Mail::to_user(kind, user, url, 0);
    if let Err(e) = state.mailer().send(state.db(), mail).await {
        // The change is made: a notice that cannot be queued does not undo it.
        tracing::warn!(kind = kind.name(), user = %user.id, error = %e, "notice not queued");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::test_app;
    use crate::auth::sign_up::{self, NewAccount};

    const PASSWORD: &str = "correct horse battery staple";
    const NEW_PASSWORD: &str = "a brand new passphrase";

    /// `change-password` with `revokeOtherSessions` is one transaction: whichever of its
    /// writes fails (as on a connection lost midway), the old password and every session
    /// are as they were, so the caller's retry with the same current password works; and
    /// then all of it happens.
    #[tokio::test]
    async fn a_revoking_change_is_all_or_nothing() {
        let (state, _clock, path) = test_app::state(&["--rate-limit", "off"]).await;
        let client = Client::default();
        let new = NewAccount {
            name: "Ada",
            email: "ada@example.com",
            password: PASSWORD,
            image: None,
            fields: None,
        };
        let (user, session) = sign_up::create(&state, new, &client, true, None)
            .await
            .unwrap();
        let session = session.unwrap();
        let other = new_session(&state, &client, &user.id, true, state.now())
            .await
            .unwrap();
        state.db().create_session(&other).await.unwrap();
        let current = Current {
            found: state
                .db()
                .find_session(&session.token)
                .await
                .unwrap()
                .unwrap(),
            dont_remember: false,
        };
        for statement in ["DELETE", "INSERT"] {
            state.db().fail_session_writes(statement).await.unwrap();
            let failed =
                change_password(&state, &current, PASSWORD, NEW_PASSWORD, true, &client).await;
            state
                .db()
                .stop_failing_session_writes(statement)
                .await
                .unwrap();
            assert!(failed.is_err(), "{statement}");
            assert!(
                check_password(&state, &user.id, PASSWORD).await.is_ok(),
                "{statement} failed, yet the password changed"
            );
            for token in [&session.token, &other.token] {
                let found = state.db().find_session(token).await.unwrap();
                assert!(found.is_some(), "{statement} failed, yet a session ended");
            }
        }
        let replacement = change_password(&state, &current, PASSWORD, NEW_PASSWORD, true, &client)
            .await
            .unwrap()
            .unwrap();
        assert!(check_password(&state, &user.id, NEW_PASSWORD).await.is_ok());
        let sessions = state.db().list_sessions(&user.id).await.unwrap();
        assert_eq!(sessions, [replacement]);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
