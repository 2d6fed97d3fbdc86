//! Better Auth's signed cookie value: `encodeURIComponent(token + "." + base64(HMAC-SHA256))`.
//!
//! better-call signs the `session_token` (and `dont_remember`) cookies this way: the MAC is
//! HMAC-SHA256 keyed with the UTF-8 bytes of the secret over the UTF-8 bytes of the value, in
//! standard base64 *with* padding (always 44 characters ending in `=`), and the whole value is
//! percent-encoded as JavaScript's `encodeURIComponent` does. Verification follows better-call:
//! percent-decode (only when a `%` is present), split at the last `.`, require a 44-character
//! signature ending in `=`, and compare MACs in constant time.

use alloc::borrow::Cow;
use alloc::string::String;

use base64ct::{Base64, Encoding};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Error;

/// Longest cookie value accepted (browsers cap a cookie at 4096 bytes).
pub const MAX_COOKIE_VALUE_LEN: usize = 4096;

/// Length of the base64 (padded) HMAC-SHA256 signature.
const SIGNATURE_LEN: usize = 44;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], value: &str) -> Result<HmacSha256, Error> {
    // HMAC takes keys of any length, so this only fails if that ever stops being true.
    let mut mac =
        HmacSha256::new_from_slice(secret).map_err(|_| Error::InvalidKey("HMAC secret"))?;
    mac.update(value.as_bytes());
    Ok(mac)
}

/// Verifies a signed cookie value and returns the value it carries (the session token).
///
/// Accepts the cookie as the browser sends it (percent-encoded) and the decoded form. Any
/// failure, including a bad MAC, is [`Error::InvalidSignature`] or [`Error::Malformed`].
///
/// ```
/// use edgeauth_token::cookie::verify_signed_value;
/// let secret = b"test-secret-test-secret-test-secret-0123456789";
/// let cookie = "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D";
/// assert_eq!(verify_signed_value(secret, cookie).unwrap(), "0YnKQty8O96CSthmLIeHvNJnuQmeit3f");
/// ```
pub fn verify_signed_value(secret: &[u8], cookie_value: &str) -> Result<String, Error> {
    if cookie_value.len() > MAX_COOKIE_VALUE_LEN {
        return Err(Error::TooLarge {
            len: cookie_value.len(),
            max: MAX_COOKIE_VALUE_LEN,
        });
    }
    let decoded: Cow<'_, str> = if cookie_value.contains('%') {
        percent_encoding::percent_decode_str(cookie_value)
            .decode_utf8()
            .map_err(|_| Error::Malformed("cookie is not UTF-8 after percent-decoding"))?
    } else {
        Cow::Borrowed(cookie_value)
    };
    let (value, signature) = decoded
        .rsplit_once('.')
        .ok_or(Error::Malformed("cookie has no signature"))?;
    if value.is_empty() || signature.len() != SIGNATURE_LEN || !signature.ends_with('=') {
        return Err(Error::Malformed(
            "cookie signature must be 44 base64 characters",
        ));
    }
    let mut tag = [0u8; 32];
    let tag = Base64::decode(signature, &mut tag)
        .map_err(|_| Error::Malformed("cookie signature is not base64"))?;
    mac(secret, value)?
        .verify_slice(tag)
        .map_err(|_| Error::InvalidSignature)?;
    Ok(value.into())
}

/// Signs `value` as better-call does and percent-encodes the result for a `Set-Cookie`.
#[cfg(feature = "sign")]
pub fn sign_value(secret: &[u8], value: &str) -> Result<String, Error> {
    let tag = mac(secret, value)?.finalize().into_bytes();
    let signed = alloc::format!("{value}.{}", Base64::encode_string(&tag));
    Ok(encode_uri_component(&signed))
}

/// JavaScript's `encodeURIComponent`: percent-encodes every byte of the UTF-8 text except
/// `A-Z a-z 0-9 - _ . ! ~ * ' ( )`. Cookie values and redirect parameters use it.
pub fn encode_uri_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, URI_COMPONENT).collect()
}

/// The bytes JavaScript's `encodeURIComponent` escapes: all but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123456789";
    const TOKEN: &str = "0YnKQty8O96CSthmLIeHvNJnuQmeit3f";
    const TOKEN_COOKIE: &str =
        "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D";
    const DONT_REMEMBER: &str = "true.AVqqiud3730MaL4ClnNtdyYNoTI9egQ%2FDjKH5ivMWEI%3D";

    #[test]
    fn better_auth_vectors_verify() {
        assert_eq!(verify_signed_value(SECRET, TOKEN_COOKIE).unwrap(), TOKEN);
        assert_eq!(verify_signed_value(SECRET, DONT_REMEMBER).unwrap(), "true");
        let decoded =
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.+TjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE=";
        assert_eq!(verify_signed_value(SECRET, decoded).unwrap(), TOKEN);
    }

    #[cfg(feature = "sign")]
    #[test]
    fn signing_reproduces_better_auth_vectors() {
        assert_eq!(sign_value(SECRET, TOKEN).unwrap(), TOKEN_COOKIE);
        assert_eq!(sign_value(SECRET, "true").unwrap(), DONT_REMEMBER);
    }

    #[test]
    fn encodes_as_encode_uri_component_does() {
        assert_eq!(
            encode_uri_component("/app?x=1&y=a b+c/é!~*'()"),
            "%2Fapp%3Fx%3D1%26y%3Da%20b%2Bc%2F%C3%A9!~*'()"
        );
    }

    #[test]
    fn wrong_secret_or_tampering_is_rejected() {
        assert_eq!(
            verify_signed_value(b"another-secret-another-secret-0123", TOKEN_COOKIE),
            Err(Error::InvalidSignature)
        );
        let tampered = TOKEN_COOKIE.replacen('0', "1", 1);
        assert_eq!(
            verify_signed_value(SECRET, &tampered),
            Err(Error::InvalidSignature)
        );
    }

    #[test]
    fn malformed_values_are_rejected() {
        let too_long = "a".repeat(MAX_COOKIE_VALUE_LEN + 1);
        for bad in [
            "",
            TOKEN,
            ".%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D",
            // 1.4's bearer quirk: the first `=` dropped leaves 43 characters.
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.+TjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE",
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3P%3D%3D",
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.%FF%2BTjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3P%3D",
            "0YnKQty8O96CSthmLIeHvNJnuQmeit3f.!TjIZfUJl40S4kDtO09g3TslbtAfObeUGxMRPjVK3PE%3D",
            &too_long,
        ] {
            assert!(
                verify_signed_value(SECRET, bad).is_err(),
                "accepted {bad:?}"
            );
        }
    }
}
