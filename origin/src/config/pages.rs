//! The hosted pages' settings: whether they are served, where, and how they look.

use std::path::PathBuf;

use clap::Args;

use super::{ConfigError, Switch};

/// `serve`'s flags for the hosted pages.
#[derive(Debug, Clone, Args)]
pub struct PagesArgs {
    /// Serve the hosted sign-in and account pages (`off` for apps with their own UI).
    #[arg(long, env = "EDGEAUTH_PAGES", value_enum, default_value = "on")]
    pub pages: Switch,

    /// The path the pages are served under.
    #[arg(long, env = "EDGEAUTH_PAGES_PATH", default_value = "/auth")]
    pub pages_path: String,

    /// Where a browser lands after signing in when it asked for no page (or for one that
    /// is not a safe relative path or a trusted origin).
    #[arg(long, env = "EDGEAUTH_PAGES_HOME", default_value = "/")]
    pub pages_home: String,

    /// A directory of replacement page templates (`<name>.html`, `style.css`), file by file.
    #[arg(long, env = "EDGEAUTH_PAGES_TEMPLATES")]
    pub pages_templates: Option<PathBuf>,

    /// A logo shown above every page (an https URL, or a path on this site).
    #[arg(long, env = "EDGEAUTH_PAGES_LOGO_URL")]
    pub pages_logo_url: Option<String>,

    /// The accent colour of buttons and links, `#rrggbb`.
    #[arg(long, env = "EDGEAUTH_PAGES_ACCENT", default_value = "#4338ca")]
    pub pages_accent: String,
}

/// The hosted pages, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pages {
    /// Whether they are served.
    pub enabled: bool,
    /// The path prefix, e.g. `/auth`: starts with `/`, no trailing `/`.
    pub path: String,
    /// The default landing page after sign-in.
    pub home: String,
    /// Replacement templates.
    pub templates: Option<PathBuf>,
    /// The logo's URL.
    pub logo_url: Option<String>,
    /// The accent colour, `#rrggbb`.
    pub accent: String,
}

impl Pages {
    /// Validates the flags.
    pub fn from_args(args: &PagesArgs) -> Result<Self, ConfigError> {
        let path = args.pages_path.trim_end_matches('/').to_string();
        let path_ok = path.starts_with('/')
            && path.len() > 1
            && path[1..].split('/').all(|segment| {
                !segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                    && segment != "."
                    && segment != ".."
            });
        if !path_ok || path.starts_with(edgeauth_token::wire::AUTH_PREFIX) {
            return Err(ConfigError::Pages(format!(
                "EDGEAUTH_PAGES_PATH must be a path like /auth (letters, digits, - _ .), \
                 outside /api/auth, got {:?}",
                args.pages_path
            )));
        }
        if !args.pages_home.starts_with('/') || args.pages_home.starts_with("//") {
            return Err(ConfigError::Pages(format!(
                "EDGEAUTH_PAGES_HOME must be a path on this site, got {:?}",
                args.pages_home
            )));
        }
        let accent = args.pages_accent.to_ascii_lowercase();
        if accent.len() != 7
            || !accent.starts_with('#')
            || !accent[1..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(ConfigError::Pages(format!(
                "EDGEAUTH_PAGES_ACCENT must be a colour like #4338ca, got {:?}",
                args.pages_accent
            )));
        }
        if let Some(logo) = &args.pages_logo_url {
            let safe =
                logo.starts_with("https://") || (logo.starts_with('/') && !logo.starts_with("//"));
            if !safe || logo.contains(['"', '<', '>', ' ']) {
                return Err(ConfigError::Pages(format!(
                    "EDGEAUTH_PAGES_LOGO_URL must be an https URL or a path on this site, got {logo:?}"
                )));
            }
        }
        Ok(Pages {
            enabled: args.pages == Switch::On,
            path,
            home: args.pages_home.clone(),
            templates: args.pages_templates.clone(),
            logo_url: args.pages_logo_url.clone(),
            accent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(path: &str, home: &str, accent: &str, logo: Option<&str>) -> PagesArgs {
        PagesArgs {
            pages: Switch::On,
            pages_path: path.into(),
            pages_home: home.into(),
            pages_templates: None,
            pages_logo_url: logo.map(Into::into),
            pages_accent: accent.into(),
        }
    }

    #[test]
    fn settings_are_checked() {
        let ok = Pages::from_args(&args("/auth/", "/", "#4338CA", Some("/logo.svg"))).unwrap();
        assert_eq!(ok.path, "/auth");
        assert_eq!(ok.accent, "#4338ca");
        for (path, home, accent, logo) in [
            ("auth", "/", "#4338ca", None),
            ("/", "/", "#4338ca", None),
            ("/a//b", "/", "#4338ca", None),
            ("/a/../b", "/", "#4338ca", None),
            ("/api/auth/pages", "/", "#4338ca", None),
            ("/auth", "//evil.example", "#4338ca", None),
            ("/auth", "https://evil.example", "#4338ca", None),
            ("/auth", "/", "red", None),
            ("/auth", "/", "#12345g", None),
            (
                "/auth",
                "/",
                "#4338ca",
                Some("http://insecure.example/logo.png"),
            ),
            ("/auth", "/", "#4338ca", Some("javascript:alert(1)")),
            ("/auth", "/", "#4338ca", Some("/x\" onerror=\"alert(1)")),
        ] {
            assert!(
                Pages::from_args(&args(path, home, accent, logo)).is_err(),
                "{path} {home} {accent} {logo:?}"
            );
        }
    }
}
