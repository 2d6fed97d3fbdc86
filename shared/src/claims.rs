//! The validation policy and the claims of a verified token.
//!
//! [`Validation`] is a plain struct with documented defaults. [`VerifiedClaims`] can only be
//! built by [`crate::UntrustedToken::verify`], after the signature has verified and every rule
//! here has passed; nothing else in the crate hands out claims.

use alloc::string::String;

use serde_json::{Map, Value};

use crate::error::ClaimError;

/// Default cap on the compact token's length, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default clock leeway in seconds, applied to `exp`, `nbf` and `iat`.
///
/// Not zero: the edge checks tokens minted a moment ago on another machine, and a clock that
/// is one second behind must not see a fresh token as "issued in the future".
pub const DEFAULT_LEEWAY: u64 = 30;
/// Default maximum token lifetime in seconds (24 hours). Better Auth mints 15-minute tokens.
pub const DEFAULT_MAX_LIFETIME: u64 = 24 * 60 * 60;
/// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// What a token must satisfy besides its signature.
///
/// ```
/// use edgeauth_token::Validation;
/// let rules = Validation::new("https://auth.example.com", "https://auth.example.com")
///     .with_leeway(5);
/// assert_eq!(rules.leeway, 5);
/// assert_eq!(rules.max_token_len, 8192);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// `iss` must equal this exactly (Better Auth: the base URL's origin).
    pub issuer: String,
    /// `aud` (a string, or an array of strings) must contain this exactly.
    pub audience: String,
    /// When set, the header's `typ` must be this media type (case-insensitive, with an
    /// optional `application/` prefix). When unset, `typ` is optional but must be a string.
    pub typ: Option<String>,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. Default [`DEFAULT_LEEWAY`].
    pub leeway: u64,
    /// Longest lifetime accepted, in seconds: `exp - iat`, and `exp - now`. Default
    /// [`DEFAULT_MAX_LIFETIME`].
    pub max_lifetime: u64,
    /// Longest compact token accepted, in bytes. Default [`DEFAULT_MAX_TOKEN_LEN`].
    pub max_token_len: usize,
}

impl Validation {
    /// A policy for tokens from `issuer` meant for `audience`, with the default limits.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            issuer: issuer.into(),
            audience: audience.into(),
            typ: None,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// Requires the header's `typ` to be this media type.
    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Sets the clock leeway in seconds.
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Sets the maximum token lifetime in seconds.
    pub fn with_max_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// Sets the maximum compact token length in bytes.
    pub fn with_max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }
}

/// The claims of a token whose signature verified and whose claims passed [`Validation`].
///
/// Unknown claims (Better Auth's user fields, a session id) are kept as they were sent.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedClaims {
    claims: Map<String, Value>,
    kid: String,
    expires_at: u64,
    issued_at: Option<u64>,
    not_before: Option<u64>,
}

impl VerifiedClaims {
    /// `sub`: the user id.
    pub fn subject(&self) -> &str {
        // Validated to be a string before construction.
        self.get_str("sub").unwrap_or_default()
    }

    /// `exp`, in unix seconds (rounded down when the token sent a fraction).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// `iat`, in unix seconds, when present.
    pub fn issued_at(&self) -> Option<u64> {
        self.issued_at
    }

    /// `nbf`, in unix seconds, when present.
    pub fn not_before(&self) -> Option<u64> {
        self.not_before
    }

    /// The `kid` of the key that verified the token.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// `sid`: the session the token was minted for, when the issuer names it.
    pub fn session_id(&self) -> Option<&str> {
        self.get_str("sid")
    }

    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// A string claim by name (`None` when absent or not a string).
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// All claims, in the order the token listed them.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// All claims, owned.
    pub fn into_map(self) -> Map<String, Value> {
        self.claims
    }
}

