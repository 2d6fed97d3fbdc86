//! Settings of the account lifecycle (email verification, password reset, email change,
//! account deletion) and of email delivery.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{ConfigError, Environment, Switch};

/// How `POST /change-email` proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChangeEmail {
    /// Disabled: 400 `CHANGE_EMAIL_IS_DISABLED`.
    Off,
    /// A verification link goes to the new address; following it changes the email.
    VerifyNew,
    /// A verified user first confirms from the current address (Better Auth's
    /// `sendChangeEmailConfirmation`), then the new address is verified; an unverified user
    /// gets `verify-new`. The default: an attacker holding a session alone cannot move the
    /// account to an address of theirs.
    ConfirmOld,
}

/// How `POST /delete-user` proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeleteUser {
    /// Disabled: 404, as Better Auth answers without `user.deleteUser.enabled`.
    Off,
    /// Deleted at once, given the password or a fresh session.
    On,
    /// A confirmation link is mailed (`sendDeleteAccountVerification`); following it, signed
    /// in, deletes the account.
    Verify,
}

/// Options of the account lifecycle and email delivery (part of `edgeauth serve`).
#[derive(Clone, Args)]
pub struct LifecycleArgs {
    /// SMTP server for outgoing mail, as a URL: `smtps://user:pass@host:465` (TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtp://host:25` (plain, for a
    /// local relay; credentials over plain SMTP are refused in production). Unset: in
    /// development mail is printed to the log with its links; in production the email
    /// flows are off.
    #[arg(long, env = "EDGEAUTH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// A PEM file of extra certificate authorities to trust for the SMTP server's TLS
    /// certificate (a relay with a private CA); the public roots stay trusted too.
    #[arg(long, env = "EDGEAUTH_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// The sender of outgoing mail, e.g. `Example <no-reply@example.com>`.
    #[arg(
        long,
        env = "EDGEAUTH_MAIL_FROM",
        default_value = "edgeauth <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// A directory of mail templates replacing the built-in ones (`<kind>.subject`,
    /// `<kind>.txt`, `<kind>.html`; kinds: verify-email, reset-password,
    /// change-email-confirmation, delete-account). Files not present keep the built-in text.
    #[arg(long, env = "EDGEAUTH_MAIL_TEMPLATES")]
    pub mail_templates: Option<PathBuf>,

    /// The product name mail templates show as `{{app_name}}`.
    #[arg(long, env = "EDGEAUTH_APP_NAME", default_value = "edgeauth")]
    pub app_name: String,

    /// Refuse sign-in (403 `EMAIL_NOT_VERIFIED`) until the address is verified; sign-up
    /// then creates no session (Better Auth's `requireEmailVerification`).
    #[arg(
        long,
        env = "EDGEAUTH_REQUIRE_EMAIL_VERIFICATION",
        value_enum,
        default_value = "off"
    )]
    pub require_email_verification: Switch,

    /// Send the verification mail on sign-up; by default when verification is required.
    #[arg(long, env = "EDGEAUTH_VERIFICATION_ON_SIGN_UP", value_enum)]
    pub verification_on_sign_up: Option<Switch>,

    /// Send the verification mail again when an unverified user signs in (with
    /// verification required).
    #[arg(
        long,
        env = "EDGEAUTH_VERIFICATION_ON_SIGN_IN",
        value_enum,
        default_value = "off"
    )]
    pub verification_on_sign_in: Switch,

    /// Sign the user in (set the session cookie) when they follow the verification link.
    #[arg(
        long,
        env = "EDGEAUTH_AUTO_SIGN_IN_AFTER_VERIFICATION",
        value_enum,
        default_value = "off"
    )]
    pub auto_sign_in_after_verification: Switch,

    /// Lifetime of email verification links, in seconds.
    #[arg(long, env = "EDGEAUTH_VERIFICATION_EXPIRES_IN", default_value_t = 3600)]
    pub verification_expires_in: u64,

    /// Lifetime of password reset links, in seconds.
    #[arg(
        long,
        env = "EDGEAUTH_RESET_PASSWORD_EXPIRES_IN",
        default_value_t = 3600
    )]
    pub reset_password_expires_in: u64,

    /// End every session of the user when their password is reset (Better Auth's
    /// `revokeSessionsOnPasswordReset`, there off by default): whoever held a session
    /// before the reset loses it.
    #[arg(
        long,
        env = "EDGEAUTH_REVOKE_SESSIONS_ON_RESET",
        value_enum,
        default_value = "on"
    )]
    pub revoke_sessions_on_reset: Switch,

    /// Email change: `off`, `verify-new`, or `confirm-old` (confirm from the current
    /// address first).
    #[arg(
        long,
        env = "EDGEAUTH_CHANGE_EMAIL",
        value_enum,
        default_value = "confirm-old"
    )]
    pub change_email: ChangeEmail,

    /// Account deletion: `off`, `on` (password or fresh session), or `verify` (confirm
    /// by mail).
    #[arg(long, env = "EDGEAUTH_DELETE_USER", value_enum, default_value = "on")]
    pub delete_user: DeleteUser,

    /// Lifetime of account deletion links, in seconds.
    #[arg(long, env = "EDGEAUTH_DELETE_USER_EXPIRES_IN", default_value_t = 86400)]
    pub delete_user_expires_in: u64,

    /// A session younger than this (seconds) may delete its account without the password.
    #[arg(long, env = "EDGEAUTH_SESSION_FRESH_AGE", default_value_t = 86400)]
    pub session_fresh_age: u64,
}

