//! Mail templates: a subject, a plain-text body and an HTML body per kind of mail, built in
//! and replaceable file by file from `EDGEAUTH_MAIL_TEMPLATES`.
//!
//! Templates substitute `{{name}}` placeholders and nothing else. That needs no template
//! engine (no logic, loops or includes), so this is written by hand: a few lines, and values
//! are HTML-escaped in the HTML body. An unknown placeholder is refused when the templates
//! load, so an operator's typo stops the server at start-up instead of reaching users.

use std::path::Path;

use super::{MailError, MailKind};

/// Every placeholder a template may use.
pub const PLACEHOLDERS: [&str; 7] = [
    "url",
    "code",
    "name",
    "email",
    "new_email",
    "app_name",
    "expires",
];

/// The three texts of one kind of mail.
#[derive(Debug, Clone)]
struct Template {
    subject: String,
    text: String,
    html: String,
}

/// One rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line (one line).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The values substituted into a template.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    /// `{{url}}`: the link.
    pub url: &'a str,
    /// `{{code}}`: a one-time code.
    pub code: &'a str,
    /// `{{name}}`: the user's name.
    pub name: &'a str,
    /// `{{email}}`: the user's current address.
    pub email: &'a str,
    /// `{{new_email}}`: the requested new address (email change).
    pub new_email: &'a str,
    /// `{{app_name}}`.
    pub app_name: &'a str,
    /// `{{expires}}`: how long the link lives, e.g. "1 hour".
    pub expires: &'a str,
}

impl Values<'_> {
    fn get(&self, placeholder: &str) -> &str {
        match placeholder {
            "url" => self.url,
            "code" => self.code,
            "name" => self.name,
            "email" => self.email,
            "new_email" => self.new_email,
            "app_name" => self.app_name,
            "expires" => self.expires,
            _ => "",
        }
    }
}

/// The templates of every kind of mail.
#[derive(Debug, Clone)]
pub struct Templates {
    by_kind: Vec<(MailKind, Template)>,
}

fn builtin(kind: MailKind) -> Template {
    let (subject, text, html) = match kind {
        MailKind::VerifyEmail => (
            include_str!("templates/verify-email.subject"),
            include_str!("templates/verify-email.txt"),
            include_str!("templates/verify-email.html"),
        ),
        MailKind::ResetPassword => (
            include_str!("templates/reset-password.subject"),
            include_str!("templates/reset-password.txt"),
            include_str!("templates/reset-password.html"),
        ),
        MailKind::ChangeEmailConfirmation => (
            include_str!("templates/change-email-confirmation.subject"),
            include_str!("templates/change-email-confirmation.txt"),
            include_str!("templates/change-email-confirmation.html"),
        ),
        MailKind::DeleteAccount => (
            include_str!("templates/delete-account.subject"),
            include_str!("templates/delete-account.txt"),
            include_str!("templates/delete-account.html"),
        ),
        MailKind::TwoFactorCode => (
            include_str!("templates/two-factor-code.subject"),
            include_str!("templates/two-factor-code.txt"),
            include_str!("templates/two-factor-code.html"),
        ),
        MailKind::TwoFactorEnabled => (
            include_str!("templates/two-factor-enabled.subject"),
            include_str!("templates/two-factor-enabled.txt"),
            include_str!("templates/two-factor-enabled.html"),
        ),
        MailKind::TwoFactorDisabled => (
            include_str!("templates/two-factor-disabled.subject"),
            include_str!("templates/two-factor-disabled.txt"),
            include_str!("templates/two-factor-disabled.html"),
        ),
        MailKind::PasskeyAdded => (
            include_str!("templates/passkey-added.subject"),
            include_str!("templates/passkey-added.txt"),
            include_str!("templates/passkey-added.html"),
        ),
        MailKind::PasskeyRemoved => (
            include_str!("templates/passkey-removed.subject"),
            include_str!("templates/passkey-removed.txt"),
            include_str!("templates/passkey-removed.html"),
        ),
    };
    Template {
        subject: subject.to_string(),
        text: text.to_string(),
        html: html.to_string(),
    }
}

