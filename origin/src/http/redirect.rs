//! Redirect targets (`callbackURL`, `redirectTo`): relative paths of a safe shape, or absolute
//! URLs whose parsed origin is trusted. Never a prefix or substring match.

use crate::config::{url_origin, Config};

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
        assert!(is_allowed(&c, "https://ADMIN.example.com/x"));
    }
}
