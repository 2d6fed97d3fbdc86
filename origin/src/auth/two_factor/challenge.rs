//! The sign-in's side of two-factor authentication: the gate a sign-in passes (a trusted
//! device, else a pending sign-in and no session), the codes a person offers, and the
//! session that follows.
//!
//! Formats are Better Auth 1.4's, so its `twoFactorClient` works unchanged and a device
//! trusted through a Better Auth server on the same database is trusted here:
//! - the pending sign-in is named by the signed cookie `better-auth.two_factor`
//!   (`2fa-<20 characters>`, Max-Age the pending lifetime); edgeauth keeps it in its own
//!   table, with its expiry and wrong-code count;
//! - a trusted device is the signed cookie `better-auth.trust_device` =
//!   `<HMAC-SHA256-base64url(secret, "<userId>!<trustId>")>!<trustId>` and a `verification`
//!   row `trust-device-<32 characters>` granting to the user; each use replaces both;
//! - an emailed code is a `verification` row `2fa-otp-<key>` holding the code's SHA-256
//!   (base64url), `key` being the pending sign-in's name or `<userId>!<sessionId>`.

use axum::http::{HeaderMap, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::{DateTime, Duration, Utc};
use edgeauth_token::cookie;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::{backup_codes, totp, Factor, ACCOUNT_ATTEMPTS, ACCOUNT_WINDOW_MS, PENDING_ATTEMPTS};
use crate::app::AppState;
use crate::auth::account::notify_sign_in_change;
use crate::auth::issue::{new_session, Client};
use crate::crypto;
use crate::db::{PendingSignIn, Session, User};
use crate::http::cookies::{TRUST_DEVICE, TWO_FACTOR};
use crate::http::error::{messages, ApiError};
use crate::http::extract::session::{lookup, Current, Lookup};
use crate::ids;
use crate::mail::{Mail, MailKind};

/// Prefix of a pending sign-in's name.
const PENDING_PREFIX: &str = "2fa-";
/// Prefix of a trusted device's `verification` row.
const TRUST_PREFIX: &str = "trust-device-";
/// Prefix of an emailed code's `verification` row.
const OTP_PREFIX: &str = "2fa-otp-";
/// Digits of an emailed code.
const OTP_DIGITS: usize = 6;

/// What a sign-in whose credential verified may do next.
#[derive(Debug)]
pub enum Gate {
    /// Issue the session, setting these cookies beside it (a trusted device's cookie,
    /// renewed).
    Open(Vec<String>),
    /// No session: the second factor is required; set these cookies (the pending sign-in).
    SecondFactor(Vec<String>),
}

fn secret(state: &AppState) -> &str {
    &state.config().secret
}

fn now_ms(state: &AppState) -> i64 {
    state.now().timestamp_millis()
}

fn signed(state: &AppState, value: &str) -> Result<String, ApiError> {
    cookie::sign_value(secret(state).as_bytes(), value).map_err(ApiError::internal)
}

fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The gate for `user`, whose first factor just verified. `trusted_device` is the request's
/// `trust_device` cookie, as sent.
pub async fn gate(
    state: &AppState,
    user: &User,
    remember: bool,
    trusted_device: Option<&str>,
) -> Result<Gate, ApiError> {
    let settings = &state.config().two_factor;
    if !settings.enabled || !user.two_factor_enabled {
        return Ok(Gate::Open(Vec::new()));
    }
    let mut cookies = Vec::new();
    if let Some(raw) = trusted_device {
        match renew_trust(state, &user.id, raw).await? {
            Some(renewed) => {
                tracing::info!(user = %user.id, "sign-in from a trusted device");
                return Ok(Gate::Open(vec![renewed]));
            }
            None => cookies.push(state.cookies().delete(TRUST_DEVICE)),
        }
    }
    let pending = PendingSignIn {
        id: format!("{PENDING_PREFIX}{}", ids::random_string(20)),
        user_id: user.id.clone(),
        remember,
        failures: 0,
        expires_at: now_ms(state)
            .saturating_add(seconds(settings.pending_ttl).saturating_mul(1000)),
    };
    state
        .db()
        .create_pending_sign_in(&pending, now_ms(state))
        .await?;
    cookies.push(state.cookies().set(
        TWO_FACTOR,
        &signed(state, &pending.id)?,
        Some(seconds(settings.pending_ttl)),
    ));
    tracing::info!(user = %user.id, "sign-in waits for the second factor");
    Ok(Gate::SecondFactor(cookies))
}

/// Who offers a second factor.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// A signed-in user (finishing enrolment, or confirming a factor).
    Session(Box<Current>),
    /// A sign-in waiting for its second factor, and its user.
    Pending(PendingSignIn, Box<User>),
}

