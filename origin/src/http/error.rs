//! The one place errors become HTTP responses: the API's JSON errors, and the hosted
//! pages' refusals.
//!
//! Better Auth 1.4 answers errors as `{"code","message"}` where better-call derives `code`
//! from the message: upper-case, spaces to `_`, then everything outside `[A-Z0-9_]` dropped
//! ("User already exists. Use another email." → `USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`).
//! [`ApiError::new`] applies the same rule, so every message below yields 1.4's code. A bare
//! 401 (no session) is an empty body, as 1.4 sends it. Internal failures answer a generic
//! body; their detail goes to the log, never to the client.

use std::borrow::Cow;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db::{DbError, FieldAction, FieldError};
use crate::keys::KeyStoreError;
use crate::pages::PageError;
use crate::password::{HashError, PolicyError};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    /// `None`: an empty body (1.4's bare `APIError("UNAUTHORIZED")`).
    body: Option<(Cow<'static, str>, Cow<'static, str>)>,
    /// `Some(seconds)`: the rate limiter's answer (see [`ApiError::too_many_requests`]).
    retry_after: Option<u64>,
}

/// better-call's rule: upper-case, spaces to `_`, keep only `[A-Z0-9_]`.
pub fn derive_code(message: &str) -> String {
    message
        .to_uppercase()
        .replace(' ', "_")
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect()
}

impl ApiError {
    /// An error whose code is derived from `message`.
    pub fn new(status: StatusCode, message: &'static str) -> Self {
        ApiError {
            status,
            body: Some((derive_code(message).into(), message.into())),
            retry_after: None,
        }
    }

    /// An error with an explicit code.
    pub fn with_code(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            body: Some((code.into(), message.into())),
            retry_after: None,
        }
    }

    /// 401 with an empty body: the endpoint needs a session and there is none.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: None,
            retry_after: None,
        }
    }

    /// `status` with an empty body (Better Auth's bare `APIError("NOT_FOUND")` and the like).
    pub fn empty(status: StatusCode) -> Self {
        ApiError {
            status,
            body: None,
            retry_after: None,
        }
    }

    /// 429 as Better Auth's rate limiter answers it: `{"message": "Too many requests.
    /// Please try again later."}` (no `code`) and `X-Retry-After: <seconds>`, which the JS
    /// client reads (plus the standard `Retry-After` with the same value). Better Auth 1.4
    /// labels that JSON body `text/plain;charset=UTF-8`; this one is `application/json`, as
    /// in 1.7 (the JS client parses either).
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: None,
            retry_after: Some(retry_after_secs.max(1)),
        }
    }

    /// The seconds of a 429's `X-Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// 400 `VALIDATION_ERROR` with a zod-style message such as
    /// `[body.email] Invalid email address`.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_code(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 500 with a generic body; `detail` is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::with_code(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
        )
    }

    /// 503: a dependency (the database) is unavailable; the client may retry.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "service unavailable");
        Self::with_code(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable, try again",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code, if the answer has a body.
    pub fn code(&self) -> Option<&str> {
        self.body.as_ref().map(|(code, _)| code.as_ref())
    }

    /// The message, if the answer has a body (what a person may read: internal failures
    /// carry a generic one).
    pub fn message(&self) -> Option<&str> {
        self.body.as_ref().map(|(_, message)| message.as_ref())
    }
}

/// The rate limiter's retry header (Better Auth sends this, not the standard `Retry-After`).
pub static X_RETRY_AFTER: HeaderName = HeaderName::from_static("x-retry-after");

