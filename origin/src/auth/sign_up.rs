//! Signing up with an email and a password: the user, its credential account and (unless
//! email verification is required first) a session, in one transaction.

use axum::http::StatusCode;

use super::email_verification::verification_mail;
use super::issue::{new_session, Client};
use crate::app::AppState;
use crate::db::{DbError, FieldAction, FieldInput, NewUser, Session, User};
use crate::http::error::{messages, ApiError};
use crate::metrics::{self, SignUp};

/// What a new account is made of (checked by the caller: a valid, lower-cased email).
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    /// The display name.
    pub name: &'a str,
    /// The address, valid and lower-cased.
    pub email: &'a str,
    /// The password, not yet checked against the policy.
    pub password: &'a str,
    /// A profile picture URL.
    pub image: Option<&'a str>,
    /// The request body's `user.additionalFields` values (see
    /// [`crate::db::FieldInput`]); `None` when the request cannot carry any (the hosted
    /// pages): the defaults apply.
    pub fields: Option<&'a FieldInput>,
}

/// Creates the account: the password is checked against the policy and hashed (before the
/// uniqueness check too, so a taken address answers no faster), then the user, its
/// credential account and a session are written together; 422
/// `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL` for a taken address. With
/// `EDGEAUTH_REQUIRE_EMAIL_VERIFICATION` no session is created (sign-in waits for the
/// link). The verification mail is sent when configured, leading to `callback`.
pub async fn create(
    state: &AppState,
    new: NewAccount<'_>,
    client: &Client,
    remember: bool,
    callback: Option<&str>,
) -> Result<(User, Option<Session>), ApiError> {
    if let Err(refused) = state.password_policy().check_new(new.password) {
        metrics::sign_up(SignUp::RejectedPassword);
        return Err(refused.into());
    }
    // Hash before the uniqueness check too, so a taken address answers no faster.
    let hash = state.passwords().hash(new.password.to_string()).await?;
    let fields = match new.fields {
        Some(fields) => fields.clone(),
        None => state
            .db()
            .schema()
            .parse_user_input(&serde_json::Map::new(), FieldAction::Create)
            .map_err(|e| ApiError::field(e, FieldAction::Create))?,
    };
    let now = state.now();
    let user = User {
        id: state.db().row_id("user").await?,
        name: new.name.to_string(),
        email: new.email.to_string(),
        email_verified: false,
        image: new.image.map(str::to_string),
        created_at: now,
        updated_at: now,
        two_factor_enabled: false,
        extra: fields.shown,
    };
    let lifecycle = &state.config().lifecycle;
    // With verification required, sign-up creates no session: sign-in waits for the link.
    let session = if lifecycle.require_email_verification {
        None
    } else {
        Some(new_session(state, client, &user.id, remember, now).await?)
    };
    let row = NewUser {
        user: user.clone(),
        password_hash: hash,
        values: fields.values,
    };
    // The verification mail is written with the user: a sign-up acknowledged is mailed.
    let mail = if lifecycle.verification_on_sign_up && state.mailer().enabled() {
        let mail =
            verification_mail(state.config(), now, &user, callback).map_err(ApiError::internal)?;
        state.mailer().row(&mail)
    } else {
        None
    };
    match state
        .db()
        .create_user(&row, session.as_ref(), mail.as_ref())
        .await
    {
        Ok(()) => {}
        Err(DbError::Conflict) => {
            metrics::sign_up(SignUp::AlreadyExists);
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                messages::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %user.id, "sign-up");
    metrics::sign_up(SignUp::Success);
    state.mailer().queued(mail.as_ref());
    Ok((user, session))
}
