//! Interop with `jsonwebtoken`, an independent implementation: its EdDSA tokens verify here,
//! ours verify there, and a change to any byte of either is refused by both.

use edgeauth_token::Error;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::*;

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410), what `EncodingKey::from_ed_der` reads.
fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = hex("302e020100300506032b657004220420");
    der.extend_from_slice(seed);
    der
}

fn their_validation() -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    // jsonwebtoken reads the real clock: these tests mint tokens around the present.
    v.leeway = 0;
    v
}

#[allow(
    clippy::disallowed_methods,
    reason = "jsonwebtoken validates against the real clock"
)]
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn their_decoding_key() -> DecodingKey {
    DecodingKey::from_ed_components(&key().public_jwk().x).unwrap()
}

fn ours_verify(token: &str, at: u64) -> Result<edgeauth_token::VerifiedClaims, Error> {
    edgeauth_token::verify(token, &keys(), &rules(), at)
}

fn their_token(at: u64) -> (String, Value) {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(KID.into());
    let claims = json!({
        "sub": "user-1", "iss": ISSUER, "aud": ISSUER, "iat": at, "exp": at + 900,
        "email": "ada@example.com", "roles": ["admin"],
    });
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&pkcs8(&SEED))).unwrap();
    (token, claims)
}

#[test]
fn their_tokens_verify_here() {
    let at = now();
    let (token, claims) = their_token(at);
    let verified = ours_verify(&token, at).unwrap();
    assert_eq!(Value::Object(verified.into_map()), claims);
}

#[test]
fn our_tokens_verify_there() {
    let at = now();
    let token = key().sign(&edgeauth_token::ClaimsBuilder::better_auth(
        user(),
        "user-1",
        at,
        900,
        ISSUER,
        &[ISSUER],
    ));
    let data =
        jsonwebtoken::decode::<Value>(&token, &their_decoding_key(), &their_validation()).unwrap();
    assert_eq!(data.header.kid.as_deref(), Some(KID));
    assert_eq!(data.header.alg, Algorithm::EdDSA);
    assert_eq!(data.claims["email"], "ada@example.com");
    assert_eq!(data.claims["sub"], "user-1");
    // Both sides read the same claims.
    let ours = ours_verify(&token, at).unwrap();
    assert_eq!(Value::Object(ours.into_map()), data.claims);
}

/// Replaces every byte of the token in turn by another base64url character: every variant
/// is refused by both implementations.
#[test]
fn tampering_any_byte_is_refused_by_both() {
    let at = now();
    let ours = key().sign(&edgeauth_token::ClaimsBuilder::better_auth(
        user(),
        "user-1",
        at,
        900,
        ISSUER,
        &[ISSUER],
    ));
    let (theirs, _) = their_token(at);
    for token in [ours, theirs] {
        assert!(ours_verify(&token, at).is_ok());
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] == b'.' {
                continue;
            }
            let replacement = if bytes[i] == b'A' { b'B' } else { b'A' };
            let mut altered = bytes.to_vec();
            altered[i] = replacement;
            let altered = String::from_utf8(altered).unwrap();
            assert!(
                ours_verify(&altered, at).is_err(),
                "ours accepted a change at byte {i}"
            );
            assert!(
                jsonwebtoken::decode::<Value>(&altered, &their_decoding_key(), &their_validation())
                    .is_err(),
                "jsonwebtoken accepted a change at byte {i}"
            );
        }
    }
}
