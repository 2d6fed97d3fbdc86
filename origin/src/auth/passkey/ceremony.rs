//! Passkey ceremonies as `@better-auth/passkey` 1.4.22 runs them (its endpoints, answers,
//! `passkey` rows and challenge cookie), with the holes of that version closed:
//!
//! - user verification is required (Better Auth asks for it as "preferred" and accepts an
//!   assertion without it);
//! - a challenge is used once and expires after five minutes: it is consumed before the
//!   response is checked, so a failed or replayed attempt cannot be retried with it (Better
//!   Auth deletes it only on success and never checks its expiry);
//! - the expected origin is the configured one, never the request's `Origin` header;
//! - a registration challenge belongs to the user who asked for it;
//! - each user has one stable user handle (their id), so an authenticator replaces its
//!   credential for the site instead of piling up new ones (Better Auth makes a random
//!   handle per registration);
//! - a signature counter that does not move forward is refused (a cloned authenticator);
//! - a passkey sign-in ends like every sign-in ([`crate::auth::sign_in::complete`]): the
//!   session cookie and the user, never the session row.
//!
//! The challenge is Better Auth's: a random 32-character token in the signed cookie
//! `better-auth.better-auth-passkey` (Max-Age 300) naming a `verification` row whose value
//! is `{"expectedChallenge": .., "userData": {"id": <user id or "">}}`.

use axum::http::{HeaderMap, StatusCode};
use chrono::Duration;
use edgeauth_token::cookie;
use serde_json::{json, Value};

use super::webauthn::{self, RelyingParty, StoredPasskey};
use crate::app::AppState;
use crate::auth::account::notify_sign_in_change;
use crate::db::{PasskeyRow, User};
use crate::http::error::ApiError;
use crate::ids;
use crate::mail::MailKind;

/// Base name of the challenge cookie (Better Auth's `advanced.webAuthnChallengeCookie`).
pub const CHALLENGE_COOKIE: &str = "better-auth.better-auth-passkey";
/// Seconds a challenge lives (Better Auth's `MAX_AGE_IN_SECONDS`).
const CHALLENGE_TTL: i64 = 300;
/// Longest passkey name kept.
pub const MAX_NAME_LEN: usize = 128;

/// Better Auth's passkey error messages.
pub mod messages {
    /// No live challenge for this browser.
    pub const CHALLENGE_NOT_FOUND: &str = "Challenge not found";
    /// A registration challenge of another user, or a passkey of another user.
    pub const NOT_ALLOWED: &str = "You are not allowed to register this passkey";
    /// The registration did not verify.
    pub const FAILED_TO_VERIFY_REGISTRATION: &str = "Failed to verify registration";
    /// No such passkey.
    pub const PASSKEY_NOT_FOUND: &str = "Passkey not found";
    /// The assertion did not verify.
    pub const AUTHENTICATION_FAILED: &str = "Authentication failed";
    /// A session older than the fresh age.
    pub const SESSION_NOT_FRESH: &str = "Session is not fresh";
}

/// The relying party of this deployment.
pub fn relying_party(state: &AppState) -> RelyingParty {
    let config = &state.config().passkey;
    RelyingParty {
        id: config.rp_id.clone(),
        name: config.rp_name.clone(),
        origins: config.origins.clone(),
    }
}

/// A stored row as the verifier takes it.
pub fn stored(row: &PasskeyRow) -> StoredPasskey {
    StoredPasskey {
        credential_id: row.credential_id.clone(),
        public_key: row.public_key.clone(),
        counter: row.counter,
        transports: row.transports.clone(),
    }
}