/// Better Auth's error messages (1.4 `BASE_ERROR_CODES`), used with [`ApiError::new`].
pub mod messages {
    /// 401 on sign-in, whatever was wrong.
    pub const INVALID_EMAIL_OR_PASSWORD: &str = "Invalid email or password";
    /// 400 on sign-in with a malformed address.
    pub const INVALID_EMAIL: &str = "Invalid email";
    /// 400 on change-password with a wrong current password.
    pub const INVALID_PASSWORD: &str = "Invalid password";
    /// 422 on sign-up with a taken address.
    pub const USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: &str =
        "User already exists. Use another email.";
    /// 422 when the user row cannot be written.
    pub const FAILED_TO_CREATE_USER: &str = "Failed to create user";
    /// 400 when the user has no email-and-password account.
    pub const CREDENTIAL_ACCOUNT_NOT_FOUND: &str = "Credential account not found";
    /// 400 on update-user with `email`.
    pub const EMAIL_CAN_NOT_BE_UPDATED: &str = "Email can not be updated";
    /// 400 on update-user with nothing to change.
    pub const NO_FIELDS_TO_UPDATE: &str = "No fields to update";
    /// 400 on update-user with a body that is not an object.
    pub const BODY_MUST_BE_AN_OBJECT: &str = "Body must be an object";
    /// 403 on a redirect target that is not trusted.
    pub const INVALID_CALLBACK_URL: &str = "Invalid callbackURL";
    /// 413 on a body over the size limit.
    pub const PAYLOAD_TOO_LARGE: &str = "Payload too large";
    /// 415 on a body in an unsupported format.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "Unsupported media type";
    /// 403 on sign-in before the address is verified (with verification required).
    pub const EMAIL_NOT_VERIFIED: &str = "Email not verified";
    /// 400 when the mail a flow needs cannot be sent (production without SMTP).
    pub const VERIFICATION_EMAIL_ISNT_ENABLED: &str = "Verification email isn't enabled";
    /// 400 on request-password-reset without mail.
    pub const RESET_PASSWORD_ISNT_ENABLED: &str = "Reset password isn't enabled";
    /// 400 on send-verification-email for another address than the session's.
    pub const EMAIL_MISMATCH: &str = "Email mismatch";
    /// 400 on send-verification-email for a verified address.
    pub const EMAIL_ALREADY_VERIFIED: &str = "Email is already verified";
    /// 400 on reset-password with an unknown, used or expired token; 404 on deletion.
    pub const INVALID_TOKEN: &str = "Invalid token";
    /// 403 on a `redirectTo` that is not trusted.
    pub const INVALID_REDIRECT_URL: &str = "Invalid redirectURL";
    /// 400 on change-email when it is off.
    pub const CHANGE_EMAIL_IS_DISABLED: &str = "Change email is disabled";
    /// 400 on change-email to the current address.
    pub const EMAIL_IS_THE_SAME: &str = "Email is the same";
    /// 400 on delete-user without the password from a session that is not fresh.
    pub const SESSION_EXPIRED: &str = "Session expired. Re-authenticate to perform this action.";
    /// 404 on the deletion link without a session.
    pub const FAILED_TO_GET_USER_INFO: &str = "Failed to get user info";
    /// Two-factor: a wrong TOTP or emailed code (401 `INVALID_CODE`).
    pub const INVALID_CODE: &str = "Invalid code";
    /// Two-factor: a wrong backup code.
    pub const INVALID_BACKUP_CODE: &str = "Invalid backup code";
    /// Two-factor: no pending sign-in (missing, forged, used or expired cookie).
    pub const INVALID_TWO_FACTOR_COOKIE: &str = "Invalid two factor cookie";
    /// Two-factor: the user has no TOTP secret.
    pub const TOTP_NOT_ENABLED: &str = "TOTP not enabled";
    /// Two-factor: the user has two-factor off.
    pub const TWO_FACTOR_ISNT_ENABLED: &str = "Two factor isn't enabled";
    /// Two-factor: no emailed code to check (never sent, used, or expired).
    pub const OTP_HAS_EXPIRED: &str = "OTP has expired";
    /// Two-factor: codes cannot be mailed (no mail transport).
    pub const OTP_ISNT_CONFIGURED: &str = "otp isn't configured";
    /// Two-factor: a concurrent request changed the backup codes first.
    pub const FAILED_TO_VERIFY_BACKUP_CODE: &str =
        "Failed to verify backup code. Please try again.";
    /// Two-factor: the pending sign-in took too many wrong codes and ended.
    pub const TOO_MANY_ATTEMPTS_SIGN_IN_AGAIN: &str = "Too many attempts. Sign in again.";
    /// 429 from the rate limiter (Better Auth's text; the body has no `code`).
    pub const TOO_MANY_REQUESTS: &str = "Too many requests. Please try again later.";
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(seconds) = self.retry_after {
            let mut response = (
                self.status,
                axum::Json(json!({ "message": messages::TOO_MANY_REQUESTS })),
            )
                .into_response();
            let headers = response.headers_mut();
            headers.insert(X_RETRY_AFTER.clone(), HeaderValue::from(seconds));
            // The standard header too, for generic HTTP clients.
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            // Readable by cross-origin JS once CORS allows the origin.
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("X-Retry-After, Retry-After"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        match self.body {
            None => self.status.into_response(),
            Some((code, message)) => {
                let mut response = (
                    self.status,
                    axum::Json(json!({ "code": code, "message": message })),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        }
    }
}

/// A hosted page's refusal, as a minimal HTML page (the rejection has no application state,
/// so not the themed one).
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "This form could not be accepted: it expired or was sent from another site. \
                 Go back, reload the page and try again.",
            ),
            PageError::Api(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (e.status(), "What was sent is too large.")
            }
            // An unreadable form, or a field holding a character no field may hold (NUL).
            PageError::Api(e) if e.status() == StatusCode::BAD_REQUEST => (
                e.status(),
                "What was sent could not be read. Go back, check what you typed and try again.",
            ),
            PageError::Api(e) => (e.status(), "Something went wrong. Try again."),
        };
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Request refused\
             </title></head><body><main><h1>Request refused</h1><p>{message}</p></main></body></html>"
        );
        let mut response = (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; frame-ancestors 'none'",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }
}

