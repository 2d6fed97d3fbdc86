//! The JWT plugin's signing keys as Better Auth stores them in its `jwks` table.
//!
//! A row (`id`, `publicKey`, `privateKey`, `createdAt`, `expiresAt`) holds one Ed25519 key:
//!
//! - `id` is the key id (`kid`) of every JWT the key signs;
//! - `publicKey` is the JSON text of the public JWK as jose's `exportJWK` writes it,
//!   `{"crv":"Ed25519","x":"<b64url>","kty":"OKP"}`;
//! - `privateKey` is, by default, a JSON *string literal* (quotes included) whose content is
//!   lower-case hex of `nonce (24 bytes) ‖ XChaCha20-Poly1305 ciphertext ‖ tag (16 bytes)`,
//!   without associated data, under the key SHA-256(UTF-8 bytes of `BETTER_AUTH_SECRET`); the
//!   plaintext is the JSON text of the private JWK `{"crv":"Ed25519","d":..,"x":..,"kty":"OKP"}`
//!   (Better Auth's `symmetricEncrypt`, noble's `managedNonce(xchacha20poly1305)`);
//! - with Better Auth's `jwks.disablePrivateKeyEncryption`, `privateKey` is the private JWK's
//!   JSON text itself. Reading accepts both forms: a column that parses as a JSON object is a
//!   raw JWK, a JSON string is ciphertext.
//!
//! Rows written here and by Better Auth 1.4 are interchangeable in both directions.

use edgeauth_token::{Jwk, SigningKey};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::Value;

use crate::crypto;

