//! Ed25519 public keys as JWKs (RFC 8037) and key sets in Better Auth's `/jwks` shape.
//!
//! A [`PublicKey`] is only ever built from 32 bytes that decode to a canonical, non-small-order
//! Edwards point, so every key in a [`KeySet`] is usable with strict verification. A key set
//! is a map from `kid` to key: lookup is exact string equality, never a path, a pattern or a
//! "try every key" fallback.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{json, Error};

/// Longest `kid` accepted, in bytes. Better Auth's are 32 characters.
pub const MAX_KID_LEN: usize = 256;

/// An Ed25519 public key, validated, bound to the `EdDSA` algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    /// Validates 32 bytes as an Ed25519 public key.
    ///
    /// Refuses encodings that do not decompress, non-canonical encodings (y ≥ p), and
    /// small-order points, which would let one signature verify for many messages.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| Error::InvalidKey("not a point on Ed25519"))?;
        if key.is_weak() {
            return Err(Error::InvalidKey("small-order point"));
        }
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err(Error::InvalidKey("non-canonical point encoding"));
        }
        Ok(PublicKey(key))
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies an Ed25519 signature over `message` with strict semantics: exactly the
    /// verdicts of ed25519-dalek's `verify_strict` (`S < L`, `R` canonical and not of small
    /// order, the key not of small order), for less work. Every failure is the opaque
    /// [`Error::InvalidSignature`].
    ///
    /// Why not call `verify_strict`: it decompresses `R` and tests both points for small order
    /// on every call. This key was checked once, when it was built, and `R` need not be
    /// decompressed: dalek's cofactorless `verify` already rejects `S >= L` and accepts only if
    /// the recomputed `R` (always a canonical encoding) equals the signature's `R` bytes, so the
    /// only small-order `R` that could pass is one of the eight canonical encodings in
    /// [`SMALL_ORDER_ENCODINGS`]. Comparing bytes against them is what libsodium does. The
    /// tests run Wycheproof, ed25519-speccheck and a differential property test against
    /// `verify_strict` to hold the two equal.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let signature: [u8; 64] = signature.try_into().map_err(|_| Error::InvalidSignature)?;
        let r = &signature[..32];
        if SMALL_ORDER_ENCODINGS.iter().any(|small| small == r) {
            return Err(Error::InvalidSignature);
        }
        self.0
            .verify(message, &Signature::from_bytes(&signature))
            .map_err(|_| Error::InvalidSignature)
    }
}

/// The canonical encodings of the eight points of small order on edwards25519 (the
/// 8-torsion subgroup), each with both signs of `x` where `x` is non-zero.
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    // (0, 1): the identity, order 1.
    [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
    ],
    // (0, -1): order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // (±sqrt(-1), 0): order 4.
    [0; 32],
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0x80,
    ],
    // The four points of order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
];

/// A public JWK in Better Auth's member order: `alg`, `crv`, `x`, `kty`, `kid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `EdDSA` for keys this crate produces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// Always `OKP`.
    pub kty: String,
    /// The key id (Better Auth: the `jwks` row id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl Jwk {
    /// The JWK for `key` under `kid`, as Better Auth's `/jwks` lists it.
    pub fn from_public_key(key: &PublicKey, kid: &str) -> Self {
        Jwk {
            alg: Some("EdDSA".into()),
            crv: "Ed25519".into(),
            x: Base64UrlUnpadded::encode_string(&key.to_bytes()),
            kty: "OKP".into(),
            kid: Some(kid.into()),
        }
    }
}

/// A JWK Set document: `{"keys":[...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, in the order they are served.
    pub keys: Vec<Jwk>,
}

/// The verification keys a verifier trusts, by `kid`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeMap<String, PublicKey>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. A second key under the same `kid` is an error, never a silent replacement.
    pub fn insert(&mut self, kid: &str, key: PublicKey) -> Result<(), Error> {
        check_kid(kid)?;
        if self.keys.contains_key(kid) {
            return Err(Error::InvalidKeySet("duplicate kid"));
        }
        self.keys.insert(kid.to_string(), key);
        Ok(())
    }

    /// The key with exactly this `kid`.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s in the set, in lexical order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Loads a JWKS document (Better Auth's `GET /jwks` body, or `JWKS_JSON`).
    ///
    /// Every key must be an Ed25519 `OKP` public key with a `kid`; `alg`, when present, must
    /// be `EdDSA`; `use`, when present, must be `sig`; `key_ops`, when present, must allow
    /// `verify`. A key carrying private material (`d`) or an unsupported type makes the whole
    /// document an error: a verifier must not guess which half of a broken set to trust.
    pub fn from_jwks_json(document: &str) -> Result<Self, Error> {
        let value =
            json::parse(document.as_bytes()).map_err(|_| Error::InvalidKeySet("not JSON"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(Error::InvalidKeySet("no `keys` array"))?;
        let mut set = KeySet::new();
        for jwk in keys {
            let (kid, key) = parse_jwk(jwk)?;
            set.insert(kid, key)?;
        }
        Ok(set)
    }

    /// The set as a JWKS document in Better Auth's shape.
    pub fn to_jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .map(|(kid, key)| Jwk::from_public_key(key, kid))
                .collect(),
        }
    }
}

/// Decodes base64url without padding, canonical only (unused bits must be zero).
pub(crate) fn b64url_decode(s: &str) -> Result<Vec<u8>, Error> {
    Base64UrlUnpadded::decode_vec(s).map_err(|_| Error::Malformed("invalid base64url"))
}

pub(crate) fn check_kid(kid: &str) -> Result<(), Error> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(Error::InvalidKey("kid must be 1 to 256 bytes"));
    }
    Ok(())
}

