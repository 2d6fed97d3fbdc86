//! Shared fixtures: a key, a policy, a typical Better Auth token, and a forger that signs
//! arbitrary header and payload text with a real key.

use base64ct::{Base64UrlUnpadded, Encoding};
use edgeauth_token::{ClaimsBuilder, KeySet, SigningKey, Validation};
use serde_json::json;

pub const NOW: u64 = 1_800_000_000;
pub const ISSUER: &str = "https://auth.example.com";
pub const KID: &str = "TPj4HKLhvuf8ZcVSg5Zr2Z3CE5Mv4NBN";
pub const SEED: [u8; 32] = [42; 32];

pub fn key() -> SigningKey {
    SigningKey::from_seed(&SEED, KID).unwrap()
}

pub fn other_key() -> SigningKey {
    SigningKey::from_seed(&[7; 32], KID).unwrap()
}

pub fn keys() -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(KID, key().public_key()).unwrap();
    keys
}

pub fn rules() -> Validation {
    Validation::new(ISSUER, ISSUER)
}

/// The user object Better Auth's JWT plugin puts in its claims.
pub fn user() -> serde_json::Map<String, serde_json::Value> {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "emailVerified": true,
        "image": null,
        "createdAt": "2026-11-01T09:30:00.000Z",
        "updatedAt": "2026-11-20T17:45:12.345Z",
        "id": "0YnKQty8O96CSthmLIeHvNJnuQmeit3f",
    })
    .as_object()
    .unwrap()
    .clone()
}

pub fn claims() -> ClaimsBuilder {
    ClaimsBuilder::better_auth(
        user(),
        "0YnKQty8O96CSthmLIeHvNJnuQmeit3f",
        NOW,
        900,
        ISSUER,
        &[ISSUER],
    )
}

/// A valid token as Better Auth would mint it.
pub fn token() -> String {
    key().sign(&claims())
}

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Signs `header.payload` (given as raw JSON text) with `key`: a token whose signature is
/// genuine, so a rejection can only come from the rule under test.
pub fn forge_with(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = key.sign_bytes(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

pub fn forge(header: &str, payload: &str) -> String {
    forge_with(&key(), header, payload)
}

/// The header Better Auth sends.
pub fn header() -> String {
    format!(r#"{{"alg":"EdDSA","kid":"{KID}"}}"#)
}

/// A valid payload as JSON text, with `extra` spliced in before the closing brace.
pub fn payload_with(extra: &str) -> String {
    let exp = NOW + 900;
    format!(r#"{{"iat":{NOW},"sub":"u1","exp":{exp},"iss":"{ISSUER}","aud":"{ISSUER}"{extra}}}"#)
}

pub fn verify(token: &str) -> Result<edgeauth_token::VerifiedClaims, edgeauth_token::Error> {
    edgeauth_token::verify(token, &keys(), &rules(), NOW)
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn vector(path: &str) -> serde_json::Value {
    let full = format!("{}/tests/vectors/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap()
}
