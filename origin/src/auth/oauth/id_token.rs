//! ID-token verification (OpenID Connect Core §3.1.3.7), parse then verify: the header's
//! algorithm must be one of [`ALGORITHMS`] (so `none` and HMAC never are), the key is the
//! provider's JWKS key named by `kid` (of a matching type and, if the key says, algorithm),
//! and only a token whose signature verifies has its claims read. Then `iss` must be the
//! provider's issuer, `aud` contain the client id (with `azp` the client id when `aud` has
//! several values, or whenever `azp` is present), `exp` in the future, `iat` present and not
//! in the future, and `nonce` the one sent with the authorization request (compared in
//! constant time). Times come from the origin's clock, with a minute of leeway.

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::crypto::same;

/// The signature algorithms accepted.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY: i64 = 60;

/// Longest ID token accepted, in bytes (checked before any decoding).
pub const MAX_LEN: usize = 16 * 1024;

/// Why an ID token was refused. Deliberately coarse: the redirect says `invalid_id_token`,
/// the log says which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWS, too long, or an algorithm not in [`ALGORITHMS`] (`none` included).
    #[error("malformed ID token or unaccepted algorithm")]
    Malformed,
    /// No key of the provider has this `kid` (after a refetch, if allowed).
    #[error("ID token signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("ID token signature invalid")]
    Signature,
    /// `iss` is not the provider's.
    #[error("ID token issuer mismatch")]
    Issuer,
    /// `aud` or `azp` is not this client.
    #[error("ID token audience mismatch")]
    Audience,
    /// Expired, or issued in the future, or without `exp`/`iat`.
    #[error("ID token expired or not yet valid")]
    Time,
    /// `nonce` missing or not the one sent.
    #[error("ID token nonce mismatch")]
    Nonce,
}

/// What the callback expects of the token.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The provider's issuer. `{tenantid}` in it stands for the token's own `tid` claim
    /// (Microsoft's multi-tenant endpoints: each tenant signs as itself).
    pub issuer: &'a str,
    /// Another spelling of the issuer the provider uses (Google's `accounts.google.com`).
    pub also_issuer: Option<&'a str>,
    /// This client's id.
    pub client_id: &'a str,
    /// The nonce sent; `None` only in the `idToken` flow when the client names none (the
    /// token was obtained by the client, not through a request of the origin).
    pub nonce: Option<&'a str>,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// A token whose signature has not been checked yet: only its header is readable.
#[derive(Debug)]
pub struct Untrusted<'a> {
    token: &'a str,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    alg: Algorithm,
}

/// The claims of a verified ID token that sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `sub`.
    pub subject: String,
    /// Every claim, for the profile (`email`, `email_verified`, `name`, `picture`).
    pub claims: serde_json::Map<String, Value>,
}

/// Parses the header. Refuses anything but a three-part JWS with an accepted algorithm.
pub fn parse(token: &str) -> Result<Untrusted<'_>, IdTokenError> {
    if token.len() > MAX_LEN || token.split('.').count() != 3 {
        return Err(IdTokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::Malformed);
    }
    Ok(Untrusted {
        token,
        kid: header.kid,
        alg: header.alg,
    })
}

/// The key of `keys` that may verify `untrusted`: named by its `kid` (or the only key of
/// the right type when the token names none), of the algorithm's key type, and of the same
/// algorithm if the key declares one.
pub fn select<'k>(untrusted: &Untrusted<'_>, keys: &'k [Jwk]) -> Option<&'k Jwk> {
    let fits = |key: &&Jwk| {
        let type_fits = matches!(
            (&key.algorithm, untrusted.alg),
            (AlgorithmParameters::RSA(_), Algorithm::RS256)
                | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
                | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
        );
        let alg_fits = match key.common.key_algorithm {
            None => true,
            Some(declared) => declared == KeyAlgorithm::from(untrusted.alg),
        };
        type_fits && alg_fits
    };
    match &untrusted.kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
            .find(fits),
        None => {
            let mut candidates = keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verifies the signature with `key`, then the claims against `expected`.
pub fn verify(
    untrusted: &Untrusted<'_>,
    key: &Jwk,
    expected: &Expected<'_>,
) -> Result<Verified, IdTokenError> {
    let decoding = DecodingKey::from_jwk(key).map_err(|_| IdTokenError::UnknownKey)?;
    let mut validation = Validation::new(untrusted.alg);
    // Every claim is checked below, against the origin's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
        untrusted.token,
        &decoding,
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::Signature,
        _ => IdTokenError::Malformed,
    })?;
    let claims = data.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let issuer = if expected.issuer.contains("{tenantid}") {
        let tenant = text("tid")
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .ok_or(IdTokenError::Issuer)?;
        expected.issuer.replace("{tenantid}", tenant)
    } else {
        expected.issuer.to_string()
    };
    let iss = text("iss");
    if iss != Some(issuer.as_str()) && (iss.is_none() || iss != expected.also_issuer) {
        return Err(IdTokenError::Issuer);
    }
    let audience: Option<Audience> = claims
        .get("aud")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    let several = match &audience {
        Some(Audience::One(one)) if one == expected.client_id => false,
        Some(Audience::Many(many)) if many.iter().any(|a| a == expected.client_id) => {
            many.len() > 1
        }
        _ => return Err(IdTokenError::Audience),
    };
    match text("azp") {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::Audience),
        None if several => return Err(IdTokenError::Audience),
        _ => {}
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (Some(exp), Some(iat)) = (number("exp"), number("iat")) else {
        return Err(IdTokenError::Time);
    };
    if exp + LEEWAY <= expected.now || iat > expected.now + LEEWAY {
        return Err(IdTokenError::Time);
    }
    if number("nbf").is_some_and(|nbf| nbf > expected.now + LEEWAY) {
        return Err(IdTokenError::Time);
    }
    if let Some(sent) = expected.nonce {
        match text("nonce") {
            Some(nonce) if same(nonce, sent) => {}
            _ => return Err(IdTokenError::Nonce),
        }
    }
    let subject = text("sub")
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or(IdTokenError::Malformed)?
        .to_string();
    Ok(Verified { subject, claims })
}

/// The keys of a JWKS document, skipping those this crate cannot use (another key type,
/// encryption keys).
pub fn keys_of(jwks: &Value) -> Vec<Jwk> {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter(|k| k.get("use").and_then(Value::as_str).unwrap_or("sig") == "sig")
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}
