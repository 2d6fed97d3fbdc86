//! Compact EdDSA JWTs: parse, then verify.
//!
//! [`UntrustedToken::parse`] checks the shape of a token and reads its header; it exposes the
//! `kid` (so a caller can refresh its key set) and nothing of the payload. Only
//! [`UntrustedToken::verify`] yields claims, after the signature verified under the key the
//! `kid` names and every rule of the [`Validation`] passed.
//!
//! The profile is deliberately narrow (RFC 8725 and its successor draft):
//! - only `alg: "EdDSA"`, compared case-sensitively, and every key is an Ed25519 key;
//! - header members other than `alg`, `kid` and `typ` are refused (`jwk`, `jku`, `x5u`, `x5c`,
//!   `crit`, `b64`, `zip`, `enc`, `cty`, ...): no key ever comes from the token itself, and no
//!   extension can change how the token is read;
//! - exactly three segments of canonical, unpadded base64url and nothing else, within a size
//!   cap checked before any decoding;
//! - JSON with duplicate members is refused at every level;
//! - Ed25519 with strict semantics (`verify_strict`: S < L, canonical R, no small-order R or A).

use alloc::string::String;

use serde_json::Value;

use crate::claims::{self, Validation, VerifiedClaims};
use crate::jwk::{b64url_decode, KeySet, MAX_KID_LEN};
use crate::{json, ClaimError, Error};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "EdDSA";

/// Length of an Ed25519 signature in unpadded base64url.
const SIGNATURE_B64_LEN: usize = 86;

/// A token whose shape and header have been checked but whose signature has not.
///
/// It exposes the `kid` and `typ` of its header and nothing of its payload.
#[derive(Debug, Clone)]
pub struct UntrustedToken<'a> {
    signing_input: &'a str,
    payload: &'a str,
    signature: [u8; 64],
    kid: String,
    typ: Option<String>,
}

impl<'a> UntrustedToken<'a> {
    /// Checks the compact form and reads the protected header.
    ///
    /// `max_len` caps the token's length in bytes; it is checked before anything is decoded.
    pub fn parse(token: &'a str, max_len: usize) -> Result<Self, Error> {
        if token.len() > max_len {
            return Err(Error::TooLarge {
                len: token.len(),
                max: max_len,
            });
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(Error::Malformed("character outside base64url and '.'"));
        }
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Error::Malformed("a JWS has exactly three segments"));
        };
        if header.is_empty() {
            return Err(Error::Malformed("empty header"));
        }
        let header = json::parse(&b64url_decode(header)?)
            .map_err(|_| Error::Malformed("header is not JSON"))?;
        let Value::Object(header) = header else {
            return Err(Error::Malformed("header is not a JSON object"));
        };
        if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
            return Err(Error::UnsupportedAlgorithm);
        }
        if let Some(name) = header
            .keys()
            .find(|name| !matches!(name.as_str(), "alg" | "kid" | "typ"))
        {
            return Err(Error::ForbiddenHeader(forbidden_name(name)));
        }
        let kid = match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => kid.clone(),
            Some(_) => return Err(Error::Malformed("kid must be a string of 1 to 256 bytes")),
            None => return Err(Error::Malformed("kid is required")),
        };
        let typ = match header.get("typ") {
            Some(Value::String(typ)) => Some(typ.clone()),
            Some(_) => return Err(Error::Malformed("typ must be a string")),
            None => None,
        };
        if payload.is_empty() {
            return Err(Error::Malformed("empty payload"));
        }
        if signature.len() != SIGNATURE_B64_LEN {
            return Err(Error::Malformed("signature must be 64 bytes"));
        }
        let signature: [u8; 64] = b64url_decode(signature)?
            .try_into()
            .map_err(|_| Error::Malformed("signature must be 64 bytes"))?;
        // `token` is ASCII, so these byte offsets are character boundaries.
        let signing_input = &token[..token.len() - SIGNATURE_B64_LEN - 1];
        Ok(UntrustedToken {
            signing_input,
            payload,
            signature,
            kid,
            typ,
        })
    }

    /// The header's `kid`: which key the token claims to be signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The header's `typ`, when present.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// Verifies the signature with the key `kid` names in `keys`, then the claims with `rules`
    /// at time `now` (unix seconds).
    pub fn verify(
        &self,
        keys: &KeySet,
        rules: &Validation,
        now: u64,
    ) -> Result<VerifiedClaims, Error> {
        if let Some(expected) = &rules.typ {
            if !self
                .typ
                .as_deref()
                .is_some_and(|typ| claims::typ_matches(typ, expected))
            {
                return Err(ClaimError::Type.into());
            }
        }
        let key = keys.get(&self.kid).ok_or(Error::UnknownKey)?;
        key.verify_strict(self.signing_input.as_bytes(), &self.signature)?;

        let payload = json::parse(&b64url_decode(self.payload)?)
            .map_err(|_| Error::Malformed("payload is not JSON"))?;
        if !payload.is_object() {
            return Err(Error::Malformed("payload is not a JSON object"));
        }
        Ok(claims::validate(payload, &self.kid, rules, now)?)
    }
}

