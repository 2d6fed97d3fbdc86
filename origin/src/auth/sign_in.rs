//! Signing in: a method checks a credential and yields an [`Authenticated`] user; one step,
//! [`complete`], decides what follows and issues the session.
//!
//! Every method (the password today; an OAuth provider's callback, a passkey assertion
//! next) ends in [`complete`], so the rules that follow a verified credential are written
//! once: the per-account failure count is cleared, an unverified email is refused when
//! verification is required (after the credential check, so the refusal reveals nothing to
//! someone without the credential), a user with two-factor on is asked for the second
//! factor unless the device is trusted ([`two_factor::challenge::gate`]), and the session
//! is created.

use axum::http::StatusCode;

use super::email_verification::send_verification;
use super::issue::{new_session, Client};
use super::two_factor;
use super::two_factor::challenge::Gate;
use crate::app::AppState;
use crate::db::{PasswordChange, Session, User};
use crate::http::error::{messages, ApiError};
use crate::metrics::{self, SignIn};
use crate::password::Verified;

/// How the user proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Email and password (`POST /sign-in/email`).
    Password,
    /// An OAuth 2.0 / OpenID Connect provider's callback (`GET /oauth2/callback/:id`):
    /// one factor, whatever the provider asked.
    OAuth,
    /// A passkey, with user verification (`POST /passkey/verify-authentication`): something
    /// the user has and something they are or know, so two factors already.
    Passkey,
}

impl Method {
    /// Whether the method proves two factors by itself (no second factor asked after it).
    pub fn is_multi_factor(self) -> bool {
        matches!(self, Method::Passkey)
    }
}

/// A user whose credential just verified.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user, as stored.
    pub user: User,
    /// How they proved it.
    pub method: Method,
    /// The address the attempt was counted under by the per-account limit, as typed.
    pub attempted_as: String,
}

/// The refusal every failed password sign-in gets: unknown address, missing credential
/// account and wrong password alike.
fn refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        messages::INVALID_EMAIL_OR_PASSWORD,
    )
}

/// The password method: counts the attempt against the account's failure limit (before
/// the check, atomically), then verifies `password` for `email`. Unknown addresses run a
/// dummy hash with the same parameters and answer exactly like a wrong password. A match on
/// an outdated hash upgrades it.
pub async fn password(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Authenticated, ApiError> {
    // Per-account limit: the attempt is counted now, atomically, and the count cleared on
    // success (see rate_limit); every address counts, registered or not.
    if let Err(locked) = state
        .rate_limiter()
        .count_sign_in_attempt(email, state.now())
        .await
    {
        metrics::sign_in(SignIn::Locked);
        return Err(locked);
    }

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
        metrics::sign_in(SignIn::UnknownAddress);
        return Err(refused());
    };
    match state
        .passwords()
        .verify(password.to_string(), stored.clone())
        .await?
    {
        Verified::NoMatch => {
            tracing::info!(user = %user.id, "sign-in refused");
            metrics::sign_in(SignIn::WrongPassword);
            return Err(refused());
        }
        Verified::Match { needs_rehash } => {
            if needs_rehash {
                // Only over the hash just verified: a password changed or reset while this
                // sign-in was hashing must not be overwritten by the old one, rehashed; the
                // password given is then no longer the account's, and the sign-in fails as
                // it would have a moment later.
                let hash = state.passwords().hash(password.to_string()).await?;
                let upgrade = PasswordChange {
                    account_id: &account.id,
                    verified_hash: &stored,
                    new_hash: &hash,
                    now: state.now(),
                    replacement: None,
                };
                if state.db().change_password(&upgrade).await? {
                    tracing::info!(user = %user.id, "password hash upgraded");
                } else {
                    tracing::info!(user = %user.id, "sign-in refused: password changed meanwhile");
                    metrics::sign_in(SignIn::WrongPassword);
                    return Err(refused());
                }
            }
        }
    }
    Ok(Authenticated {
        user,
        method: Method::Password,
        attempted_as: email.to_string(),
    })
}

/// What a sign-in asks for beyond the credential.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who the session is issued to.
    pub client: &'a Client,
    /// `rememberMe`: a 7-day session, else a browser-session one.
    pub remember: bool,
    /// Where a verification mail sent on the way should lead.
    pub callback: Option<&'a str>,
    /// The request's `trust_device` cookie, as sent (two-factor).
    pub trusted_device: Option<&'a str>,
}

/// What a sign-in with a verified credential ends in.
// Returned once per sign-in and destructured at once: boxing the common variant would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Completed {
    /// Signed in: the user, the new session, and cookies to set beside its own.
    SignedIn(User, Session, Vec<String>),
    /// The user has two-factor on: no session; these cookies name the pending sign-in.
    SecondFactor(Vec<String>),
}

/// The one step after any method: clears the account's failure count, refuses an
/// unverified email when verification is required (403 `EMAIL_NOT_VERIFIED`, mailing the
/// link again if so configured), asks for the second factor when the user has it on, and
/// otherwise creates and returns the session.
pub async fn complete(
    state: &AppState,
    signed_in: Authenticated,
    request: Request<'_>,
) -> Result<Completed, ApiError> {
    let Authenticated {
        user,
        attempted_as,
        method,
    } = signed_in;
    state.rate_limiter().sign_in_succeeded(&attempted_as).await;
    let lifecycle = &state.config().lifecycle;
    if lifecycle.require_email_verification && !user.email_verified {
        if lifecycle.verification_on_sign_in && state.mailer().enabled() {
            send_verification(state, &user, request.callback).await?;
        }
        tracing::info!(user = %user.id, "sign-in refused: email not verified");
        metrics::sign_in(SignIn::EmailNotVerified);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            messages::EMAIL_NOT_VERIFIED,
        ));
    }
    let gate = if method.is_multi_factor() {
        Gate::Open(Vec::new())
    } else {
        two_factor::challenge::gate(state, &user, request.remember, request.trusted_device).await?
    };
    let cookies = match gate {
        Gate::Open(cookies) => cookies,
        Gate::SecondFactor(cookies) => {
            metrics::sign_in(SignIn::SecondFactorRequired);
            return Ok(Completed::SecondFactor(cookies));
        }
    };
    let session = new_session(
        state,
        request.client,
        &user.id,
        request.remember,
        state.now(),
    )
    .await?;
    state.db().create_session(&session).await?;
    tracing::info!(user = %user.id, "sign-in");
    metrics::sign_in(SignIn::Success);
    Ok(Completed::SignedIn(user, session, cookies))
}
