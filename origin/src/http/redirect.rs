//! Redirect targets (`callbackURL`, `redirectTo`): relative paths of a safe shape, or absolute
//! URLs whose parsed origin is trusted. Never a prefix or substring match.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::config::{url_origin, Config};

/// A 302 to `location` (an already validated target), as Better Auth's `ctx.redirect`.
pub fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        // Validated targets are ASCII without control characters; never reached.
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `target` with `name=value` appended to its query (`value` percent-encoded).
/// A fragment stays last.
pub fn with_query(target: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match target.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut out = format!(
        "{base}{separator}{name}={}",
        edgeauth_token::cookie::encode_uri_component(value)
    );
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Whether `target` may be redirected to. Relative paths follow Better Auth's pattern
/// `^/(?!/|\\|%2f|%5c)[\w\-.+/@]*(\?[\w\-.+/=&%@]*)?$`: they start with one `/`, never `//`,
/// `/\` or an encoded slash or backslash, and use a small character set.
pub fn is_allowed(config: &Config, target: &str) -> bool {
    if target.starts_with('/') {
        return is_safe_relative(target);
    }
    url_origin(target).is_some_and(|origin| config.trusted_origins.contains(&origin))
        && !target.contains('\\')
}

fn is_safe_relative(target: &str) -> bool {
    let rest = &target[1..];
    let lower = rest.to_ascii_lowercase();
    if rest.starts_with('/')
        || rest.starts_with('\\')
        || lower.starts_with("%2f")
        || lower.starts_with("%5c")
    {
        return false;
    }
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    path.chars().all(|c| word(c) || "-.+/@".contains(c))
        && query.is_none_or(|q| q.chars().all(|c| word(c) || "-.+/=&%@".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ServeArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn config() -> Config {
        let cli = Cli::parse_from([
            "x",
            "--base-url",
            "https://app.example.com",
            "--trusted-origins",
            "https://admin.example.com",
        ]);
        Config::from_args(&cli.serve).unwrap()
    }

    #[test]
    fn relative_paths_of_a_safe_shape_pass() {
        let c = config();
        for ok in ["/", "/dashboard", "/a/b-c_d.e+f@g", "/cb?x=1&y=%20"] {
            assert!(is_allowed(&c, ok), "{ok}");
        }
    }

    #[test]
    fn open_redirect_tricks_are_refused() {
        let c = config();
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/%2fevil.example",
            "/%5Cevil.example",
            "https:evil.example",
            "https://evil.example",
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://evil.example#@app.example.com",
            "javascript:alert(1)",
            "/a b",
            "/<script>",
            "http://app.example.com/",
        ] {
            assert!(!is_allowed(&c, bad), "{bad}");
        }
        assert!(is_allowed(&c, "https://app.example.com/cb"));
        assert_eq!(with_query("/r", "token", "a b"), "/r?token=a%20b");
        assert_eq!(with_query("/r?x=1", "error", "E"), "/r?x=1&error=E");
        assert_eq!(
            with_query("https://app.example.com/r#top", "error", "E"),
            "https://app.example.com/r?error=E#top"
        );
        assert!(is_allowed(&c, "https://ADMIN.example.com/x"));
    }
}