/// Parses and verifies `token` in one call: see [`UntrustedToken`].
///
/// ```
/// # #[cfg(feature = "sign")] {
/// use edgeauth_token::{verify, ClaimsBuilder, KeySet, SigningKey, Validation};
///
/// let key = SigningKey::from_seed(&[7; 32], "key-1")?;
/// let mut keys = KeySet::new();
/// keys.insert("key-1", key.public_key())?;
///
/// let now = 1_800_000_000;
/// let user = serde_json::json!({"id": "u1", "email": "ada@example.com"});
/// let claims = ClaimsBuilder::better_auth(
///     user.as_object().unwrap().clone(), "u1", now, 900, "https://app.example", &["https://app.example"],
/// );
/// let token = key.sign(&claims);
///
/// let rules = Validation::new("https://app.example", "https://app.example");
/// let verified = verify(&token, &keys, &rules, now + 60)?;
/// assert_eq!(verified.subject(), "u1");
/// assert_eq!(verified.get_str("email"), Some("ada@example.com"));
/// # }
/// # Ok::<(), edgeauth_token::Error>(())
/// ```
pub fn verify(
    token: &str,
    keys: &KeySet,
    rules: &Validation,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    UntrustedToken::parse(token, rules.max_token_len)?.verify(keys, rules, now)
}

/// Names a refused header parameter without echoing attacker-chosen text.
fn forbidden_name(name: &str) -> &'static str {
    match name {
        "jwk" => "jwk",
        "jku" => "jku",
        "x5u" => "x5u",
        "x5c" => "x5c",
        "x5t" => "x5t",
        "x5t#S256" => "x5t#S256",
        "crit" => "crit",
        "b64" => "b64",
        "zip" => "zip",
        "enc" => "enc",
        "cty" => "cty",
        _ => "unrecognised parameter",
    }
}

#[cfg(feature = "sign")]
pub use signing::{ClaimsBuilder, PrivateJwk, SigningKey};

#[cfg(feature = "sign")]
mod signing {
    //! Minting, for the origin only (feature `sign`).

    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    use base64ct::{Base64UrlUnpadded, Encoding};
    use ed25519_dalek::Signer;
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    use super::ALGORITHM;
    use crate::jwk::{b64url_decode, check_kid, Jwk, PublicKey};
    use crate::{json, Error};

    /// An Ed25519 signing key bound to its `kid`.
    pub struct SigningKey {
        key: ed25519_dalek::SigningKey,
        kid: String,
    }