/// Applies `rules` to a payload whose signature has already verified.
pub(crate) fn validate(
    payload: Value,
    kid: &str,
    rules: &Validation,
    now: u64,
) -> Result<VerifiedClaims, ClaimError> {
    let Value::Object(claims) = payload else {
        return Err(ClaimError::Invalid("payload"));
    };

    let expires_at =
        numeric_date(&claims, "exp", Round::Down)?.ok_or(ClaimError::Missing("exp"))?;
    let not_before = numeric_date(&claims, "nbf", Round::Up)?;
    let issued_at = numeric_date(&claims, "iat", Round::Up)?;

    match claims.get("sub") {
        None => return Err(ClaimError::Missing("sub")),
        Some(Value::String(s)) if !s.is_empty() && !s.chars().any(char::is_control) => {}
        Some(_) => return Err(ClaimError::Invalid("sub")),
    }
    if let Some(sid) = claims.get("sid") {
        if !sid.is_string() {
            return Err(ClaimError::Invalid("sid"));
        }
    }

    match claims.get("iss") {
        None => return Err(ClaimError::Missing("iss")),
        Some(Value::String(iss)) if *iss == rules.issuer => {}
        Some(_) => return Err(ClaimError::Issuer),
    }
    audience_matches(claims.get("aud"), &rules.audience)?;

    let leeway = rules.leeway;
    if now >= expires_at.saturating_add(leeway) {
        return Err(ClaimError::Expired);
    }
    if let Some(nbf) = not_before {
        if nbf > now.saturating_add(leeway) {
            return Err(ClaimError::NotYetValid);
        }
    }
    if let Some(iat) = issued_at {
        if iat > now.saturating_add(leeway) {
            return Err(ClaimError::IssuedInFuture);
        }
        if expires_at.saturating_sub(iat) > rules.max_lifetime {
            return Err(ClaimError::LifetimeTooLong);
        }
    }
    if expires_at
        > now
            .saturating_add(rules.max_lifetime)
            .saturating_add(leeway)
    {
        return Err(ClaimError::LifetimeTooLong);
    }

    Ok(VerifiedClaims {
        claims,
        kid: kid.into(),
        expires_at,
        issued_at,
        not_before,
    })
}

/// Whether the header's `typ` is the media type `expected` (RFC 7515 4.1.9: compare
/// case-insensitively, and a value without `/` means `application/<value>`).
pub(crate) fn typ_matches(typ: &str, expected: &str) -> bool {
    fn strip(t: &str) -> &str {
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
            _ => t,
        }
    }
    strip(typ).eq_ignore_ascii_case(strip(expected))
}

enum Round {
    /// For `exp`: a fractional expiry ends at the whole second before it.
    Down,
    /// For `nbf` and `iat`: a fractional start begins at the next whole second.
    Up,
}

/// Reads a NumericDate: a JSON number in `0..=MAX_NUMERIC_DATE`. Fractions are accepted
/// (RFC 7519 allows them) and rounded toward the stricter side. A wrong type is an error,
/// never "claim absent".
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
    round: Round,
) -> Result<Option<u64>, ClaimError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = value else {
        return Err(ClaimError::Invalid(name));
    };
    let seconds = if let Some(whole) = n.as_u64() {
        whole
    } else {
        let Some(f) = n.as_f64().filter(|f| f.is_finite() && *f >= 0.0) else {
            return Err(ClaimError::Invalid(name));
        };
        if f > MAX_NUMERIC_DATE as f64 {
            return Err(ClaimError::Invalid(name));
        }
        // In range and non-negative: the casts below are exact for whole seconds.
        let floor = f as u64;
        match round {
            Round::Down => floor,
            Round::Up if (floor as f64) < f => floor + 1,
            Round::Up => floor,
        }
    };
    if seconds > MAX_NUMERIC_DATE {
        return Err(ClaimError::Invalid(name));
    }
    Ok(Some(seconds))
}