/// Stores `challenge` for `user_id` (`""`: anyone) and returns the challenge cookie.
async fn remember_challenge(
    state: &AppState,
    challenge: &str,
    user_id: &str,
) -> Result<String, ApiError> {
    let token = ids::random_string(32);
    let now = state.now();
    let value = json!({ "expectedChallenge": challenge, "userData": { "id": user_id } });
    state
        .db()
        .insert_verification(
            &token,
            &value.to_string(),
            now + Duration::seconds(CHALLENGE_TTL),
            now,
        )
        .await?;
    let signed =
        cookie::sign_value(state.config().secret.as_bytes(), &token).map_err(ApiError::internal)?;
    Ok(state
        .cookies()
        .set(CHALLENGE_COOKIE, &signed, Some(CHALLENGE_TTL)))
}

/// A challenge taken from storage: what was expected, and for whom.
struct Challenge {
    expected: String,
    user_id: String,
}

/// Takes the browser's challenge: the signed cookie, its row consumed (once: of two
/// concurrent uses, one gets it), live. 400 `CHALLENGE_NOT_FOUND` otherwise.
async fn take_challenge(state: &AppState, headers: &HeaderMap) -> Result<Challenge, ApiError> {
    let not_found = || ApiError::new(StatusCode::BAD_REQUEST, messages::CHALLENGE_NOT_FOUND);
    let token = state
        .cookies()
        .get(headers, CHALLENGE_COOKIE)
        .and_then(|raw| cookie::verify_signed_value(state.config().secret.as_bytes(), raw).ok())
        .ok_or_else(not_found)?;
    let row = state
        .db()
        .find_verification(&token)
        .await?
        .ok_or_else(not_found)?;
    if !state.db().take_verification(&token, &row.value).await? || row.expires_at <= state.now() {
        return Err(not_found());
    }
    let value: Value = serde_json::from_str(&row.value).map_err(|_| not_found())?;
    Ok(Challenge {
        expected: value["expectedChallenge"]
            .as_str()
            .ok_or_else(not_found)?
            .to_string(),
        user_id: value["userData"]["id"].as_str().unwrap_or("").to_string(),
    })
}

/// The answer to `generate-register-options`: Better Auth's options JSON (user verification
/// required, the user's stable handle, their passkeys excluded) and the challenge cookie.
pub async fn registration_options(
    state: &AppState,
    user: &User,
    name: Option<&str>,
    attachment: Option<&str>,
) -> Result<(Value, String), ApiError> {
    let rp = relying_party(state);
    let exclude: Vec<StoredPasskey> = state
        .db()
        .list_passkeys(&user.id)
        .await?
        .iter()
        .map(stored)
        .collect();
    let attachment = attachment.filter(|a| matches!(*a, "platform" | "cross-platform"));
    let user_name = name.filter(|n| !n.is_empty()).unwrap_or(&user.email);
    let (options, challenge) = webauthn::registration_options(
        &rp,
        user.id.as_bytes(),
        user_name,
        &user.email,
        &exclude,
        attachment,
    );
    let cookie = remember_challenge(state, &challenge, &user.id).await?;
    Ok((options, cookie))
}

/// `verify-registration`: checks the response against this user's challenge and stores the
/// passkey (mailing the user). A credential already registered is refused.
pub async fn register(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    response: &Value,
    name: Option<&str>,
) -> Result<PasskeyRow, ApiError> {
    let challenge = take_challenge(state, headers).await?;
    if challenge.user_id != user.id {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            messages::NOT_ALLOWED,
        ));
    }
    let refused = |e: webauthn::WebauthnError| {
        tracing::info!(user = %user.id, reason = %e, "passkey registration refused");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::FAILED_TO_VERIFY_REGISTRATION,
        )
    };
    let registered =
        webauthn::verify_registration(&relying_party(state), &challenge.expected, response)
            .map_err(refused)?;
    if state
        .db()
        .find_passkey_by_credential(&registered.credential_id)
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::FAILED_TO_VERIFY_REGISTRATION,
        ));
    }
    let name: Option<String> = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(MAX_NAME_LEN).collect());
    let row = PasskeyRow {
        id: state.db().row_id("passkey").await?,
        name,
        public_key: registered.public_key,
        user_id: user.id.clone(),
        credential_id: registered.credential_id,
        counter: registered.counter,
        device_type: registered.device_type,
        backed_up: registered.backed_up,
        transports: registered.transports,
        created_at: Some(state.now()),
        aaguid: registered.aaguid,
        last_used_at: None,
    };
    state.db().create_passkey(&row).await?;
    notify_sign_in_change(state, user, MailKind::PasskeyAdded).await;
    tracing::info!(user = %user.id, passkey = %row.id, "passkey registered");
    Ok(row)
}