impl fmt::Debug for LifecycleArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecycleArgs")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<redacted>"))
            .field("mail_from", &self.mail_from)
            .finish_non_exhaustive()
    }
}

/// Where mail goes.
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// An SMTP server (the URL holds credentials: never printed), and the PEM of extra
    /// certificate authorities to trust (`EDGEAUTH_SMTP_CA_FILE`).
    Smtp {
        /// `EDGEAUTH_SMTP_URL`.
        url: String,
        /// The contents of `EDGEAUTH_SMTP_CA_FILE`.
        extra_roots: Option<Vec<u8>>,
    },
    /// Development: printed to the log, links included.
    Log,
    /// Production without SMTP: no mail, and the flows that need it are off.
    Disabled,
}

impl fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MailTransport::Smtp { .. } => "Smtp(<redacted>)",
            MailTransport::Log => "Log",
            MailTransport::Disabled => "Disabled",
        })
    }
}

/// The validated lifecycle settings.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Where mail goes.
    pub transport: MailTransport,
    /// The sender.
    pub mail_from: String,
    /// Operator templates, if any.
    pub mail_templates: Option<PathBuf>,
    /// `{{app_name}}`.
    pub app_name: String,
    /// Sign-in needs a verified address.
    pub require_email_verification: bool,
    /// Mail a verification link on sign-up.
    pub verification_on_sign_up: bool,
    /// Mail a verification link on a refused (unverified) sign-in.
    pub verification_on_sign_in: bool,
    /// Set the session cookie when a verification link is followed.
    pub auto_sign_in_after_verification: bool,
    /// Seconds.
    pub verification_expires_in: u64,
    /// Seconds.
    pub reset_password_expires_in: u64,
    /// End all sessions on password reset.
    pub revoke_sessions_on_reset: bool,
    /// Email change flow.
    pub change_email: ChangeEmail,
    /// Account deletion flow.
    pub delete_user: DeleteUser,
    /// Seconds.
    pub delete_user_expires_in: u64,
    /// Seconds.
    pub session_fresh_age: u64,
}

impl Lifecycle {
    /// Validates the lifecycle options for `env`.
    pub fn from_args(args: &LifecycleArgs, env: Environment) -> Result<Self, ConfigError> {
        let production = env == Environment::Production;
        let transport = match args.smtp_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                check_smtp_url(url, production)?;
                let extra_roots = match &args.smtp_ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        ConfigError::Mail(format!("EDGEAUTH_SMTP_CA_FILE {}: {e}", path.display()))
                    })?),
                    None => None,
                };
                MailTransport::Smtp {
                    url: url.to_string(),
                    extra_roots,
                }
            }
            _ if production => MailTransport::Disabled,
            _ => MailTransport::Log,
        };
        let require = args.require_email_verification == Switch::On;
        if require && transport == MailTransport::Disabled {
            return Err(ConfigError::Mail(
                "EDGEAUTH_REQUIRE_EMAIL_VERIFICATION needs EDGEAUTH_SMTP_URL in production".into(),
            ));
        }
        if args.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Mail(format!(
                "EDGEAUTH_MAIL_FROM must be an address like `Name <user@example.com>`, got {:?}",
                args.mail_from
            )));
        }
        for (name, value) in [
            (
                "EDGEAUTH_VERIFICATION_EXPIRES_IN",
                args.verification_expires_in,
            ),
            (
                "EDGEAUTH_RESET_PASSWORD_EXPIRES_IN",
                args.reset_password_expires_in,
            ),
            (
                "EDGEAUTH_DELETE_USER_EXPIRES_IN",
                args.delete_user_expires_in,
            ),
        ] {
            if value == 0 || value > MAX_LINK_LIFETIME {
                return Err(ConfigError::Mail(format!(
                    "{name} must be between 1 and {MAX_LINK_LIFETIME} seconds"
                )));
            }
        }
        Ok(Lifecycle {
            transport,
            mail_from: args.mail_from.clone(),
            mail_templates: args.mail_templates.clone(),
            app_name: args.app_name.clone(),
            require_email_verification: require,
            verification_on_sign_up: args
                .verification_on_sign_up
                .map_or(require, |s| s == Switch::On),
            verification_on_sign_in: args.verification_on_sign_in == Switch::On,
            auto_sign_in_after_verification: args.auto_sign_in_after_verification == Switch::On,
            verification_expires_in: args.verification_expires_in,
            reset_password_expires_in: args.reset_password_expires_in,
            revoke_sessions_on_reset: args.revoke_sessions_on_reset == Switch::On,
            change_email: args.change_email,
            delete_user: args.delete_user,
            delete_user_expires_in: args.delete_user_expires_in,
            session_fresh_age: args.session_fresh_age,
        })
    }

    /// Whether mail can be sent (SMTP or the development log).
    pub fn mail_enabled(&self) -> bool {
        self.transport != MailTransport::Disabled
    }
}