impl Verifier {
    /// The user the factor is checked against.
    pub fn user(&self) -> &User {
        match self {
            Verifier::Session(current) => &current.found.user,
            Verifier::Pending(_, user) => user,
        }
    }

    /// The name an emailed code is kept under (Better Auth's key).
    fn code_key(&self) -> String {
        match self {
            Verifier::Session(current) => {
                format!("{}!{}", current.found.user.id, current.found.session.id)
            }
            Verifier::Pending(pending, _) => pending.id.clone(),
        }
    }
}

fn invalid_cookie() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        messages::INVALID_TWO_FACTOR_COOKIE,
    )
}

/// The request's verifier: its live session, else its pending sign-in (401
/// `INVALID_TWO_FACTOR_COOKIE` when the cookie is missing, forged, used or expired; an
/// expired one is deleted).
pub async fn verifier(state: &AppState, headers: &HeaderMap) -> Result<Verifier, ApiError> {
    if let Lookup::Live(current) = lookup(state, headers, state.now()).await? {
        return Ok(Verifier::Session(current));
    }
    let id = state
        .cookies()
        .get(headers, TWO_FACTOR)
        .and_then(|raw| cookie::verify_signed_value(secret(state).as_bytes(), raw).ok())
        .filter(|id| id.starts_with(PENDING_PREFIX))
        .ok_or_else(invalid_cookie)?;
    let pending = state
        .db()
        .find_pending_sign_in(&id)
        .await?
        .ok_or_else(invalid_cookie)?;
    if pending.expires_at <= now_ms(state) {
        state.db().take_pending_sign_in(&id).await?;
        return Err(invalid_cookie());
    }
    if pending.failures > PENDING_ATTEMPTS {
        // Ended by too many wrong codes ([`count_attempt`]): start over.
        return Err(invalid_cookie());
    }
    let user = state
        .db()
        .find_user_by_id(&pending.user_id)
        .await?
        .ok_or_else(invalid_cookie)?;
    Ok(Verifier::Pending(pending, Box::new(user)))
}

/// Counts an attempt before a code is checked: against the pending sign-in (which ends
/// after [`PENDING_ATTEMPTS`]) and against the account (locked for [`ACCOUNT_WINDOW_MS`]
/// after [`ACCOUNT_ATTEMPTS`] without a success).
async fn count_attempt(state: &AppState, verifier: &Verifier) -> Result<(), ApiError> {
    if let Verifier::Pending(pending, _) = verifier {
        let counted = state
            .db()
            .count_pending_attempt(&pending.id, PENDING_ATTEMPTS)
            .await?;
        if counted.is_none() {
            // Out of attempts, or just completed by a concurrent request. An exhausted
            // sign-in is marked ended rather than deleted, so a request counted before the
            // limit (carrying the right code) can still finish it.
            if !state
                .db()
                .exhaust_pending_sign_in(&pending.id, PENDING_ATTEMPTS + 1)
                .await?
            {
                return Err(invalid_cookie());
            }
            tracing::warn!(user = %pending.user_id, "pending sign-in ended: too many wrong codes");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                messages::TOO_MANY_ATTEMPTS_SIGN_IN_AGAIN,
            ));
        }
    }
    let user = verifier.user();
    let allowed = state
        .db()
        .count_code_attempt(&user.id, ACCOUNT_ATTEMPTS, ACCOUNT_WINDOW_MS, now_ms(state))
        .await?;
    if !allowed {
        tracing::warn!(user = %user.id, "second factor refused: too many wrong codes for the account");
        return Err(ApiError::too_many_requests(
            u64::try_from(ACCOUNT_WINDOW_MS / 1000).unwrap_or(900),
        ));
    }
    Ok(())
}