impl ApiError {
    /// A refused `user.additionalFields` value, as Better Auth 1.4 answers it: 400 `{key} is
    /// required` and `{key} is not allowed to be set` (better-call's derived codes). A value
    /// of the wrong type: on sign-up 422 `FAILED_TO_CREATE_USER` (Better Auth's answer when
    /// the database refuses the value); on update-user, where Better Auth has no answer of its
    /// own (the database's refusal is an unhandled 500), 400 `VALIDATION_ERROR`.
    pub fn field(error: FieldError, action: FieldAction) -> Self {
        let derived = |message: String| ApiError {
            status: StatusCode::BAD_REQUEST,
            body: Some((derive_code(&message).into(), message.into())),
            retry_after: None,
        };
        match (error, action) {
            (FieldError::Required(key), _) => derived(format!("{key} is required")),
            (FieldError::NotAllowed(key), _) => derived(format!("{key} is not allowed to be set")),
            (FieldError::WrongType(..), FieldAction::Create) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                messages::FAILED_TO_CREATE_USER,
            ),
            (FieldError::WrongType(key, ty), FieldAction::Update) => {
                ApiError::validation(format!("[body.{key}] Invalid input: expected {ty}"))
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) | DbError::Slow(detail) => ApiError::unavailable(detail),
            DbError::Conflict => ApiError::with_code(
                StatusCode::CONFLICT,
                "CONFLICT",
                "The request conflicts with existing data",
            ),
            DbError::Other(detail) => ApiError::internal(detail),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        ApiError::internal(e)
    }
}

impl From<KeyStoreError> for ApiError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::Db(e) => e.into(),
            KeyStoreError::Key(e) => ApiError::internal(e),
            KeyStoreError::Claims => ApiError::internal(e),
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        ApiError::with_code(StatusCode::BAD_REQUEST, e.code(), e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_derived_as_better_call_does() {
        assert_eq!(
            derive_code("User already exists. Use another email."),
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
        );
        assert_eq!(derive_code("Invalid callbackURL"), "INVALID_CALLBACKURL");
        assert_eq!(
            derive_code("Session expired. Re-authenticate to perform this action."),
            "SESSION_EXPIRED_REAUTHENTICATE_TO_PERFORM_THIS_ACTION"
        );
        assert_eq!(
            derive_code(messages::INVALID_EMAIL_OR_PASSWORD),
            "INVALID_EMAIL_OR_PASSWORD"
        );
    }

    #[test]
    fn statuses_map_as_documented() {
        assert_eq!(
            ApiError::from(DbError::Unavailable("down".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(DbError::Other("bug".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ApiError::from(DbError::Slow("statement timeout".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let limited = ApiError::too_many_requests(0);
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.code(), None);
        assert_eq!(limited.retry_after(), Some(1));
        let response = ApiError::too_many_requests(7).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["x-retry-after"], "7");
        assert_eq!(response.headers()["content-type"], "application/json");
        let unauthorized = ApiError::unauthorized();
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(unauthorized.code(), None);
        assert_eq!(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                messages::INVALID_EMAIL_OR_PASSWORD
            )
            .code(),
            Some("INVALID_EMAIL_OR_PASSWORD")
        );
    }
}