/// Longest lifetime of an emailed link, in seconds (7 days).
pub const MAX_LINK_LIFETIME: u64 = 7 * 24 * 3600;

/// How an SMTP URL asks for TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://...?tls=required`: STARTTLS, refusing to go on without it.
    Required,
    /// `smtp://...?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://`: none.
    None,
}

/// The TLS mode and host of an SMTP URL, as lettre reads it.
pub fn smtp_tls(url: &str) -> Result<(SmtpTls, String), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("no host")?
        .trim_matches(['[', ']'])
        .to_string();
    let tls = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let mode = match (parsed.scheme(), tls.as_deref()) {
        ("smtps", _) => SmtpTls::Implicit,
        ("smtp", None) => SmtpTls::None,
        ("smtp", Some("required")) => SmtpTls::Required,
        ("smtp", Some("opportunistic")) => SmtpTls::Opportunistic,
        (scheme, tls) => {
            return Err(format!(
                "expected smtps://, or smtp:// with an optional ?tls=required|opportunistic; got {scheme}:// with tls={tls:?}"
            ))
        }
    };
    Ok((mode, host))
}

/// Refuses an SMTP URL lettre cannot use, and in production one that would send the
/// password where it can be read (plain SMTP, or STARTTLS only if offered).
fn check_smtp_url(url: &str, production: bool) -> Result<(), ConfigError> {
    let invalid = |why: &str| ConfigError::Mail(format!("EDGEAUTH_SMTP_URL: {why}"));
    let (mode, _) = smtp_tls(url).map_err(|e| invalid(&e))?;
    let has_password = url::Url::parse(url)
        .map(|u| u.password().is_some())
        .unwrap_or(false);
    if production && has_password && matches!(mode, SmtpTls::None | SmtpTls::Opportunistic) {
        return Err(invalid(
            "credentials over plain SMTP; use smtps:// or ?tls=required",
        ));
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| invalid(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_checked() {
        assert!(check_smtp_url("smtp://127.0.0.1:2525", true).is_ok());
        assert!(check_smtp_url("smtps://u:p@mail.example.com", true).is_ok());
        assert!(check_smtp_url("smtp://u:p@mail.example.com:587?tls=required", true).is_ok());
        assert!(check_smtp_url("smtp://u:p@localhost:2525", false).is_ok());
        assert!(check_smtp_url("smtp://u:p@mail.example.com:587", true).is_err());
        assert!(check_smtp_url("http://mail.example.com", false).is_err());
        assert!(check_smtp_url("mail.example.com", false).is_err());
        assert!(check_smtp_url("smtp://u:p@mail.example.com?tls=opportunistic", true).is_err());
        assert!(check_smtp_url("smtp://mail.example.com?tls=sometimes", false).is_err());
        let host = |url| smtp_tls(url).unwrap();
        assert_eq!(
            host("smtps://u:p@mail.example.com"),
            (SmtpTls::Implicit, "mail.example.com".to_string())
        );
        assert_eq!(
            host("smtp://127.0.0.1:2525?tls=required"),
            (SmtpTls::Required, "127.0.0.1".to_string())
        );
        assert_eq!(host("smtp://[::1]:25"), (SmtpTls::None, "::1".to_string()));
    }
}