impl Templates {
    /// The built-in templates, each file replaced by `<dir>/<kind>.<ext>` when it exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, MailError> {
        let mut by_kind = Vec::new();
        for kind in MailKind::ALL {
            let mut template = builtin(kind);
            if let Some(dir) = dir {
                for (ext, slot) in [
                    ("subject", &mut template.subject),
                    ("txt", &mut template.text),
                    ("html", &mut template.html),
                ] {
                    let path = dir.join(format!("{}.{ext}", kind.name()));
                    match std::fs::read_to_string(&path) {
                        Ok(text) => *slot = text,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(MailError::Template(format!("{}: {e}", path.display())))
                        }
                    }
                }
            }
            for (what, text) in [
                ("subject", &template.subject),
                ("txt", &template.text),
                ("html", &template.html),
            ] {
                check_placeholders(text)
                    .map_err(|e| MailError::Template(format!("{}.{what}: {e}", kind.name())))?;
            }
            by_kind.push((kind, template));
        }
        Ok(Templates { by_kind })
    }

    /// Renders `kind` with `values`.
    pub fn render(&self, kind: MailKind, values: &Values<'_>) -> Rendered {
        let template = self
            .by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| builtin(kind));
        let subject = substitute(&template.subject, |p| values.get(p).to_string());
        Rendered {
            // One line: a template's trailing newline or a value's line break never splits it.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: substitute(&template.text, |p| values.get(p).to_string()),
            html: substitute(&template.html, |p| escape_html(values.get(p))),
        }
    }
}

/// Each `{{ placeholder }}` in `template` replaced by `value(placeholder)`.
fn substitute(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 128);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&value(after[..end].trim()));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn check_placeholders(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unclosed `{{`".to_string())?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{{{name}}}}} (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            url: "https://a.example/api/auth/verify-email?token=t&callbackURL=%2F",
            code: "123456",
            name: "<Eve & \"Mallory\">",
            email: "eve@example.com",
            new_email: "",
            app_name: "Example",
            expires: "1 hour",
        }
    }

    #[test]
    fn built_in_templates_render_every_kind() {
        let templates = Templates::load(None).unwrap();
        for kind in MailKind::ALL {
            let mail = templates.render(kind, &values());
            assert!(!mail.subject.contains('\n'), "{}", mail.subject);
            assert!(mail.subject.contains("Example"), "{}", mail.subject);
            assert!(mail.text.contains("<Eve & \"Mallory\">"), "{kind:?}");
            assert!(!mail.text.contains("{{"), "{kind:?}");
            if kind == MailKind::TwoFactorCode {
                // The code mail carries a code, not a link.
                assert!(mail.text.contains("123456") && mail.html.contains("123456"));
                continue;
            }
            assert!(mail.text.contains(values().url), "{kind:?}");
            // In HTML the link's `&` and the name's markup are escaped.
            assert!(
                mail.html.contains("token=t&amp;callbackURL=%2F"),
                "{kind:?}"
            );
            assert!(mail.html.contains("&lt;Eve &amp; &quot;Mallory&quot;&gt;"));
        }
    }

    #[test]
    fn operator_templates_replace_files_and_typos_are_refused() {
        let dir = std::env::temp_dir().join(format!("edgeauth-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("reset-password.txt"),
            "Reset: {{ url }} ({{app_name}})",
        )
        .unwrap();
        let templates = Templates::load(Some(&dir)).unwrap();
        let mail = templates.render(MailKind::ResetPassword, &values());
        assert_eq!(mail.text, format!("Reset: {} (Example)", values().url));
        // The files not provided keep the built-in text.
        assert!(mail.subject.starts_with("Reset your Example password"));
        std::fs::write(dir.join("verify-email.subject"), "Hi {{nmae}}").unwrap();
        let err = Templates::load(Some(&dir)).unwrap_err().to_string();
        assert!(
            err.contains("verify-email.subject") && err.contains("nmae"),
            "{err}"
        );
        std::fs::write(dir.join("verify-email.subject"), "Hi {{name").unwrap();
        assert!(Templates::load(Some(&dir)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
