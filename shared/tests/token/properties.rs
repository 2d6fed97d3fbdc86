//! Property tests: round trips, single-byte changes, and arbitrary input.

use edgeauth_token::{ClaimsBuilder, UntrustedToken};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::support::*;

fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        proptest::collection::vec(any::<String>().prop_map(Value::from), 0..4)
            .prop_map(Value::from),
    ]
}

fn extra_claims() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,12}", claim_value(), 0..8)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_round_trips(
        extra in extra_claims(),
        sub in "[A-Za-z0-9]{1,40}",
        lifetime in 1u64..86_400,
    ) {
        let built = ClaimsBuilder::better_auth(extra, &sub, NOW, lifetime, ISSUER, &[ISSUER]);
        let token = key().sign(&built);
        let verified = verify(&token).unwrap();
        prop_assert_eq!(verified.subject(), sub.as_str());
        prop_assert_eq!(verified.expires_at(), NOW + lifetime);
        prop_assert_eq!(verified.as_map(), built.as_map());
    }

    #[test]
    fn any_single_byte_change_is_refused(index in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
        let token = token();
        let i = index.index(token.len());
        prop_assume!(token.as_bytes()[i] != byte);
        let mut altered = token.into_bytes();
        altered[i] = byte;
        let altered = String::from_utf8(altered).unwrap();
        prop_assert!(verify(&altered).is_err());
    }

    #[test]
    fn arbitrary_strings_never_panic_and_never_verify(s in any::<String>()) {
        prop_assert!(verify(&s).is_err());
        let _ = UntrustedToken::parse(&s, 8192);
    }

    #[test]
    fn token_shaped_noise_never_panics(s in "[A-Za-z0-9_.-]{0,400}") {
        prop_assert!(verify(&s).is_err());
    }

    #[test]
    fn forged_json_never_panics(header in any::<String>(), payload in any::<String>()) {
        let token = forge(&header, &payload);
        let _ = verify(&token);
    }
}

/// Adds L to a little-endian 256-bit scalar (wrapping), producing a non-canonical S.
fn plus_l(s: &[u8]) -> [u8; 32] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = s[i] as u16 + L[i] as u16 + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// `PublicKey::verify_strict` gives ed25519-dalek's `verify_strict` verdict for genuine,
    /// mutated, small-order-R, non-canonical-S and random signatures, under a genuine key and
    /// a mixed-order key (genuine key plus a torsion point).
    #[test]
    fn strict_verification_agrees_with_dalek_verify_strict(
        message in proptest::collection::vec(any::<u8>(), 0..64),
        mixed_key in any::<bool>(),
        r_kind in 0..4usize,
        s_kind in 0..4usize,
        pick in 0..8usize,
        noise_r in any::<[u8; 32]>(),
        noise_s in any::<[u8; 32]>(),
    ) {
        use edgeauth_token::jwk::SMALL_ORDER_ENCODINGS;
        let genuine = key().sign_bytes(&message);
        let mut key_bytes = key().public_key().to_bytes();
        if mixed_key {
            let torsion = ed25519_dalek::VerifyingKey::from_bytes(&SMALL_ORDER_ENCODINGS[4]).unwrap();
            let genuine_point = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).unwrap();
            key_bytes = (genuine_point.to_edwards() + torsion.to_edwards()).compress().to_bytes();
        }
        let ours_key = edgeauth_token::PublicKey::from_bytes(&key_bytes).unwrap();
        let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).unwrap();

        let mut signature = genuine;
        match r_kind {
            0 => {}
            1 => signature[..32].copy_from_slice(&SMALL_ORDER_ENCODINGS[pick]),
            2 => signature[..32].copy_from_slice(&noise_r),
            _ => signature[pick * 4] ^= noise_r[0] | 1,
        }
        match s_kind {
            0 => {}
            1 => signature[32..].copy_from_slice(&noise_s),
            2 => { let s = plus_l(&genuine[32..]); signature[32..].copy_from_slice(&s) }
            _ => signature[32..].copy_from_slice(&[0; 32]),
        }
        let ours = ours_key.verify_strict(&message, &signature).is_ok();
        let dalek = dalek_key
            .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
            .is_ok();
        prop_assert_eq!(ours, dalek);
        if !mixed_key && r_kind == 0 && s_kind == 0 {
            prop_assert!(ours, "genuine signature refused");
        }
    }
}
