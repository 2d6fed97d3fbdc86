//! The page templates: built in, replaceable file by file, rendered by minijinja with HTML
//! escaping on.
//!
//! An operator's directory (`EDGEAUTH_PAGES_TEMPLATES`) may hold any of [`TEMPLATES`] by
//! name, and `style.css`; what it lacks stays built in. Every template is compiled and
//! rendered once with a sample of what the pages pass at start-up, so a syntax error or an
//! undefined value printed (a misspelt variable) stops the server instead of reaching a
//! visitor.

use std::path::Path;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde_json::json;

use crate::config::{ConfigError, Pages};

/// Every template, by name, with its built-in text.
pub const TEMPLATES: [(&str, &str); 17] = [
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("sign-in.html", include_str!("templates/sign-in.html")),
    ("sign-up.html", include_str!("templates/sign-up.html")),
    ("two-factor.html", include_str!("templates/two-factor.html")),
    (
        "forgot-password.html",
        include_str!("templates/forgot-password.html"),
    ),
    (
        "reset-password.html",
        include_str!("templates/reset-password.html"),
    ),
    (
        "verify-email.html",
        include_str!("templates/verify-email.html"),
    ),
    ("account.html", include_str!("templates/account.html")),
    (
        "account-profile.html",
        include_str!("templates/account-profile.html"),
    ),
    (
        "account-email.html",
        include_str!("templates/account-email.html"),
    ),
    (
        "account-password.html",
        include_str!("templates/account-password.html"),
    ),
    (
        "account-sessions.html",
        include_str!("templates/account-sessions.html"),
    ),
    (
        "account-delete.html",
        include_str!("templates/account-delete.html"),
    ),
    (
        "account-two-factor.html",
        include_str!("templates/account-two-factor.html"),
    ),
    (
        "account-passkeys.html",
        include_str!("templates/account-passkeys.html"),
    ),
    (
        "account-sign-in-methods.html",
        include_str!("templates/account-sign-in-methods.html"),
    ),
];

const STYLE: &str = include_str!("templates/style.css");

/// The compiled templates and the stylesheet.
pub struct Renderer {
    env: Environment<'static>,
    css: String,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

fn read_override(dir: Option<&Path>, name: &str) -> Result<Option<String>, ConfigError> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::Pages(format!(
            "cannot read page template {}: {e}",
            path.display()
        ))),
    }
}

/// The accent for dark backgrounds: the configured colour mixed halfway with white.
fn lighten(accent: &str) -> String {
    let channel = |i: usize| {
        accent
            .get(i..i + 2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .map_or(255, |c| c + (255 - c) / 2)
    };
    format!("#{:02x}{:02x}{:02x}", channel(1), channel(3), channel(5))
}

impl Renderer {
    /// Compiles the templates (the operator's where they exist) and checks each renders.
    pub fn load(pages: &Pages) -> Result<Self, ConfigError> {
        let dir = pages.templates.as_deref();
        if let Some(dir) = dir {
            if !dir.is_dir() {
                return Err(ConfigError::Pages(format!(
                    "EDGEAUTH_PAGES_TEMPLATES is not a directory: {}",
                    dir.display()
                )));
            }
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, builtin) in TEMPLATES {
            let text = read_override(dir, name)?.unwrap_or_else(|| builtin.to_string());
            env.add_template_owned(name, text).map_err(|e| {
                ConfigError::Pages(format!("page template {name} does not compile: {e}"))
            })?;
        }
        let style = read_override(dir, "style.css")?.unwrap_or_else(|| STYLE.to_string());
        let css = format!(
            ":root {{ --accent: {}; --accent-dark: {}; }}\n{style}",
            pages.accent,
            lighten(&pages.accent)
        );
        let renderer = Renderer { env, css };
        renderer.check()?;
        Ok(renderer)
    }

    /// The stylesheet, the accent colour included.
    pub fn css(&self) -> &str {
        &self.css
    }

    /// Renders page `name` with `context`.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(Value::from(Serde(context))))
            .map_err(|e| {
                // minijinja's own message names the outer template only: add the causes
                // (an error inside an included section), so an operator sees where it is.
                let mut message = format!("page template {name}: {e:#}");
                let mut cause = std::error::Error::source(&e);
                while let Some(inner) = cause {
                    message.push_str(&format!(": {inner:#}"));
                    cause = inner.source();
                }
                message
            })
    }

    /// Renders every page with a sample of what the handlers pass.
    fn check(&self) -> Result<(), ConfigError> {
        let user = json!({ "name": "Ada", "email": "ada@example.com", "emailVerified": true });
        let session = json!({
            "id": "s1", "device": "Firefox on Linux", "created": "2026-01-01 10:00 UTC",
            "ip": "192.0.2.1", "current": true,
        });
        for (page, extra) in [
            ("sign-in.html", json!({})),
            (
                "sign-in.html",
                json!({ "passkeys_enabled": true, "landing": "/" }),
            ),
            ("sign-up.html", json!({ "done": false })),
            ("sign-up.html", json!({ "done": true })),
            ("forgot-password.html", json!({ "sent": false })),
            ("forgot-password.html", json!({ "sent": true })),
            ("reset-password.html", json!({ "token": "t" })),
            ("reset-password.html", json!({ "token": "" })),
            ("verify-email.html", json!({ "message": "ok" })),
            (
                "two-factor.html",
                json!({ "method": "totp", "can_email": true, "callback_query_and": "" }),
            ),
            (
                "two-factor.html",
                json!({ "method": "backup", "callback_query_and": "" }),
            ),
            (
                "two-factor.html",
                json!({ "method": "email", "email": "a@b.c", "callback_query_and": "" }),
            ),
            (
                "account.html",
                json!({
                    "user": user, "sessions": [session], "sections": super::account::SECTIONS,
                    "two_factor": {
                        "enabled": false,
                        "enrolment": { "qr": "<svg></svg>", "secret": "ABCD EFGH" },
                        "codes": ["abcde-12345"], "codes_href": "data:text/plain,abcde-12345",
                    },
                    "methods": [
                        { "label": "Password", "provider": null, "account": null, "linked": true, "created": null },
                        { "label": "corp", "provider": "corp", "account": "s1", "linked": true, "created": "2026-01-01 00:00 UTC" },
                        { "label": "other", "provider": "other", "account": null, "linked": false, "created": null },
                    ],
                    "can_unlink": true,
                    "has_password": true, "fresh_minutes": 5,
                }),
            ),
            (
                "account.html",
                json!({
                    "user": user, "sessions": [session], "sections": super::account::SECTIONS,
                    "two_factor": { "enabled": true },
                    "passkeys_enabled": true,
                    "passkeys": [
                        { "id": "p1", "name": "Laptop", "created": "2026-01-01 00:00 UTC", "last_used": null },
                        { "id": "p2", "name": "Key", "created": "2026-01-01 00:00 UTC", "last_used": "2026-01-02 00:00 UTC" },
                    ],
                    "methods": [
                        { "label": "corp", "provider": "corp", "account": "s1", "linked": true, "created": "2026-01-01 00:00 UTC" },
                    ],
                    "can_unlink": false,
                    "has_password": false, "fresh_minutes": 5,
                }),
            ),
            (
                "account.html",
                json!({
                    "user": user, "sessions": [session], "sections": super::account::SECTIONS,
                    "two_factor": { "enabled": false },
                    "methods": [
                        { "label": "corp", "provider": "corp", "account": "s1", "linked": true, "created": "2026-01-01 00:00 UTC" },
                    ],
                    "can_unlink": false, "passkeys": [],
                    "has_password": false, "fresh_minutes": 5,
                }),
            ),
        ] {
            let mut context = sample_context();
            if let (Some(base), Some(extra)) = (context.as_object_mut(), extra.as_object()) {
                base.extend(extra.clone());
            }
            self.render(page, &context).map_err(ConfigError::Pages)?;
        }
        Ok(())
    }
}

