//! Verifying one typical Better Auth JWT three ways, in one run:
//!
//! - `edgeauth-token`: this crate's full path (size and charset checks, base64url, strict
//!   JSON, header rules, kid lookup, strict Ed25519, claim validation);
//! - `jsonwebtoken`: `jsonwebtoken::decode` with the same key and equivalent rules (the peer);
//! - `ed25519-dalek verify_strict`: the bare signature check over the same signing input with
//!   a pre-decoded key and signature (the floor named by the issue);
//! - `ed25519-dalek verify (non-strict)`: the cofactorless equation alone, for transparency:
//!   this crate checks key strictness once at load and `R` by table, so it can undercut
//!   `verify_strict` but never this.
//!
//! Run with `bash scripts/bench-token.sh`, which prints the ratios.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use edgeauth_token::{ClaimsBuilder, KeySet, SigningKey, Validation};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{json, Value};

const ISSUER: &str = "https://auth.example.com";
const KID: &str = "TPj4HKLhvuf8ZcVSg5Zr2Z3CE5Mv4NBN";

#[allow(
    clippy::disallowed_methods,
    reason = "jsonwebtoken validates against the real clock"
)]
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The claims Better Auth's JWT plugin mints for a typical user (about 400 bytes).
fn better_auth_token(key: &SigningKey, iat: u64) -> String {
    let user = json!({
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "emailVerified": true,
        "image": "https://cdn.example.com/avatars/0YnKQty8O96CSthmLIeHvNJnuQmeit3f.png",
        "createdAt": "2026-11-01T09:30:00.000Z",
        "updatedAt": "2026-11-20T17:45:12.345Z",
        "id": "0YnKQty8O96CSthmLIeHvNJnuQmeit3f",
    });
    let Value::Object(user) = user else {
        return String::new();
    };
    key.sign(&ClaimsBuilder::better_auth(
        user,
        "0YnKQty8O96CSthmLIeHvNJnuQmeit3f",
        iat,
        900,
        ISSUER,
        &[ISSUER],
    ))
}

fn verify_three_ways(c: &mut Criterion) {
    let Ok(key) = SigningKey::from_seed(&[42; 32], KID) else {
        return;
    };
    let now = now();
    let token = better_auth_token(&key, now);
    let payload_len = token.split('.').nth(1).map_or(0, |p| p.len() * 3 / 4);
    eprintln!(
        "token: {} bytes, claims JSON: ~{payload_len} bytes",
        token.len()
    );

    // This crate.
    let mut keys = KeySet::new();
    let rules = Validation::new(ISSUER, ISSUER);
    if keys.insert(KID, key.public_key()).is_err() {
        return;
    }
    assert!(edgeauth_token::verify(&token, &keys, &rules, now).is_ok());

    // jsonwebtoken, same key, equivalent rules.
    let Ok(their_key) = DecodingKey::from_ed_components(&key.public_jwk().x) else {
        return;
    };
    let mut their_rules = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    their_rules.set_issuer(&[ISSUER]);
    their_rules.set_audience(&[ISSUER]);
    their_rules.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &their_key, &their_rules).is_ok());

    // The floor: the bare strict signature check.
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return;
    };
    let Ok(signature) = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(signature)
    else {
        return;
    };
    let Ok(signature) = <[u8; 64]>::try_from(signature.as_slice()) else {
        return;
    };
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    let Ok(floor_key) = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key().to_bytes())
    else {
        return;
    };
    assert!(floor_key
        .verify_strict(signing_input.as_bytes(), &signature)
        .is_ok());

    let mut group = c.benchmark_group("verify_better_auth_jwt");
    group.bench_function("edgeauth-token", |b| {
        b.iter(|| edgeauth_token::verify(black_box(&token), &keys, &rules, black_box(now)))
    });
    group.bench_function("jsonwebtoken", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &their_key, &their_rules))
    });
    group.bench_function("ed25519-dalek verify_strict", |b| {
        b.iter(|| floor_key.verify_strict(black_box(signing_input.as_bytes()), &signature))
    });
    // For transparency: dalek's cofactorless `verify` without the per-call small-order
    // checks, the cheapest equation check there is (not a strict verifier on its own).
    group.bench_function("ed25519-dalek verify (non-strict)", |b| {
        b.iter(|| {
            ed25519_dalek::Verifier::verify(
                &floor_key,
                black_box(signing_input.as_bytes()),
                &signature,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, verify_three_ways);
criterion_main!(benches);