/// The answer to `generate-authenticate-options`: with a signed-in user, their passkeys as
/// the allow-list; without, none (a discoverable credential picks the user).
pub async fn authentication_options(
    state: &AppState,
    user: Option<&User>,
) -> Result<(Value, String), ApiError> {
    let allow: Vec<StoredPasskey> = match user {
        Some(user) => state
            .db()
            .list_passkeys(&user.id)
            .await?
            .iter()
            .map(stored)
            .collect(),
        None => Vec::new(),
    };
    let (options, challenge) = webauthn::authentication_options(&relying_party(state), &allow);
    let cookie = remember_challenge(state, &challenge, user.map_or("", |u| u.id.as_str())).await?;
    Ok((options, cookie))
}

/// `verify-authentication`: the passkey's owner, once the assertion verifies against this
/// browser's challenge and the counter moves forward (atomically).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    response: &Value,
) -> Result<User, ApiError> {
    let challenge = take_challenge(state, headers).await?;
    let credential_id = response["id"].as_str().unwrap_or("");
    let passkey = state
        .db()
        .find_passkey_by_credential(credential_id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, messages::PASSKEY_NOT_FOUND))?;
    let failed = || ApiError::new(StatusCode::BAD_REQUEST, messages::AUTHENTICATION_FAILED);
    if !challenge.user_id.is_empty() && challenge.user_id != passkey.user_id {
        tracing::info!(passkey = %passkey.id, "passkey sign-in refused: another user's challenge");
        return Err(failed());
    }
    let asserted = webauthn::verify_authentication(
        &relying_party(state),
        &challenge.expected,
        response,
        &stored(&passkey),
    )
    .map_err(|e| {
        tracing::info!(passkey = %passkey.id, reason = %e, "passkey sign-in refused");
        failed()
    })?;
    if !state
        .db()
        .record_passkey_use(
            &passkey.id,
            passkey.counter,
            asserted.new_counter,
            asserted.backed_up,
            state.now(),
        )
        .await?
    {
        tracing::warn!(passkey = %passkey.id, "passkey sign-in refused: counter raced");
        return Err(failed());
    }
    state
        .db()
        .find_user_by_id(&passkey.user_id)
        .await?
        .ok_or_else(failed)
}

/// The caller's passkey `id`: 404 `PASSKEY_NOT_FOUND`, or 401 when it is another user's.
pub async fn owned(state: &AppState, user: &User, id: &str) -> Result<PasskeyRow, ApiError> {
    let row = state
        .db()
        .find_passkey(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, messages::PASSKEY_NOT_FOUND))?;
    if row.user_id != user.id {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            messages::NOT_ALLOWED,
        ));
    }
    Ok(row)
}

/// Removes the caller's passkey `id` and mails them.
pub async fn remove(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    let row = owned(state, user, id).await?;
    if state.db().delete_passkey(&row.id).await? {
        notify_sign_in_change(state, user, MailKind::PasskeyRemoved).await;
        tracing::info!(user = %user.id, passkey = %row.id, "passkey removed");
    }
    Ok(())
}

/// Renames the caller's passkey `id`.
pub async fn rename(
    state: &AppState,
    user: &User,
    id: &str,
    name: &str,
) -> Result<PasskeyRow, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::validation(
            "[body.name] Invalid input: a name of 1 to 128 characters",
        ));
    }
    let row = owned(state, user, id).await?;
    state.db().rename_passkey(&row.id, name).await?;
    owned(state, user, id).await
}