/// What every page gets (see [`super::Context`]), with sample values.
fn sample_context() -> serde_json::Value {
    json!({
        "title": "Sample", "app_name": "edgeauth", "logo_url": null, "prefix": "/auth",
        "csrf": "c", "callback": "", "callback_query": "", "notice": null, "error": null,
        "values": { "email": "", "name": "", "newEmail": "" }, "errors": {}, "wide": false,
        "password_min": 8, "passkeys_enabled": false, "api": "/api/auth", "landing": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(templates: Option<&Path>) -> Pages {
        Pages {
            enabled: true,
            path: "/auth".into(),
            home: "/".into(),
            templates: templates.map(Path::to_path_buf),
            logo_url: None,
            accent: "#4338ca".into(),
        }
    }

    #[test]
    fn built_in_templates_render_and_escape() {
        let renderer = Renderer::load(&pages(None)).unwrap();
        let mut context = sample_context();
        context["values"] = json!({ "email": "\"><script>alert(1)</script>" });
        let html = renderer.render("sign-in.html", &context).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(renderer
            .css()
            .starts_with(":root { --accent: #4338ca; --accent-dark: #a19be4; }"));
    }

    #[test]
    fn operator_templates_replace_file_by_file_and_typos_stop_start_up() {
        let dir = std::env::temp_dir().join(format!(
            "edgeauth-pages-{}-{}",
            std::process::id(),
            crate::ids::random_string(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("verify-email.html"),
            "{% extends \"base.html\" %}{% block content %}<p class=mine>{{ message }}</p>{% endblock %}",
        )
        .unwrap();
        std::fs::write(dir.join("style.css"), "body { color: teal; }").unwrap();
        let renderer = Renderer::load(&pages(Some(&dir))).unwrap();
        let mut context = sample_context();
        context["message"] = json!("hello");
        let html = renderer.render("verify-email.html", &context).unwrap();
        assert!(html.contains("<p class=mine>hello</p>"), "{html}");
        assert!(renderer.css().ends_with("body { color: teal; }"));
        // A misspelt variable is refused when the templates load.
        std::fs::write(dir.join("verify-email.html"), "{{ mesage }}").unwrap();
        let err = Renderer::load(&pages(Some(&dir))).unwrap_err().to_string();
        assert!(err.contains("verify-email.html"), "{err}");
        // So is a syntax error.
        std::fs::write(dir.join("verify-email.html"), "{% if %}").unwrap();
        let err = Renderer::load(&pages(Some(&dir))).unwrap_err().to_string();
        assert!(err.contains("does not compile"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
