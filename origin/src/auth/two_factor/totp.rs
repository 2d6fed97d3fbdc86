//! Time-based one-time passwords as Better Auth's two-factor plugin makes them (RFC 6238
//! over RFC 4226: HMAC-SHA1, 6 digits, 30-second steps), and its `otpauth://` URI.
//!
//! Better Auth's key is unusual: the HMAC key is the UTF-8 bytes of the stored
//! 32-character secret (not a base32 decoding of it); the URI carries the base32 of those
//! bytes, so an authenticator app computes the same codes. The HOTP step is the six lines
//! of RFC 4226 §5.3 over RustCrypto's HMAC, written here rather than taken from a TOTP
//! crate because verification must say *which* step matched (each step is accepted once,
//! see [`super::challenge`]), which their yes/no checks do not.

use data_encoding::BASE32_NOPAD;
use edgeauth_token::cookie::encode_uri_component;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha1::Sha1;

use crate::crypto;

/// Seconds per step.
pub const PERIOD: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one (clock drift).
pub const WINDOW: i64 = 1;
/// Characters in a secret (Better Auth's `generateRandomString(32)`).
pub const SECRET_LEN: usize = 32;

/// Better Auth's default random-string alphabet, in its order: `a-z`, `0-9`, `A-Z`, `-_`.
const SECRET_ALPHABET: &[u8; 64] =
    b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

/// A new secret: 32 characters from a 64-character alphabet (192 bits).
pub fn new_secret() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..SECRET_LEN)
        .map(|_| char::from(SECRET_ALPHABET[rng.gen_range(0..SECRET_ALPHABET.len())]))
        .collect()
}

/// The step a Unix time (seconds) falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(PERIOD)
}

/// The code for `step` under `secret` (RFC 4226 §5.3, zero-padded to [`DIGITS`]).
pub fn code_at(secret: &str, step: i64) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step within [`WINDOW`] of `now_step` whose code is `code`, compared in constant
/// time (every candidate step is computed and compared, whatever matches).
pub fn matching_step(secret: &str, code: &str, now_step: i64) -> Option<i64> {
    let mut found = None;
    for step in (now_step - WINDOW)..=(now_step + WINDOW) {
        if crypto::same(&code_at(secret, step), code) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app scans, byte for byte as Better Auth 1.4 writes
/// it: `otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&digits=6&period=30`,
/// the label parts `encodeURIComponent`-encoded and the query `URLSearchParams`-encoded.
pub fn uri(secret: &str, issuer: &str, account: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", &BASE32_NOPAD.encode(secret.as_bytes()))
        .append_pair("issuer", issuer)
        .finish();
    format!(
        "otpauth://totp/{}:{}?{query}&digits={DIGITS}&period={PERIOD}",
        encode_uri_component(issuer),
        encode_uri_component(account)
    )
}

/// The secret as an authenticator app takes it typed in: base32, in groups of four.
pub fn typed_secret(secret: &str) -> String {
    BASE32_NOPAD
        .encode(secret.as_bytes())
        .as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the key is the ASCII of "12345678901234567890" (the
    /// same UTF-8-bytes-as-key convention Better Auth uses), 8-digit codes truncated to 6.
    #[test]
    fn rfc_6238_vectors() {
        let key = "12345678901234567890";
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(key, step_at(time)), eight_digits[2..], "t={time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = new_secret();
        let now = step_at(1_800_000_000);
        for offset in -1..=1 {
            let code = code_at(&secret, now + offset);
            assert_eq!(matching_step(&secret, &code, now), Some(now + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = code_at(&secret, now + offset);
            // A code of a farther step can collide with a near one (1 in 10^6): skip that.
            if (-1..=1).all(|o| code_at(&secret, now + o) != code) {
                assert_eq!(matching_step(&secret, &code, now), None);
            }
        }
        assert_eq!(matching_step(&secret, "", now), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
    }

    #[test]
    fn secrets_are_32_characters_of_better_auths_alphabet() {
        let a = new_secret();
        assert_eq!(a.len(), SECRET_LEN);
        assert!(a.bytes().all(|b| SECRET_ALPHABET.contains(&b)));
        assert_ne!(a, new_secret());
    }

    /// The URI Better Auth 1.4.22 wrote for this secret (read from a running server).
    #[test]
    fn the_uri_is_better_auths() {
        assert_eq!(
            uri("dh7HpnCce2h2doOTzFiO5clOjLIHBOUs", "My App", "a@b.co"),
            "otpauth://totp/My%20App:a%40b.co?secret=MRUDOSDQNZBWGZJSNAZGI32PKR5EM2KPGVRWYT3KJREUQQSPKVZQ&issuer=My+App&digits=6&period=30"
        );
        assert_eq!(
            typed_secret("dh7HpnCce2h2doOTzFiO5clOjLIHBOUs").replace(' ', ""),
            "MRUDOSDQNZBWGZJSNAZGI32PKR5EM2KPGVRWYT3KJREUQQSPKVZQ"
        );
    }
}