/// Why a `jwks` row cannot be used or made. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The ciphertext does not open under this secret: the secret differs from the one the
    /// row was written with, or the row was altered (bad hex, truncated, flipped bytes).
    #[error("cannot decrypt the jwks private key: wrong BETTER_AUTH_SECRET or corrupted row")]
    Decrypt,
    /// A column does not have the shape Better Auth writes.
    #[error("malformed jwks row: {0}")]
    Malformed(&'static str),
    /// The decrypted private JWK (or the kid) is not a usable Ed25519 key.
    #[error("unusable jwks key: {0}")]
    InvalidKey(#[from] edgeauth_token::Error),
    /// The row's `publicKey` is not the public half of its `privateKey`.
    #[error("the jwks row's publicKey does not match its privateKey")]
    PublicKeyMismatch,
    /// Encryption refused its input (only possible for absurdly long plaintexts).
    #[error("cannot encrypt the jwks private key")]
    Encrypt,
}

/// One `jwks` row's key columns, as stored (see the module docs for their formats).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The row id, which is also the `kid`.
    pub id: String,
    /// The `publicKey` column: JSON text of the public JWK.
    pub public_key: String,
    /// The `privateKey` column: a JSON string of hex ciphertext, or a raw JWK's JSON text.
    pub private_key: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private column may be an unencrypted JWK: never print it.
        f.debug_struct("StoredKey")
            .field("id", &self.id)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// Encrypts a private JWK's JSON text for the `privateKey` column under a fresh random
/// nonce. The result is the column value: a JSON string literal (with its quotes) of hex.
pub fn encrypt_private_key(secret: &str, jwk_json: &str) -> Result<String, KeyError> {
    as_json_string(crypto::seal(secret, jwk_json))
}

fn as_json_string(hex_text: String) -> Result<String, KeyError> {
    // A JSON string of hex digits: serialising a `String` cannot fail, but stay total.
    serde_json::to_string(&hex_text).map_err(|_| KeyError::Encrypt)
}

/// The private JWK's JSON text from a `privateKey` column: decrypted when the column is a
/// JSON string (Better Auth's default), returned as is when it is a JSON object (a row
/// written with `disablePrivateKeyEncryption`).
pub fn decrypt_private_key(secret: &str, stored: &str) -> Result<String, KeyError> {
    let hex_text = match serde_json::from_str::<Value>(stored) {
        Ok(Value::String(text)) => text,
        Ok(Value::Object(_)) => return Ok(stored.to_string()),
        _ => {
            return Err(KeyError::Malformed(
                "privateKey is neither a JSON string (encrypted) nor a JSON object (raw JWK)",
            ))
        }
    };
    if hex_text.starts_with("$ba$") {
        return Err(KeyError::Malformed(
            "privateKey uses Better Auth 1.7's versioned-secret envelope ($ba$...), \
             which edgeauth does not read",
        ));
    }
    crypto::open(secret, &hex_text).map_err(|_| KeyError::Decrypt)
}

/// A fresh Ed25519 key (32 bytes from the OS CSPRNG) with kid `id`, and its `jwks` row with
/// the private JWK encrypted under `secret`.
pub fn new_stored_key(secret: &str, id: String) -> Result<(StoredKey, SigningKey), KeyError> {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_seed(&seed, &id);
    seed.fill(0);
    let key = key?;
    let private_json = serde_json::to_string(&key.private_jwk())
        .map_err(|_| KeyError::Malformed("cannot serialise the private JWK"))?;
    // jose's exportJWK of a public key: `crv`, `x`, `kty`, no `alg`, no `kid`.
    let public = Jwk {
        alg: None,
        kid: None,
        ..key.public_jwk()
    };
    let public_key = serde_json::to_string(&public)
        .map_err(|_| KeyError::Malformed("cannot serialise the public JWK"))?;
    let private_key = encrypt_private_key(secret, &private_json)?;
    Ok((
        StoredKey {
            id,
            public_key,
            private_key,
        },
        key,
    ))
}

/// The signing key of a `jwks` row (kid = the row id), after checking that the row's
/// `publicKey` is the private key's public half.
pub fn signing_key(secret: &str, row: &StoredKey) -> Result<SigningKey, KeyError> {
    let private_json = decrypt_private_key(secret, &row.private_key)?;
    let key = SigningKey::from_private_jwk_json(&private_json, &row.id)?;
    let public = public_jwk(row)?;
    if public.x != key.public_jwk().x {
        return Err(KeyError::PublicKeyMismatch);
    }
    Ok(key)
}

/// The row's public key as `/jwks` lists it (`alg`, `crv`, `x`, `kty`, `kid` = row id),
/// read from `publicKey` alone: no secret needed. Checks `kty`/`crv`; the point itself is
/// validated by whoever loads the key set.
pub fn public_jwk(row: &StoredKey) -> Result<Jwk, KeyError> {
    let value: Value = serde_json::from_str(&row.public_key)
        .map_err(|_| KeyError::Malformed("publicKey is not JSON"))?;
    let field = |name| value.get(name).and_then(Value::as_str);
    if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
        return Err(KeyError::Malformed("publicKey is not an Ed25519 OKP JWK"));
    }
    let x = field("x").ok_or(KeyError::Malformed("publicKey has no x"))?;
    Ok(Jwk {
        alg: Some("EdDSA".into()),
        crv: "Ed25519".into(),
        x: x.into(),
        kty: "OKP".into(),
        kid: Some(row.id.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "edgeauth-kat-secret-0123456789abcdef";

    /// RFC 8037 appendix A.1's Ed25519 key, as Node's `JSON.stringify(exportJWK(key))`.
    const RFC8037_JWK: &str = r#"{"crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kty":"OKP"}"#;
    const RFC8037_PUBLIC: &str =
        r#"{"crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kty":"OKP"}"#;

    /// `RFC8037_JWK` encrypted under `SECRET` with nonce 00 01 .. 17, by an independent
    /// implementation (libsodium through PyNaCl 1.6.2). Regenerate with:
    ///
    /// ```python
    /// import hashlib, json
    /// from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
    /// jwk = '{"crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",' \
    ///       '"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kty":"OKP"}'
    /// key = hashlib.sha256(b"edgeauth-kat-secret-0123456789abcdef").digest()
    /// nonce = bytes(range(24))
    /// ct = crypto_aead_xchacha20poly1305_ietf_encrypt(jwk.encode(), None, nonce, key)
    /// print(json.dumps((nonce + ct).hex()))
    /// ```
    const KAT_STORED: &str = concat!(
        "\"000102030405060708090a0b0c0d0e0f10111213141516170d1347260a9de35d357e626444753b40",
        "5cdff849d2787e0d72432b152178194b4ba12d4868b6371ae4ea1fb28ee8b10fe17ac28c60af744c23",
        "1f3591f37a4990b98cdd1bf4c05689de28b4b52540ba3d263610b51805b2430d3d6b92e4aa5fbbaaa1",
        "ad8a110cf0e82bcc05bfa869b3365f2ef19002b73236c7f1f74c7498f8645378fed898f2500233f40d",
        "df3f2ddc608c\"",
    );

    fn kat_row() -> StoredKey {
        StoredKey {
            id: "kat-key".into(),
            public_key: RFC8037_PUBLIC.into(),
            private_key: KAT_STORED.into(),
        }
    }

    #[test]
    fn opens_the_libsodium_known_answer() {
        assert_eq!(
            decrypt_private_key(SECRET, KAT_STORED).unwrap(),
            RFC8037_JWK
        );
        let key = signing_key(SECRET, &kat_row()).unwrap();
        assert_eq!(key.kid(), "kat-key");
        assert_eq!(
            key.public_jwk().x,
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
    }

    #[test]
    fn seals_the_known_answer_byte_for_byte() {
        let nonce: [u8; 24] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            as_json_string(crypto::seal_with_nonce(SECRET, &nonce, RFC8037_JWK)).unwrap(),
            KAT_STORED
        );
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let a = encrypt_private_key(SECRET, RFC8037_JWK).unwrap();
        let b = encrypt_private_key(SECRET, RFC8037_JWK).unwrap();
        assert_ne!(a, b);
        for stored in [&a, &b] {
            // A quoted string of lower-case hex: nonce + plaintext + tag.
            let hex_text: String = serde_json::from_str(stored).unwrap();
            assert_eq!(hex_text.len(), 2 * (24 + RFC8037_JWK.len() + 16));
            assert!(hex_text
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert_eq!(decrypt_private_key(SECRET, stored).unwrap(), RFC8037_JWK);
        }
    }

    #[test]
    fn new_keys_make_better_auth_rows_that_read_back() {
        let (row, key) = new_stored_key(SECRET, "k1".into()).unwrap();
        assert_eq!(row.id, "k1");
        assert_eq!(key.kid(), "k1");
        let x = key.public_jwk().x;
        assert_eq!(
            row.public_key,
            format!(r#"{{"crv":"Ed25519","x":"{x}","kty":"OKP"}}"#)
        );
        let private_json = decrypt_private_key(SECRET, &row.private_key).unwrap();
        let private: serde_json::Map<String, Value> = serde_json::from_str(&private_json).unwrap();
        let members: Vec<&str> = private.keys().map(String::as_str).collect();
        assert_eq!(members, ["crv", "d", "x", "kty"]);

        let again = signing_key(SECRET, &row).unwrap();
        assert_eq!(again.kid(), "k1");
        assert!(again.private_jwk() == key.private_jwk());
        assert_eq!(again.sign_bytes(b"m"), key.sign_bytes(b"m"));

        let listed = public_jwk(&row).unwrap();
        assert_eq!(listed, key.public_jwk());

        let (other, _) = new_stored_key(SECRET, "k2".into()).unwrap();
        assert_ne!(other.public_key, row.public_key);
    }

    #[test]
    fn a_wrong_secret_fails_cleanly() {
        let err = decrypt_private_key("another-secret", KAT_STORED).unwrap_err();
        assert!(matches!(err, KeyError::Decrypt));
        let message = err.to_string();
        assert_eq!(
            message,
            "cannot decrypt the jwks private key: wrong BETTER_AUTH_SECRET or corrupted row"
        );
        let err = signing_key("another-secret", &kat_row()).unwrap_err();
        assert!(matches!(err, KeyError::Decrypt));
        assert!(!format!("{err} {err:?}").contains("another-secret"));
    }

    #[test]
    fn any_altered_byte_fails() {
        let hex_text: String = serde_json::from_str(KAT_STORED).unwrap();
        // First nonce byte, a ciphertext byte, the last tag byte.
        for index in [0, 2 * 24 + 10, hex_text.len() - 1] {
            let mut bytes = hex_text.clone().into_bytes();
            bytes[index] = if bytes[index] == b'0' { b'1' } else { b'0' };
            let altered = serde_json::to_string(&String::from_utf8(bytes).unwrap()).unwrap();
            assert!(
                matches!(
                    decrypt_private_key(SECRET, &altered),
                    Err(KeyError::Decrypt)
                ),
                "hex digit {index}"
            );
        }
        for corrupt in [
            "\"\"",
            "\"zz\"",
            "\"0001\"",
            "\"000102030405060708090a0b0c0d0e0f1011121314151617\"",
            &KAT_STORED.replace("608c\"", "60\""),
        ] {
            assert!(
                matches!(decrypt_private_key(SECRET, corrupt), Err(KeyError::Decrypt)),
                "{corrupt}"
            );
        }
    }

    #[test]
    fn raw_jwk_rows_are_accepted_whatever_the_secret() {
        // Better Auth with `jwks.disablePrivateKeyEncryption: true`.
        let row = StoredKey {
            private_key: RFC8037_JWK.into(),
            ..kat_row()
        };
        assert_eq!(
            decrypt_private_key("anything", &row.private_key).unwrap(),
            RFC8037_JWK
        );
        let key = signing_key("anything", &row).unwrap();
        assert_eq!(
            key.public_jwk().x,
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
    }

    #[test]
    fn malformed_columns_are_named() {
        for stored in ["", "42", "[]", "null", "not json", "{\"crv\""] {
            assert!(
                matches!(
                    decrypt_private_key(SECRET, stored),
                    Err(KeyError::Malformed(_))
                ),
                "{stored}"
            );
        }
        let versioned = decrypt_private_key(SECRET, "\"$ba$1$00ff\"").unwrap_err();
        assert!(versioned.to_string().contains("$ba$"), "{versioned}");

        // A raw JWK that is not an Ed25519 key.
        let row = StoredKey {
            private_key: r#"{"kty":"EC","crv":"P-256"}"#.into(),
            ..kat_row()
        };
        assert!(matches!(
            signing_key(SECRET, &row),
            Err(KeyError::InvalidKey(_))
        ));
        let row = StoredKey {
            public_key: "{}".into(),
            ..kat_row()
        };
        assert!(matches!(
            signing_key(SECRET, &row),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn a_public_key_from_another_row_is_refused() {
        let (other, _) = new_stored_key(SECRET, "other".into()).unwrap();
        let row = StoredKey {
            public_key: other.public_key,
            ..kat_row()
        };
        assert!(matches!(
            signing_key(SECRET, &row),
            Err(KeyError::PublicKeyMismatch)
        ));
    }

    #[test]
    fn debug_output_hides_the_private_column() {
        let row = StoredKey {
            private_key: RFC8037_JWK.into(),
            ..kat_row()
        };
        assert!(!format!("{row:?}").contains("nWGxne"));
    }
}
