//! Two-factor authentication's settings (Better Auth's `twoFactor` plugin options).

use clap::Args;

use super::{ConfigError, Switch};

/// `serve`'s flags for two-factor authentication.
#[derive(Debug, Clone, Args)]
pub struct TwoFactorArgs {
    /// Two-factor authentication: TOTP, emailed codes and backup codes (Better Auth's
    /// `twoFactor` plugin). Off by default, as Better Auth without the plugin.
    #[arg(long, env = "EDGEAUTH_TWO_FACTOR", value_enum, default_value = "off")]
    pub two_factor: Switch,

    /// The issuer authenticator apps show (default: `EDGEAUTH_APP_NAME`).
    #[arg(long, env = "EDGEAUTH_TWO_FACTOR_ISSUER")]
    pub two_factor_issuer: Option<String>,

    /// Seconds a sign-in waits for its second factor (Better Auth: 600).
    #[arg(long, env = "EDGEAUTH_TWO_FACTOR_PENDING_TTL", default_value_t = 600)]
    pub two_factor_pending_ttl: u64,

    /// Seconds an emailed code stays valid (Better Auth: 3 minutes).
    #[arg(long, env = "EDGEAUTH_TWO_FACTOR_OTP_TTL", default_value_t = 180)]
    pub two_factor_otp_ttl: u64,

    /// Seconds a device stays trusted after "Trust this device" (Better Auth: 30 days).
    #[arg(
        long,
        env = "EDGEAUTH_TWO_FACTOR_TRUST_DEVICE_TTL",
        default_value_t = 2_592_000
    )]
    pub two_factor_trust_device_ttl: u64,
}

/// Two-factor authentication, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactor {
    /// Whether the endpoints are served and sign-ins ask for a second factor.
    pub enabled: bool,
    /// The issuer in `otpauth://` URIs, when set apart from the application's name.
    pub issuer: Option<String>,
    /// Seconds a pending sign-in lives.
    pub pending_ttl: u64,
    /// Seconds an emailed code lives.
    pub otp_ttl: u64,
    /// Seconds a trusted device stays trusted.
    pub trust_device_ttl: u64,
}

/// The most a pending sign-in or an emailed code may live: an hour.
const MAX_CODE_TTL: u64 = 3600;
/// The most a device may stay trusted: 400 days, browsers' own cap on cookie lifetimes.
const MAX_TRUST_TTL: u64 = 400 * 24 * 3600;

impl TwoFactor {
    /// Validates the flags.
    pub fn from_args(args: &TwoFactorArgs) -> Result<Self, ConfigError> {
        let in_range = |name: &str, value: u64, max: u64| {
            if (60..=max).contains(&value) {
                Ok(value)
            } else {
                Err(ConfigError::TwoFactor(format!(
                    "{name} must be between 60 and {max} seconds, got {value}"
                )))
            }
        };
        let issuer = args
            .two_factor_issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty());
        if issuer.is_some_and(|i| i.contains(':') || i.chars().count() > 100) {
            return Err(ConfigError::TwoFactor(
                "EDGEAUTH_TWO_FACTOR_ISSUER must be at most 100 characters, without ':'".into(),
            ));
        }
        Ok(TwoFactor {
            enabled: args.two_factor == Switch::On,
            issuer: issuer.map(str::to_string),
            pending_ttl: in_range(
                "EDGEAUTH_TWO_FACTOR_PENDING_TTL",
                args.two_factor_pending_ttl,
                MAX_CODE_TTL,
            )?,
            otp_ttl: in_range(
                "EDGEAUTH_TWO_FACTOR_OTP_TTL",
                args.two_factor_otp_ttl,
                MAX_CODE_TTL,
            )?,
            trust_device_ttl: in_range(
                "EDGEAUTH_TWO_FACTOR_TRUST_DEVICE_TTL",
                args.two_factor_trust_device_ttl,
                MAX_TRUST_TTL,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> TwoFactorArgs {
        TwoFactorArgs {
            two_factor: Switch::On,
            two_factor_issuer: None,
            two_factor_pending_ttl: 600,
            two_factor_otp_ttl: 180,
            two_factor_trust_device_ttl: 2_592_000,
        }
    }

    #[test]
    fn defaults_are_better_auths() {
        let config = TwoFactor::from_args(&args()).unwrap();
        assert!(config.enabled);
        assert_eq!(
            (config.pending_ttl, config.otp_ttl, config.trust_device_ttl),
            (600, 180, 2_592_000)
        );
    }

    #[test]
    fn refusals_name_the_variable() {
        for (change, name) in [
            (
                (|a: &mut TwoFactorArgs| a.two_factor_pending_ttl = 5) as fn(&mut TwoFactorArgs),
                "EDGEAUTH_TWO_FACTOR_PENDING_TTL",
            ),
            (
                |a| a.two_factor_otp_ttl = 7200,
                "EDGEAUTH_TWO_FACTOR_OTP_TTL",
            ),
            (
                |a| a.two_factor_trust_device_ttl = 500 * 86_400,
                "EDGEAUTH_TWO_FACTOR_TRUST_DEVICE_TTL",
            ),
            (
                |a| a.two_factor_issuer = Some("a:b".into()),
                "EDGEAUTH_TWO_FACTOR_ISSUER",
            ),
        ] {
            let mut a = args();
            change(&mut a);
            let error = TwoFactor::from_args(&a).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
