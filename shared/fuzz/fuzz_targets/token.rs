//! Fuzzes every parser of the token crate. The first byte picks the entry point:
//!
//! - 0: the input is a compact token, verified against a fixed key set;
//! - 1: the input is `header JSON 0xFF payload JSON`, signed with the real key and then
//!   verified, so the header rules and claim validation run behind a genuine signature;
//! - 2: the input is a JWKS document;
//! - 3: the input is a signed cookie value.
//!
//! Any outcome is fine except a panic, a hang or unbounded memory.
#![no_main]

use edgeauth_token::{cookie, KeySet, SigningKey, Validation};
use libfuzzer_sys::fuzz_target;

const KID: &str = "fuzz-key";
const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(key) = SigningKey::from_seed(&[42; 32], KID) else { return };
    let mut keys = KeySet::new();
    let _ = keys.insert(KID, key.public_key());
    let rules = Validation::new("https://auth.example.com", "https://auth.example.com");
    match mode % 4 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                let _ = edgeauth_token::verify(token, &keys, &rules, NOW);
            }
        }
        1 => {
            let (header, payload) = match rest.iter().position(|&b| b == 0xff) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &b""[..]),
            };
            use base64ct::{Base64UrlUnpadded, Encoding};
            let input = format!(
                "{}.{}",
                Base64UrlUnpadded::encode_string(header),
                Base64UrlUnpadded::encode_string(payload)
            );
            let signature = key.sign_bytes(input.as_bytes());
            let token = format!("{input}.{}", Base64UrlUnpadded::encode_string(&signature));
            let _ = edgeauth_token::verify(&token, &keys, &rules, NOW);
        }
        2 => {
            if let Ok(doc) = std::str::from_utf8(rest) {
                let _ = KeySet::from_jwks_json(doc);
            }
        }
        _ => {
            if let Ok(value) = std::str::from_utf8(rest) {
                let _ = cookie::verify_signed_value(b"fuzz-secret-fuzz-secret-fuzz-secret", value);
            }
        }
    }
});