fn parse_jwk(jwk: &Value) -> Result<(&str, PublicKey), Error> {
    let obj = jwk
        .as_object()
        .ok_or(Error::InvalidKey("key is not a JSON object"))?;
    let text = |name: &'static str| -> Result<Option<&str>, Error> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::InvalidKey("member is not a string")),
        }
    };
    if text("kty")? != Some("OKP") {
        return Err(Error::InvalidKey("kty must be OKP"));
    }
    if text("crv")? != Some("Ed25519") {
        return Err(Error::InvalidKey("crv must be Ed25519"));
    }
    if !matches!(text("alg")?, None | Some("EdDSA")) {
        return Err(Error::InvalidKey("alg must be EdDSA"));
    }
    if !matches!(text("use")?, None | Some("sig")) {
        return Err(Error::InvalidKey("use must be sig"));
    }
    if let Some(ops) = obj.get("key_ops") {
        let allows_verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !allows_verify {
            return Err(Error::InvalidKey("key_ops does not allow verify"));
        }
    }
    if obj.contains_key("d") {
        return Err(Error::InvalidKey(
            "private key material in a public key set",
        ));
    }
    let kid = text("kid")?.ok_or(Error::InvalidKey("kid is required"))?;
    check_kid(kid)?;
    let x = text("x")?.ok_or(Error::InvalidKey("x is required"))?;
    let bytes: [u8; 32] = b64url_decode(x)
        .map_err(|_| Error::InvalidKey("x is not canonical base64url"))?
        .try_into()
        .map_err(|_| Error::InvalidKey("x must be 32 bytes"))?;
    Ok((kid, PublicKey::from_bytes(&bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn jwks(key: &str) -> String {
        alloc::format!(r#"{{"keys":[{key}]}}"#)
    }

    #[test]
    fn loads_better_auth_shape_and_round_trips() {
        let doc = jwks(&alloc::format!(
            r#"{{"alg":"EdDSA","crv":"Ed25519","x":"{RFC8037_X}","kty":"OKP","kid":"k1"}}"#
        ));
        let set = KeySet::from_jwks_json(&doc).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("k1").is_some());
        assert!(set.get("K1").is_none());
        assert_eq!(serde_json::to_string(&set.to_jwks()).unwrap(), doc);
    }

    #[test]
    fn rejects_bad_keys() {
        let cases = [
            (r#"{"crv":"Ed25519","x":"X","kty":"EC","kid":"a"}"#, "kty"),
            (r#"{"crv":"Ed448","x":"X","kty":"OKP","kid":"a"}"#, "crv"),
            (
                r#"{"alg":"ES256","crv":"Ed25519","x":"X","kty":"OKP","kid":"a"}"#,
                "alg",
            ),
            (
                r#"{"use":"enc","crv":"Ed25519","x":"X","kty":"OKP","kid":"a"}"#,
                "use",
            ),
            (
                r#"{"key_ops":["encrypt"],"crv":"Ed25519","x":"X","kty":"OKP","kid":"a"}"#,
                "ops",
            ),
            (
                r#"{"d":"X","crv":"Ed25519","x":"X","kty":"OKP","kid":"a"}"#,
                "private",
            ),
            (r#"{"crv":"Ed25519","x":"X","kty":"OKP"}"#, "no kid"),
            (
                r#"{"crv":"Ed25519","x":"X","kty":"OKP","kid":""}"#,
                "empty kid",
            ),
            (
                r#"{"crv":"Ed25519","x":"AAAA","kty":"OKP","kid":"a"}"#,
                "short x",
            ),
            // The identity point (small order).
            (
                r#"{"crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kty":"OKP","kid":"a"}"#,
                "small order",
            ),
            // y = p + 3: a non-canonical encoding of the point with y = 3.
            (
                r#"{"crv":"Ed25519","x":"8P_______________________________________38","kty":"OKP","kid":"a"}"#,
                "non-canonical",
            ),
            (r#"{"crv":"Ed25519","kty":"OKP","kid":"a","x":1}"#, "x type"),
        ];
        for (key, label) in cases {
            let doc = jwks(&key.replace("\"X\"", &alloc::format!("\"{RFC8037_X}\"")));
            assert!(
                matches!(KeySet::from_jwks_json(&doc), Err(Error::InvalidKey(_))),
                "{label}: {doc}"
            );
        }
    }

    /// The table holds eight distinct points, each of small order: the whole 8-torsion
    /// subgroup, so no small-order `R` escapes the comparison.
    #[test]
    fn small_order_table_is_the_whole_torsion_subgroup() {
        let points: Vec<_> = SMALL_ORDER_ENCODINGS
            .iter()
            .map(|bytes| {
                let key = VerifyingKey::from_bytes(bytes).unwrap();
                assert!(key.is_weak(), "{bytes:x?} is not of small order");
                let point = key.to_edwards();
                assert_eq!(point.compress().as_bytes(), bytes, "not canonical");
                point
            })
            .collect();
        for (i, a) in points.iter().enumerate() {
            for b in &points[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn rejects_bad_sets() {
        let key = alloc::format!(r#"{{"crv":"Ed25519","x":"{RFC8037_X}","kty":"OKP","kid":"a"}}"#);
        let dup = alloc::format!(r#"{{"keys":[{key},{key}]}}"#);
        assert_eq!(
            KeySet::from_jwks_json(&dup),
            Err(Error::InvalidKeySet("duplicate kid"))
        );
        let dup_member = alloc::format!(r#"{{"keys":[],"keys":[{key}]}}"#);
        assert!(KeySet::from_jwks_json(&dup_member).is_err());
        assert!(KeySet::from_jwks_json("[]").is_err());
        assert!(KeySet::from_jwks_json(r#"{"keys":{}}"#).is_err());
    }
}