fn audience_matches(aud: Option<&Value>, expected: &str) -> Result<(), ClaimError> {
    match aud {
        None => Err(ClaimError::Missing("aud")),
        Some(Value::String(a)) if a == expected => Ok(()),
        Some(Value::Array(items)) => {
            // Every element must be a string; one odd element voids the whole claim.
            if items.iter().any(|item| !item.is_string()) {
                return Err(ClaimError::Invalid("aud"));
            }
            if items.iter().any(|item| item.as_str() == Some(expected)) {
                Ok(())
            } else {
                Err(ClaimError::Audience)
            }
        }
        Some(Value::String(_)) => Err(ClaimError::Audience),
        Some(_) => Err(ClaimError::Invalid("aud")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn rules() -> Validation {
        Validation::new("https://a.example", "https://a.example")
    }

    fn base() -> Value {
        json!({"sub":"u1","iss":"https://a.example","aud":"https://a.example","iat":NOW,"exp":NOW+900})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = base();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn check(v: Value) -> Result<VerifiedClaims, ClaimError> {
        validate(v, "k", &rules(), NOW)
    }

    #[test]
    fn accepts_a_better_auth_payload() {
        let c = check(base()).unwrap();
        assert_eq!(c.subject(), "u1");
        assert_eq!(c.expires_at(), NOW + 900);
        assert_eq!(c.issued_at(), Some(NOW));
        assert_eq!(c.key_id(), "k");
    }

    #[test]
    fn time_claims_must_be_numbers_in_range() {
        for name in ["exp", "nbf", "iat"] {
            for bad in [
                json!("1800000900"),
                json!(true),
                json!(null),
                json!({}),
                json!([NOW]),
                json!(-1),
                json!(1e20),
                json!(-0.5),
            ] {
                assert_eq!(
                    check(with(name, bad.clone())).unwrap_err(),
                    ClaimError::Invalid(name),
                    "{name} = {bad}"
                );
            }
        }
    }

    #[test]
    fn exp_is_required_and_enforced_with_leeway() {
        assert_eq!(
            check(without("exp")).unwrap_err(),
            ClaimError::Missing("exp")
        );
        let leeway = rules().leeway;
        assert!(check(with("exp", json!(NOW - leeway + 1))).is_ok());
        assert_eq!(
            check(with("exp", json!(NOW - leeway))).unwrap_err(),
            ClaimError::Expired
        );
        assert_eq!(
            check(with("exp", json!(0))).unwrap_err(),
            ClaimError::Expired
        );
        // A fractional expiry rounds down.
        let frac = (NOW - leeway) as f64 + 0.9;
        assert_eq!(
            check(with("exp", json!(frac))).unwrap_err(),
            ClaimError::Expired
        );
    }

    #[test]
    fn nbf_and_iat_in_the_future_are_rejected_beyond_leeway() {
        let leeway = rules().leeway;
        assert!(check(with("nbf", json!(NOW + leeway))).is_ok());
        assert_eq!(
            check(with("nbf", json!(NOW + leeway + 1))).unwrap_err(),
            ClaimError::NotYetValid
        );
        assert_eq!(
            check(with("iat", json!(NOW + leeway + 1))).unwrap_err(),
            ClaimError::IssuedInFuture
        );
        let frac = (NOW + leeway) as f64 + 0.1;
        assert_eq!(
            check(with("iat", json!(frac))).unwrap_err(),
            ClaimError::IssuedInFuture
        );
    }

    #[test]
    fn excessive_lifetime_is_rejected() {
        let max = rules().max_lifetime;
        assert_eq!(
            check(with("exp", json!(NOW + max + 1))).unwrap_err(),
            ClaimError::LifetimeTooLong
        );
        let mut no_iat = without("iat");
        no_iat["exp"] = json!(NOW + max + rules().leeway + 1);
        assert_eq!(check(no_iat).unwrap_err(), ClaimError::LifetimeTooLong);
    }

    #[test]
    fn issuer_is_exact() {
        assert_eq!(
            check(without("iss")).unwrap_err(),
            ClaimError::Missing("iss")
        );
        for bad in [
            json!("https://a.example/"),
            json!("https://A.example"),
            json!("https://a.exampl"),
            json!("https://a.example.evil"),
            json!(["https://a.example"]),
            json!(null),
        ] {
            assert_eq!(
                check(with("iss", bad.clone())).unwrap_err(),
                ClaimError::Issuer,
                "{bad}"
            );
        }
    }

    #[test]
    fn audience_string_or_array_containing_ours() {
        assert!(check(with("aud", json!(["x", "https://a.example"]))).is_ok());
        assert_eq!(
            check(without("aud")).unwrap_err(),
            ClaimError::Missing("aud")
        );
        for bad in [
            json!(""),
            json!([]),
            json!(["x"]),
            json!("https://a.example/"),
            json!("https://a.exam"),
        ] {
            assert_eq!(
                check(with("aud", bad.clone())).unwrap_err(),
                ClaimError::Audience,
                "{bad}"
            );
        }
        for bad in [
            json!([["https://a.example"]]),
            json!({"aud":"https://a.example"}),
            json!(null),
            json!(["https://a.example", 1]),
            json!(1),
        ] {
            assert_eq!(
                check(with("aud", bad.clone())).unwrap_err(),
                ClaimError::Invalid("aud"),
                "{bad}"
            );
        }
    }

    #[test]
    fn subject_is_a_clean_nonempty_string() {
        assert_eq!(
            check(without("sub")).unwrap_err(),
            ClaimError::Missing("sub")
        );
        for bad in [
            json!(""),
            json!("a\u{0}b"),
            json!(1),
            json!(null),
            json!(["u1"]),
        ] {
            assert_eq!(
                check(with("sub", bad.clone())).unwrap_err(),
                ClaimError::Invalid("sub"),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_claims_are_preserved_in_order() {
        let mut v = base();
        v["email"] = json!("a@b.c");
        v["emailVerified"] = json!(false);
        v["sid"] = json!("s1");
        let c = check(v).unwrap();
        assert_eq!(c.get_str("email"), Some("a@b.c"));
        assert_eq!(c.session_id(), Some("s1"));
        let keys: alloc::vec::Vec<_> = c.as_map().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "sub",
                "iss",
                "aud",
                "iat",
                "exp",
                "email",
                "emailVerified",
                "sid"
            ]
        );
        assert_eq!(
            check(with("sid", json!(1))).unwrap_err(),
            ClaimError::Invalid("sid")
        );
    }

    #[test]
    fn typ_is_a_media_type_comparison() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("application/AT+JWT", "at+jwt"));
        assert!(typ_matches("at+jwt", "Application/at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("at+jwt2", "at+jwt"));
        assert!(!typ_matches("application/", "at+jwt"));
    }
}