    impl core::fmt::Debug for SigningKey {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("SigningKey")
                .field("kid", &self.kid)
                .finish_non_exhaustive()
        }
    }

    /// A private JWK as Better Auth stores it (before encryption): `crv`, `d`, `x`, `kty`.
    #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PrivateJwk {
        /// Always `Ed25519`.
        pub crv: String,
        /// The 32-byte seed, base64url.
        pub d: String,
        /// The public key, base64url.
        pub x: String,
        /// Always `OKP`.
        pub kty: String,
    }

    impl SigningKey {
        /// A key from its 32-byte seed (the JWK `d`).
        pub fn from_seed(seed: &[u8; 32], kid: &str) -> Result<Self, Error> {
            check_kid(kid)?;
            Ok(SigningKey {
                key: ed25519_dalek::SigningKey::from_bytes(seed),
                kid: kid.to_string(),
            })
        }

        /// A key from a private JWK's JSON text. The public half, `x`, must match `d`.
        pub fn from_private_jwk_json(jwk: &str, kid: &str) -> Result<Self, Error> {
            let value = json::parse(jwk.as_bytes())
                .map_err(|_| Error::InvalidKey("private JWK is not JSON"))?;
            let field = |name| value.get(name).and_then(Value::as_str);
            if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
                return Err(Error::InvalidKey("not an Ed25519 OKP key"));
            }
            let seed: [u8; 32] = field("d")
                .ok_or(Error::InvalidKey("d is required"))
                .and_then(b64url_decode)?
                .try_into()
                .map_err(|_| Error::InvalidKey("d must be 32 bytes"))?;
            let key = SigningKey::from_seed(&seed, kid)?;
            if field("x") != Some(key.private_jwk().x.as_str()) {
                return Err(Error::InvalidKey("x does not match d"));
            }
            Ok(key)
        }

        /// The key id.
        pub fn kid(&self) -> &str {
            &self.kid
        }

        /// The public half.
        pub fn public_key(&self) -> PublicKey {
            PublicKey(self.key.verifying_key())
        }

        /// The public JWK, as `/jwks` serves it.
        pub fn public_jwk(&self) -> Jwk {
            Jwk::from_public_key(&self.public_key(), &self.kid)
        }

        /// The private JWK, as Better Auth stores it.
        pub fn private_jwk(&self) -> PrivateJwk {
            PrivateJwk {
                crv: "Ed25519".into(),
                d: Base64UrlUnpadded::encode_string(self.key.as_bytes()),
                x: Base64UrlUnpadded::encode_string(self.key.verifying_key().as_bytes()),
                kty: "OKP".into(),
            }
        }

        /// Signs arbitrary bytes (a JWS signing input).
        pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
            self.key.sign(message).to_bytes()
        }

        /// Mints a compact JWT with header `{"alg":"EdDSA","kid":...}`.
        pub fn sign(&self, claims: &ClaimsBuilder) -> String {
            let header = serde_json::json!({ "alg": ALGORITHM, "kid": self.kid });
            let mut token = encode_json(&header);
            token.push('.');
            token.push_str(&encode_json(&Value::Object(claims.map.clone())));
            let signature = self.sign_bytes(token.as_bytes());
            token.push('.');
            token.push_str(&Base64UrlUnpadded::encode_string(&signature));
            token
        }
    }

    fn encode_json(value: &Value) -> String {
        // Serialising a `Value` cannot fail: its keys are strings and its numbers finite.
        let text = serde_json::to_vec(value).unwrap_or_default();
        Base64UrlUnpadded::encode_string(&text)
    }

    /// The claims of a token to mint.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ClaimsBuilder {
        map: Map<String, Value>,
    }

    impl ClaimsBuilder {
        /// Better Auth's JWT plugin payload: `iat`, then the user object's fields, then `sub`,
        /// `exp` (`iat + lifetime`), `iss` and `aud` (a string for one audience, else an array).
        pub fn better_auth(
            user: Map<String, Value>,
            subject: &str,
            issued_at: u64,
            lifetime: u64,
            issuer: &str,
            audience: &[&str],
        ) -> Self {
            let mut map = Map::new();
            map.insert("iat".into(), issued_at.into());
            map.extend(user);
            map.insert("sub".into(), subject.into());
            map.insert("exp".into(), issued_at.saturating_add(lifetime).into());
            map.insert("iss".into(), issuer.into());
            let aud = match audience {
                [one] => Value::from(*one),
                many => Value::Array(many.iter().map(|a| Value::from(*a)).collect::<Vec<_>>()),
            };
            map.insert("aud".into(), aud);
            ClaimsBuilder { map }
        }

        /// Any claims, as given.
        pub fn from_map(map: Map<String, Value>) -> Self {
            ClaimsBuilder { map }
        }

        /// Adds or replaces one claim (for example `sid`).
        pub fn insert(mut self, name: &str, value: impl Into<Value>) -> Self {
            self.map.insert(name.into(), value.into());
            self
        }

        /// The claims.
        pub fn as_map(&self) -> &Map<String, Value> {
            &self.map
        }
    }
}
