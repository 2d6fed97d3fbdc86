//! Passkeys' settings (the `@better-auth/passkey` plugin's options).

use clap::Args;

use super::{url_origin, ConfigError, Switch};

/// `serve`'s flags for passkeys.
#[derive(Debug, Clone, Args)]
pub struct PasskeyArgs {
    /// Passkeys (WebAuthn): registration from the account, sign-in without a password
    /// (`@better-auth/passkey`). Off by default, as Better Auth without the plugin.
    #[arg(long, env = "EDGEAUTH_PASSKEY", value_enum, default_value = "off")]
    pub passkey: Switch,

    /// The relying party id: the site's registrable domain (default: the host of
    /// `BETTER_AUTH_URL`, as Better Auth's default).
    #[arg(long, env = "EDGEAUTH_PASSKEY_RP_ID")]
    pub passkey_rp_id: Option<String>,

    /// The relying party's name shown by authenticators (default: `EDGEAUTH_APP_NAME`).
    #[arg(long, env = "EDGEAUTH_PASSKEY_RP_NAME")]
    pub passkey_rp_name: Option<String>,

    /// The origins a passkey ceremony may come from, comma-separated (default: the origin of
    /// `BETTER_AUTH_URL`). Never taken from the request.
    #[arg(long, env = "EDGEAUTH_PASSKEY_ORIGINS", value_delimiter = ',')]
    pub passkey_origins: Vec<String>,
}

/// Passkeys, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    /// Whether the endpoints and the pages' passkey controls are served.
    pub enabled: bool,
    /// The relying party id.
    pub rp_id: String,
    /// The relying party's name.
    pub rp_name: String,
    /// The allowed origins, exact.
    pub origins: Vec<String>,
}

impl Passkey {
    /// Validates the flags against the base URL and the application's name.
    pub fn from_args(
        args: &PasskeyArgs,
        base_url: &str,
        app_name: &str,
    ) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Passkey(message);
        let base_host = url::Url::parse(base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let rp_id = args
            .passkey_rp_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map_or(base_host, str::to_ascii_lowercase);
        let rp_id_ok = !rp_id.is_empty()
            && rp_id.len() <= 253
            && rp_id.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if args.passkey == Switch::On && rp_id.parse::<std::net::IpAddr>().is_ok() {
            return Err(invalid(format!(
                "EDGEAUTH_PASSKEY_RP_ID must be a domain name, and browsers refuse an IP address \
                 ({rp_id}): set it (and BETTER_AUTH_URL) to localhost in development"
            )));
        }
        if args.passkey == Switch::On && !rp_id_ok {
            return Err(invalid(format!(
                "EDGEAUTH_PASSKEY_RP_ID must be a domain name (e.g. example.com), got {rp_id:?}"
            )));
        }
        let mut origins = Vec::new();
        for entry in args
            .passkey_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
        {
            let origin = url_origin(entry).ok_or_else(|| {
                invalid(format!(
                    "EDGEAUTH_PASSKEY_ORIGINS entries must be http(s) origins, got {entry:?}"
                ))
            })?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.is_empty() {
            origins.extend(url_origin(base_url));
        }
        if args.passkey == Switch::On {
            for origin in &origins {
                let host = url::Url::parse(origin)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                    return Err(invalid(format!(
                        "EDGEAUTH_PASSKEY_ORIGINS: {origin} is not on the relying party's \
                         domain {rp_id} (EDGEAUTH_PASSKEY_RP_ID)"
                    )));
                }
            }
        }
        Ok(Passkey {
            enabled: args.passkey == Switch::On,
            rp_id,
            rp_name: args
                .passkey_rp_name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .unwrap_or(app_name)
                .to_string(),
            origins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(rp_id: Option<&str>, origins: &[&str]) -> PasskeyArgs {
        PasskeyArgs {
            passkey: Switch::On,
            passkey_rp_id: rp_id.map(str::to_string),
            passkey_rp_name: None,
            passkey_origins: origins.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_come_from_the_base_url() {
        let config =
            Passkey::from_args(&args(None, &[]), "https://auth.example.com/x", "App").unwrap();
        assert_eq!(config.rp_id, "auth.example.com");
        assert_eq!(config.rp_name, "App");
        assert_eq!(config.origins, ["https://auth.example.com"]);
    }

    #[test]
    fn origins_must_be_on_the_rp_domain() {
        let ok = Passkey::from_args(
            &args(
                Some("example.com"),
                &["https://app.example.com", "https://example.com"],
            ),
            "https://auth.example.com",
            "App",
        )
        .unwrap();
        assert_eq!(ok.origins.len(), 2);
        for (rp, origins) in [
            (Some("example.com"), vec!["https://evil.com"]),
            (Some("example.com"), vec!["https://notexample.com"]),
            (Some("exa mple.com"), vec![]),
            (None, vec!["ftp://example.com"]),
            (Some("127.0.0.1"), vec![]),
        ] {
            let error = Passkey::from_args(&args(rp, &origins), "https://example.com", "App");
            assert!(error.is_err(), "{rp:?} {origins:?}");
            assert!(error.unwrap_err().to_string().contains("EDGEAUTH_PASSKEY"));
        }
    }
}
