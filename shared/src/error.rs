//! The crate's one error type.
//!
//! Every failure of a token, key or cookie is one variant of [`Error`]. Signature failures
//! are deliberately opaque ([`Error::InvalidSignature`] carries nothing), so an attacker learns
//! nothing from a forgery attempt beyond "no". The other variants name the first rule a token
//! broke, for logs and for the operator CLI; an HTTP layer should map all of them to the same
//! 401 and keep the reason for its logs.

use core::fmt;

/// Why a token, key set or cookie was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is longer than the configured cap; nothing was decoded.
    TooLarge {
        /// Length of the input in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The input is not a well-formed compact JWS/JWT, JWK or cookie value.
    Malformed(&'static str),
    /// The header's `alg` is missing, not a string, or not exactly `EdDSA`.
    UnsupportedAlgorithm,
    /// The header carries a parameter this verifier refuses (`jwk`, `jku`, `x5u`, `x5c`,
    /// `crit`, `b64`, `zip`, `enc`, `cty`, or any unknown one).
    ForbiddenHeader(&'static str),
    /// The header's `kid` names no key in the configured key set.
    UnknownKey,
    /// The signature (or cookie MAC) does not verify. Opaque on purpose.
    InvalidSignature,
    /// The signature verified, but a claim broke the validation policy.
    Claim(ClaimError),
    /// A key is unusable: wrong type or curve, bad encoding, small-order point, private
    /// material in a public set.
    InvalidKey(&'static str),
    /// A key set is unusable as a whole (not a JWKS object, duplicate `kid`, empty).
    InvalidKeySet(&'static str),
}

/// Which claim rule a verified token broke.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// The token lives longer than the policy's maximum lifetime.
    LifetimeTooLong,
    /// A required claim is absent.
    Missing(&'static str),
    /// A claim has the wrong JSON type or an out-of-range value.
    Invalid(&'static str),
    /// `iss` is not exactly the expected issuer.
    Issuer,
    /// `aud` does not contain the expected audience.
    Audience,
    /// The header's `typ` is not the required media type.
    Type,
}

impl From<ClaimError> for Error {
    fn from(e: ClaimError) -> Self {
        Error::Claim(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { len, max } => {
                write!(f, "token is {len} bytes, more than the {max}-byte limit")
            }
            Error::Malformed(why) => write!(f, "malformed: {why}"),
            Error::UnsupportedAlgorithm => f.write_str("unsupported algorithm: only EdDSA"),
            Error::ForbiddenHeader(name) => write!(f, "header parameter not allowed: {name}"),
            Error::UnknownKey => f.write_str("no key with this kid in the key set"),
            Error::InvalidSignature => f.write_str("invalid signature"),
            Error::Claim(e) => write!(f, "claim rejected: {e}"),
            Error::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Error::InvalidKeySet(why) => write!(f, "invalid key set: {why}"),
        }
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Expired => f.write_str("token has expired (exp)"),
            ClaimError::NotYetValid => f.write_str("token is not valid yet (nbf)"),
            ClaimError::IssuedInFuture => f.write_str("token is issued in the future (iat)"),
            ClaimError::LifetimeTooLong => f.write_str("token lifetime exceeds the maximum"),
            ClaimError::Missing(name) => write!(f, "required claim `{name}` is missing"),
            ClaimError::Invalid(name) => write!(f, "claim `{name}` has an invalid value"),
            ClaimError::Issuer => f.write_str("issuer (iss) does not match"),
            ClaimError::Audience => f.write_str("audience (aud) does not match"),
            ClaimError::Type => f.write_str("token type (typ) does not match"),
        }
    }
}

impl core::error::Error for Error {}
impl core::error::Error for ClaimError {}