/// SHA-256 of an emailed code, base64url (Better Auth's `storeOTP: "hashed"`).
fn code_digest(code: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(code.trim().as_bytes()))
}

/// Checks `factor` for `verifier`'s user and consumes it: counts the attempt first, then
/// compares in constant time; a TOTP step, an emailed code or a backup code works once.
pub async fn check(
    state: &AppState,
    verifier: &Verifier,
    factor: Factor<'_>,
) -> Result<(), ApiError> {
    count_attempt(state, verifier).await?;
    let user = verifier.user();
    let invalid = |message| ApiError::new(StatusCode::UNAUTHORIZED, message);
    match factor {
        Factor::Totp(code) => {
            let row = state.db().find_two_factor(&user.id).await?.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, messages::TOTP_NOT_ENABLED)
            })?;
            let secret = crypto::open(secret(state), &row.secret).map_err(ApiError::internal)?;
            let now_step = totp::step_at(state.now().timestamp());
            let step = totp::matching_step(&secret, code.trim(), now_step)
                .ok_or_else(|| invalid(messages::INVALID_CODE))?;
            if !state.db().claim_totp_step(&user.id, step).await? {
                tracing::warn!(user = %user.id, "TOTP code refused: its step was used already");
                return Err(invalid(messages::INVALID_CODE));
            }
        }
        Factor::EmailCode(code) => {
            let identifier = format!("{OTP_PREFIX}{}", verifier.code_key());
            let row = state
                .db()
                .find_verification(&identifier)
                .await?
                .filter(|row| row.expires_at > state.now())
                .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, messages::OTP_HAS_EXPIRED))?;
            if !crypto::same(&code_digest(code), &row.value)
                || !state
                    .db()
                    .take_verification(&identifier, &row.value)
                    .await?
            {
                return Err(invalid(messages::INVALID_CODE));
            }
        }
        Factor::BackupCode(code) => {
            let row = state.db().find_two_factor(&user.id).await?.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, messages::TWO_FACTOR_ISNT_ENABLED)
            })?;
            let codes =
                backup_codes::open(secret(state), &row.backup_codes).map_err(ApiError::internal)?;
            let left = backup_codes::without(&codes, code)
                .ok_or_else(|| invalid(messages::INVALID_BACKUP_CODE))?;
            let sealed = backup_codes::seal(secret(state), &left);
            if !state
                .db()
                .swap_backup_codes(&row.id, &row.backup_codes, &sealed)
                .await?
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    messages::FAILED_TO_VERIFY_BACKUP_CODE,
                ));
            }
            tracing::info!(user = %user.id, left = left.len(), "backup code used");
        }
    }
    state.db().clear_code_attempts(&user.id).await?;
    Ok(())
}

/// Mails a one-time code to the verifier's user (`send-otp`), replacing any code sent
/// before under the same key. The wrong-code counts are not reset.
pub async fn send_code(state: &AppState, verifier: &Verifier) -> Result<(), ApiError> {
    if !state.mailer().enabled() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::OTP_ISNT_CONFIGURED,
        ));
    }
    let mut rng = rand::rngs::OsRng;
    let code: String = (0..OTP_DIGITS)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    let identifier = format!("{OTP_PREFIX}{}", verifier.code_key());
    let ttl = state.config().two_factor.otp_ttl;
    let now = state.now();
    let user = verifier.user();
    // The code and the mail carrying it: one transaction.
    let mail = state.mailer().row(
        &Mail::to_user(MailKind::TwoFactorCode, user, String::new(), ttl).with_code(code.clone()),
    );
    state
        .db()
        .replace_code(
            &identifier,
            &code_digest(&code),
            now + Duration::seconds(seconds(ttl)),
            now,
            mail.as_ref(),
        )
        .await?;
    state.mailer().queued(mail.as_ref());
    tracing::info!(user = %user.id, "sign-in code mailed");
    Ok(())
}

