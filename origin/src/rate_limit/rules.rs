//! Which limit applies to a request: the rules each feature contributes (Better Auth's
//! `customRules`, matched as path prefixes relative to `/api/auth`), and the counters' keys.

use sha2::{Digest, Sha256};

use crate::http::extract::client_ip::ClientIp;

/// A limit: at most `max` requests while each follows the previous within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The window, in milliseconds.
    pub window_ms: i64,
    /// Requests admitted per window.
    pub max: i64,
}

impl Rule {
    /// Better Auth's default: 100 requests per 10 s.
    pub const DEFAULT: Rule = Rule {
        window_ms: 10_000,
        max: 100,
    };
    /// Better Auth's rule for sign-in, sign-up, change-password, change-email: 3 per 10 s.
    pub const STRICT: Rule = Rule {
        window_ms: 10_000,
        max: 3,
    };
}

impl Rule {
    /// Better Auth 1.7's rule for the endpoints that send mail: 3 per 60 s, so one client
    /// cannot flood an inbox (1.4 leaves them at the default).
    pub const MAIL: Rule = Rule {
        window_ms: 60_000,
        max: 3,
    };
}

/// A rule for every path (relative to `/api/auth`) starting with `prefix`: what a feature
/// contributes for its endpoints ([`crate::features::Feature::rate_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRule {
    /// The path prefix, relative to `/api/auth` (`/sign-in` covers `/sign-in/email`).
    pub prefix: &'static str,
    /// The limit for those paths.
    pub rule: Rule,
}

/// The rules in force: the features' [`PathRule`]s, with [`Rule::DEFAULT`] for every other
/// path. The longest matching prefix wins, so the order features are listed in never
/// matters.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    by_prefix: Vec<PathRule>,
}

impl Rules {
    /// The rules from every feature's contribution.
    pub fn new(rules: impl IntoIterator<Item = PathRule>) -> Self {
        let mut by_prefix: Vec<PathRule> = rules.into_iter().collect();
        by_prefix.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Rules { by_prefix }
    }

    /// The rule for a normalised path relative to `/api/auth`.
    pub fn rule_for(&self, path: &str) -> Rule {
        self.matching(path).1
    }

    /// The rule for a normalised path relative to `/api/auth`, with its name: the prefix
    /// it was contributed under, or `"default"` (the `rule` label of the refusals metric).
    pub fn matching(&self, path: &str) -> (&'static str, Rule) {
        self.by_prefix
            .iter()
            .find(|r| path.starts_with(r.prefix))
            .map_or((crate::metrics::DEFAULT_RULE, Rule::DEFAULT), |r| {
                (r.prefix, r.rule)
            })
    }

    /// Every rule's prefix.
    pub fn prefixes(&self) -> Vec<&'static str> {
        self.by_prefix.iter().map(|r| r.prefix).collect()
    }
}

/// Longest path kept in a key: longer ones (404s all) share the key of their prefix, so a
/// flood of long paths cannot make keys large.
const MAX_KEY_PATH: usize = 128;

/// The per-address key: `<address>|<path>` (Better Auth's shape).
pub fn address_key(ip: &ClientIp, path: &str) -> String {
    let mut end = path.len().min(MAX_KEY_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}|{}", ip.limit_key(), &path[..end])
}

/// Longest email kept readable in a key; longer ones are hashed.
const MAX_KEY_EMAIL: usize = 320;

/// The per-account key: `signin-failures|<lower-cased email>` (the address sign-in looks
/// up), or a SHA-256 of it for addresses too long to be real.
pub fn signin_failure_key(email: &str) -> String {
    let email = email.to_lowercase();
    if email.len() <= MAX_KEY_EMAIL {
        format!("signin-failures|{email}")
    } else {
        format!(
            "signin-failures|sha256:{}",
            hex::encode(Sha256::digest(email.as_bytes()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins() {
        let rules = Rules::new([
            PathRule {
                prefix: "/sign-in",
                rule: Rule::STRICT,
            },
            PathRule {
                prefix: "/sign-in/magic",
                rule: Rule::MAIL,
            },
        ]);
        assert_eq!(rules.rule_for("/sign-in/email"), Rule::STRICT);
        assert_eq!(rules.rule_for("/sign-in/magic-link"), Rule::MAIL);
        assert_eq!(rules.rule_for("/get-session"), Rule::DEFAULT);
        assert_eq!(rules.matching("/sign-in/email"), ("/sign-in", Rule::STRICT));
        assert_eq!(rules.matching("/get-session"), ("default", Rule::DEFAULT));
        assert_eq!(Rules::default().rule_for("/sign-in"), Rule::DEFAULT);
    }

    #[test]
    fn keys_are_bounded() {
        let ip = ClientIp::known("2001:db8::7".parse().unwrap());
        assert_eq!(
            address_key(&ip, "/sign-in/email"),
            "2001:db8::/64|/sign-in/email"
        );
        assert_eq!(address_key(&ClientIp::unknown(), "/ok"), "unknown|/ok");
        let long = format!("/{}", "a".repeat(1000));
        assert_eq!(
            address_key(&ClientIp::unknown(), &long).len(),
            "unknown|".len() + MAX_KEY_PATH
        );
    }

    #[test]
    fn signin_keys_follow_the_lookup() {
        assert_eq!(
            signin_failure_key("Ada@Example.COM"),
            "signin-failures|ada@example.com"
        );
        let long = format!("{}@example.com", "a".repeat(400));
        let key = signin_failure_key(&long);
        assert!(
            key.starts_with("signin-failures|sha256:") && key.len() < 100,
            "{key}"
        );
        assert_eq!(key, signin_failure_key(&long.to_uppercase()));
    }
}
