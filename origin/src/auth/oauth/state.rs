//! A sign-in's state, in Better Auth's database mode: a random 32-character `state` names a
//! `verification` row holding Better Auth's state JSON (callback URLs, the PKCE verifier,
//! expiry) plus the OpenID nonce, and the browser gets `better-auth.state`, the state signed
//! with the secret.
//!
//! The callback checks, in this order: the cookie's signature, that the cookie's state and
//! the `state` parameter are the same (in constant time: a state from another browser, or
//! a forged one, stops here, before anything is consumed), then deletes the row (so a
//! state works once, even under concurrent callbacks) and checks its expiry (10 minutes).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::crypto::same;
use crate::http::error::ApiError;
use crate::ids;

/// Base name of the state cookie (Better Auth's `state`).
pub const STATE_COOKIE: &str = "better-auth.state";

/// How long a sign-in may take between its start and the callback: 10 minutes, the row's
/// and the cookie's lifetime.
pub const STATE_TTL_SECS: i64 = 600;

/// Length of `state`, as Better Auth's.
const STATE_LEN: usize = 32;
/// Length of the PKCE verifier (RFC 7636 allows 43 to 128; Better Auth uses 128).
const VERIFIER_LEN: usize = 128;

/// Better Auth's state JSON, with the nonce added (Better Auth's parser ignores unknown keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateData {
    /// Where a successful sign-in goes.
    #[serde(rename = "callbackURL")]
    pub callback_url: String,
    /// The PKCE verifier.
    pub code_verifier: String,
    /// Where errors go.
    #[serde(rename = "errorURL", skip_serializing_if = "Option::is_none", default)]
    pub error_url: Option<String>,
    /// Where a new user goes.
    #[serde(
        rename = "newUserURL",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub new_user_url: Option<String>,
    /// Set by `/oauth2/link`: the signed-in user the identity is to be added to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub link: Option<LinkTarget>,
    /// Expiry, in milliseconds since the epoch.
    pub expires_at: i64,
    /// `requestSignUp`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_sign_up: Option<bool>,
    /// The OpenID Connect nonce sent with the authorization request.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nonce: Option<String>,
    /// The provider the flow was started with (an edgeauth addition): a callback arriving
    /// at another provider's endpoint is refused (mix-up).
    #[serde(
        rename = "providerId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub provider_id: Option<String>,
}

/// The user a link flow adds the provider identity to (Better Auth's `link`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkTarget {
    /// Their email when the link started.
    pub email: String,
    /// Their id.
    pub user_id: String,
}

/// A state just created: the value for the URL, the row's data, and the cookie to set.
#[derive(Debug, Clone)]
pub struct Created {
    /// The `state` parameter.
    pub state: String,
    /// What the row holds.
    pub data: StateData,
    /// `Set-Cookie` for `better-auth.state`.
    pub cookie: String,
}

/// What the sign-in asked for at its start.
#[derive(Debug, Clone, Default)]
pub struct Requested {
    /// `callbackURL` (validated), else the base URL's origin.
    pub callback_url: Option<String>,
    /// `errorCallbackURL` (validated).
    pub error_url: Option<String>,
    /// `newUserCallbackURL` (validated).
    pub new_user_url: Option<String>,
    /// `requestSignUp`.
    pub request_sign_up: Option<bool>,
    /// Whether to send a nonce (OpenID Connect providers).
    pub with_nonce: bool,
    /// A link flow's user.
    pub link: Option<LinkTarget>,
    /// The provider (set by [`crate::auth::oauth::flow::authorize`]).
    pub provider_id: Option<String>,
    /// `loginHint`: sent to the provider as `login_hint` (not stored).
    pub login_hint: Option<String>,
}

/// Creates and stores a state.
pub async fn create(state: &AppState, requested: Requested) -> Result<Created, ApiError> {
    let now = state.now();
    let expires = now + Duration::seconds(STATE_TTL_SECS);
    let data = StateData {
        callback_url: requested
            .callback_url
            .unwrap_or_else(|| state.config().base_origin.clone()),
        code_verifier: ids::random_string(VERIFIER_LEN),
        error_url: requested.error_url,
        new_user_url: requested.new_user_url,
        link: requested.link,
        expires_at: expires.timestamp_millis(),
        request_sign_up: requested.request_sign_up,
        nonce: requested.with_nonce.then(|| ids::random_string(32)),
        provider_id: requested.provider_id,
    };
    let value = serde_json::to_string(&data).map_err(ApiError::internal)?;
    let token = ids::random_string(STATE_LEN);
    state
        .db()
        .insert_verification(&token, &value, expires, now)
        .await?;
    let signed = edgeauth_token::cookie::sign_value(state.config().secret.as_bytes(), &token)
        .map_err(ApiError::internal)?;
    let cookie = state
        .cookies()
        .set(STATE_COOKIE, &signed, Some(STATE_TTL_SECS));
    Ok(Created {
        state: token,
        data,
        cookie,
    })
}

/// Why a callback's state was refused (Better Auth's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// No `state`, no or a forged cookie, or the two differ (`state_mismatch`).
    Mismatch,
    /// Unknown, used or expired (`please_restart_the_process`).
    Restart,
}

impl StateError {
    /// The `error` parameter of the redirect.
    pub fn code(self) -> &'static str {
        match self {
            StateError::Mismatch => "state_mismatch",
            StateError::Restart => "please_restart_the_process",
        }
    }
}

/// Checks the callback's `state` against the browser's cookie, then consumes the row.
pub async fn consume(
    state: &AppState,
    param: Option<&str>,
    cookie: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<StateData, StateError>, ApiError> {
    let (Some(param), Some(cookie)) = (param, cookie) else {
        return Ok(Err(StateError::Mismatch));
    };
    let Ok(signed) =
        edgeauth_token::cookie::verify_signed_value(state.config().secret.as_bytes(), cookie)
    else {
        return Ok(Err(StateError::Mismatch));
    };
    if param.len() != STATE_LEN || !same(&signed, param) {
        return Ok(Err(StateError::Mismatch));
    }
    let Some(row) = state.db().take_state_row(param).await? else {
        return Ok(Err(StateError::Restart));
    };
    let Ok(data) = serde_json::from_str::<StateData>(&row.value) else {
        return Ok(Err(StateError::Restart));
    };
    if row.expires_at <= now || data.expires_at <= now.timestamp_millis() {
        return Ok(Err(StateError::Restart));
    }
    Ok(Ok(data))
}
