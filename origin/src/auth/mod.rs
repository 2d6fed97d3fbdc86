//! The domain of signing in, free of HTTP: handlers parse a request, call in here, and
//! answer with what comes back.
//!
//! - [`sign_in`]: a sign-in method (the password today; a provider callback, a passkey or a
//!   second factor next) yields an [`sign_in::Authenticated`] user, and one step
//!   ([`sign_in::complete`]) decides what follows (a session, or a refusal such as an
//!   unverified email) and issues the session;
//! - [`issue`]: the row a new session is made of, and who it is issued to;
//! - [`email_token`]: Better Auth's stateless email verification token, and
//!   [`email_verification`]: the link and the mail that carry it.

pub mod account;
pub mod email_token;
pub mod email_verification;
pub mod issue;
pub mod oauth;
pub mod passkey;
pub mod password_reset;
pub mod sign_in;
pub mod sign_up;
pub mod two_factor;