/// What a verified second factor gives.
#[derive(Debug)]
pub struct Passed {
    /// The user.
    pub user: User,
    /// The session: new for a pending sign-in, the caller's own otherwise.
    pub session: Session,
    /// Whether `session` was just created (its cookie must be set).
    pub new_session: bool,
    /// Whether the new session is a browser-session one (`rememberMe: false`).
    pub dont_remember: bool,
    /// Cookies to set beside the session's (the pending sign-in's expired, a trusted
    /// device's).
    pub cookies: Vec<String>,
}

/// After [`check`]: a pending sign-in becomes a session (once: of two concurrent successes
/// one wins, the other gets 401 `INVALID_TWO_FACTOR_COOKIE`), trusting the device if asked;
/// a signed-in caller who confirms a TOTP or emailed code while two-factor is off turns it
/// on (the end of enrolment, mailed to them).
pub async fn pass(
    state: &AppState,
    verifier: Verifier,
    factor: Factor<'_>,
    client: &Client,
    trust_device: bool,
) -> Result<Passed, ApiError> {
    match verifier {
        Verifier::Session(current) => {
            let Current { found, .. } = *current;
            let mut user = found.user;
            if !user.two_factor_enabled && !matches!(factor, Factor::BackupCode(_)) {
                state
                    .db()
                    .set_two_factor_enabled(&user.id, true, state.now())
                    .await?;
                user.two_factor_enabled = true;
                notify_sign_in_change(state, &user, MailKind::TwoFactorEnabled).await;
                tracing::info!(user = %user.id, "two-factor enabled");
            }
            Ok(Passed {
                user,
                session: found.session,
                new_session: false,
                dont_remember: false,
                cookies: Vec::new(),
            })
        }
        Verifier::Pending(pending, user) => {
            if !state.db().take_pending_sign_in(&pending.id).await? {
                return Err(invalid_cookie());
            }
            let now = state.now();
            let session = new_session(state, client, &user.id, pending.remember, now).await?;
            state.db().create_session(&session).await?;
            let mut cookies = vec![state.cookies().delete(TWO_FACTOR)];
            if trust_device {
                cookies.push(trust(state, &user.id, now).await?);
            }
            tracing::info!(user = %user.id, trust_device, "sign-in with a second factor");
            Ok(Passed {
                user: *user,
                session,
                new_session: true,
                dont_remember: !pending.remember,
                cookies,
            })
        }
    }
}

/// Trusts this device for the user: a new `trust-device-*` row and its signed cookie.
async fn trust(state: &AppState, user_id: &str, now: DateTime<Utc>) -> Result<String, ApiError> {
    let ttl = state.config().two_factor.trust_device_ttl;
    let trust_id = format!("{TRUST_PREFIX}{}", ids::random_string(32));
    state
        .db()
        .insert_verification(
            &trust_id,
            user_id,
            now + Duration::seconds(seconds(ttl)),
            now,
        )
        .await?;
    let tag = crypto::hmac_b64url(secret(state), &format!("{user_id}!{trust_id}"));
    Ok(state.cookies().set(
        TRUST_DEVICE,
        &signed(state, &format!("{tag}!{trust_id}"))?,
        Some(seconds(ttl)),
    ))
}

/// Whether the `trust_device` cookie `raw` trusts this device for `user_id`: its signature,
/// its tag over `<userId>!<trustId>` (constant time), its row granting to the user and live.
/// A trusted device's row is consumed and replaced (once: a copied cookie used after the
/// original stops working): the renewed cookie, or `None`.
async fn renew_trust(
    state: &AppState,
    user_id: &str,
    raw: &str,
) -> Result<Option<String>, ApiError> {
    let Ok(value) = cookie::verify_signed_value(secret(state).as_bytes(), raw) else {
        return Ok(None);
    };
    let Some((tag, trust_id)) = value.split_once('!') else {
        return Ok(None);
    };
    let expected = crypto::hmac_b64url(secret(state), &format!("{user_id}!{trust_id}"));
    if !crypto::same(tag, &expected) || !trust_id.starts_with(TRUST_PREFIX) {
        return Ok(None);
    }
    let now = state.now();
    let live = state
        .db()
        .find_verification(trust_id)
        .await?
        .is_some_and(|row| row.value == user_id && row.expires_at > now);
    if !live || !state.db().take_verification(trust_id, user_id).await? {
        return Ok(None);
    }
    trust(state, user_id, now).await.map(Some)
}
