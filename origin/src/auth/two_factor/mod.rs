//! Two-factor authentication, as Better Auth's `twoFactor` plugin (its tables, formats and
//! cookies), with the holes of its 1.4.22 closed:
//!
//! - a TOTP step is accepted once per user (the last used step is remembered), where Better
//!   Auth accepts a code again within its window;
//! - wrong codes are counted per pending sign-in ([`PENDING_ATTEMPTS`], then it ends and the
//!   person signs in again) and per account ([`ACCOUNT_ATTEMPTS`] across every factor and
//!   sign-in, then codes are refused for [`ACCOUNT_WINDOW_MS`]); sending a new email code
//!   resets neither (Better Auth's count restarts with every code sent);
//! - the pending sign-in's expiry is enforced, and it is bound to its user (the code is
//!   checked against the pending sign-in's user, whoever sends it) and to the browser that
//!   holds its signed, HttpOnly cookie;
//! - email codes and backup codes are consumed on success, atomically;
//! - every code is compared in constant time;
//! - every sign-in that creates a session for a user with two-factor on asks for it
//!   ([`crate::auth::sign_in::complete`] is the one place sessions come from a credential);
//! - enabling, disabling, showing the URI and regenerating backup codes need the password
//!   (or, for an account without one, a fresh session); turning it on or off is mailed to
//!   the user, and turning it off ends the user's other sessions.
//!
//! [`challenge`] is the sign-in's side (pending sign-ins, verifying a factor, trusted
//! devices), [`enrolment`] the account's (enable, disable, URI, backup codes).

pub mod backup_codes;
pub mod challenge;
pub mod enrolment;
pub mod totp;

/// Wrong codes one pending sign-in may take; the next attempt ends it.
pub const PENDING_ATTEMPTS: i32 = 5;
/// Wrong codes an account may take, across sign-ins and factors, before codes are refused.
pub const ACCOUNT_ATTEMPTS: i32 = 10;
/// How long the account's codes stay refused after its last counted attempt.
pub const ACCOUNT_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The second factor a person offers.
#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    /// A code from an authenticator app.
    Totp(&'a str),
    /// A code sent by email (`send-otp`).
    EmailCode(&'a str),
    /// One of the backup codes.
    BackupCode(&'a str),
}
