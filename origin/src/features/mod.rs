//! The capabilities, one module each. A feature owns its handlers, its routes under
//! `/api/auth`, the rate-limit rules of its endpoints and its revocation effects (what it
//! tells the edge), and contributes them through one [`Feature`] value listed in
//! [`FEATURES`]: a new capability is a new module and one line there, never an edit of the
//! router, the state or the limiter. Each route is registered with its endpoint's
//! description ([`endpoint`]), from which the API description is made ([`open_api`]).
//!
//! Handlers are thin: parse the request (extractors in [`crate::http::extract`]), call the
//! domain ([`crate::auth`], the database, mail), answer. Errors become HTTP in
//! [`crate::http::error`] alone.

pub mod accounts;
#[cfg(test)]
mod additional_fields_tests;
pub mod delete_user;
pub mod edge;
pub mod email_password;
pub mod email_verification;
pub mod endpoint;
pub mod error_page;
pub mod generic_oauth;
pub mod health;
pub mod jwt;
pub mod open_api;
pub mod passkey;
pub mod password_reset;
pub mod sessions;
pub mod social;
pub mod two_factor;
pub mod user;

use crate::app::AppState;
use crate::rate_limit::PathRule;
use endpoint::ApiRoutes;

/// What a capability contributes to the application.
#[derive(Clone, Copy)]
pub struct Feature {
    /// A short name, for documentation and logs.
    pub name: &'static str,
    /// Its routes, relative to `/api/auth`, each with its endpoint's description (empty when
    /// configuration turns it off).
    pub routes: fn(&AppState) -> ApiRoutes,
    /// Whether its routes go through the CSRF origin check (every feature's do, except the
    /// edge's liveness endpoint, which must answer exactly as an unknown route without the
    /// edge's proof).
    pub origin_checked: bool,
    /// Rate-limit rules for its paths (Better Auth's `customRules`); other paths get
    /// [`crate::rate_limit::Rule::DEFAULT`].
    pub rate_limits: &'static [PathRule],
}

/// Every capability of the origin.
pub const FEATURES: &[Feature] = &[
    health::FEATURE,
    email_password::FEATURE,
    sessions::FEATURE,
    user::FEATURE,
    email_verification::FEATURE,
    password_reset::FEATURE,
    delete_user::FEATURE,
    error_page::FEATURE,
    jwt::FEATURE,
    two_factor::FEATURE,
    passkey::FEATURE,
    generic_oauth::FEATURE,
    social::FEATURE,
    social::CALLBACK_FEATURE,
    accounts::FEATURE,
    edge::FEATURE,
    open_api::FEATURE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::rate_limit_rules;
    use crate::rate_limit::Rule;

    /// Better Auth's rules (and 1.7's mail rule), now contributed feature by feature.
    #[test]
    fn the_features_contribute_better_auths_rules() {
        let rules = rate_limit_rules();
        for strict in [
            "/sign-in/email",
            "/sign-up/email",
            "/change-password",
            "/change-email",
            "/sign-in",
            // The twoFactor plugin's rule: 3 per 10 s for every /two-factor/ path.
            "/two-factor/verify-totp",
            "/two-factor/send-otp",
            "/two-factor/enable",
        ] {
            assert_eq!(rules.rule_for(strict), Rule::STRICT, "{strict}");
        }
        for mail in ["/request-password-reset", "/send-verification-email"] {
            assert_eq!(rules.rule_for(mail), Rule::MAIL, "{mail}");
        }
        for default in ["/get-session", "/sign-out", "/ok", "/", "/update-user"] {
            assert_eq!(rules.rule_for(default), Rule::DEFAULT, "{default}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = FEATURES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FEATURES.len());
    }
}
