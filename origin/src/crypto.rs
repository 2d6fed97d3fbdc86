//! Better Auth's secret-keyed primitives, used by every table that stores something sealed
//! (the `jwks` private key, the two-factor secret and backup codes) and by the cookies
//! signed with a keyed hash.
//!
//! - [`seal`] / [`open`]: Better Auth's `symmetricEncrypt` / `symmetricDecrypt`:
//!   XChaCha20-Poly1305 under the key SHA-256(UTF-8 bytes of `BETTER_AUTH_SECRET`), no
//!   associated data, stored as lower-case hex of `nonce (24 bytes) ‖ ciphertext ‖ tag (16
//!   bytes)` (noble's `managedNonce(xchacha20poly1305)`). Values sealed here and by Better
//!   Auth 1.4 open on either side.
//! - [`hmac_b64url`]: Better Auth's `createHMAC("SHA-256", "base64urlnopad")`.
//! - [`same`]: constant-time equality of two secrets.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// XChaCha20 nonce length, prepended to the ciphertext.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length, appended to the ciphertext.
const TAG_LEN: usize = 16;

/// A sealed value does not open: another secret sealed it, or it was altered (bad hex,
/// truncated, flipped bytes), or its plaintext is not UTF-8. Carries nothing secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot open a sealed value: wrong BETTER_AUTH_SECRET or corrupted data")]
pub struct OpenError;

fn cipher(secret: &str) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Sha256::digest(secret.as_bytes()))
}

/// Seals `plaintext` under `secret` with a fresh random nonce: lower-case hex.
pub fn seal(secret: &str, plaintext: &str) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(secret, &nonce, plaintext)
}

/// [`seal`] with a given nonce (known-answer tests).
pub fn seal_with_nonce(secret: &str, nonce: &[u8; NONCE_LEN], plaintext: &str) -> String {
    // XChaCha20-Poly1305 refuses only plaintexts longer than 256 GiB: the values sealed here
    // are a few hundred bytes, so `unwrap_or_default` never yields the empty vector.
    let sealed = cipher(secret)
        .encrypt(&XNonce::from(*nonce), plaintext.as_bytes())
        .unwrap_or_default();
    let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
    blob.extend_from_slice(nonce);
    blob.extend_from_slice(&sealed);
    hex::encode(blob)
}

/// Opens a value [`seal`]ed under `secret` (or by Better Auth's `symmetricEncrypt`).
pub fn open(secret: &str, sealed_hex: &str) -> Result<String, OpenError> {
    let blob = hex::decode(sealed_hex).map_err(|_| OpenError)?;
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError);
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
    let plain = cipher(secret)
        .decrypt(&XNonce::from(nonce), sealed)
        .map_err(|_| OpenError)?;
    String::from_utf8(plain).map_err(|_| OpenError)
}

/// HMAC-SHA256 of `data` under the UTF-8 bytes of `secret`, base64url without padding.
pub fn hmac_b64url(secret: &str, data: &str) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(data.as_bytes());
    Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes())
}

/// Whether two secrets are equal, in time that depends only on their lengths.
pub fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "better-auth-secret-0123456789abcdef";

    #[test]
    fn seal_round_trips_and_refuses_another_secret_or_a_flipped_byte() {
        let sealed = seal(SECRET, "JBSWY3DPEHPK3PXP");
        assert_eq!(sealed.len(), 2 * (NONCE_LEN + 16 + TAG_LEN));
        assert_eq!(open(SECRET, &sealed).as_deref(), Ok("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            open("another-secret-0123456789abcdefgh", &sealed),
            Err(OpenError)
        );
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(open(SECRET, &flipped), Err(OpenError));
        assert_eq!(open(SECRET, "not hex"), Err(OpenError));
        assert_eq!(open(SECRET, "00"), Err(OpenError));
    }

    #[test]
    fn a_fresh_nonce_each_time() {
        assert_ne!(seal(SECRET, "x"), seal(SECRET, "x"));
    }

    /// RFC 4231 test case 2 ("Jefe"), in base64url.
    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hmac_b64url("Jefe", "what do ya want for nothing?"),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM"
        );
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same("123456", "123456"));
        assert!(!same("123456", "123457"));
        assert!(!same("12345", "123456"));
    }
}
