//! Backup codes as Better Auth's two-factor plugin keeps them: ten codes of ten characters
//! from `a-z0-9A-Z`, shown as `XXXXX-XXXXX`, stored in `twoFactor.backupCodes` as the
//! sealed ([`crate::crypto::seal`]) JSON array of the remaining codes. A code is typed with
//! its hyphen, as Better Auth requires; edgeauth also accepts it without, and compares in
//! constant time against every code (Better Auth uses `Array#includes`).

use rand::Rng;

use crate::crypto::{self, OpenError};

/// Codes per set.
pub const AMOUNT: usize = 10;
/// Characters per code, without the hyphen.
const LENGTH: usize = 10;
/// Better Auth's alphabet for these codes, in its order.
const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A new set of codes.
pub fn generate() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..AMOUNT)
        .map(|_| {
            let raw: String = (0..LENGTH)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            format!("{}-{}", &raw[..LENGTH / 2], &raw[LENGTH / 2..])
        })
        .collect()
}

/// The `backupCodes` column for `codes`.
pub fn seal(secret: &str, codes: &[String]) -> String {
    // A list of strings always serialises.
    crypto::seal(secret, &serde_json::to_string(codes).unwrap_or_default())
}

/// The codes in a `backupCodes` column.
pub fn open(secret: &str, column: &str) -> Result<Vec<String>, OpenError> {
    let json = crypto::open(secret, column)?;
    serde_json::from_str(&json).map_err(|_| OpenError)
}

/// The codes left once `typed` is used, or `None` when it is not one of them. Every code is
/// compared, in constant time, whatever matches.
pub fn without(codes: &[String], typed: &str) -> Option<Vec<String>> {
    let typed = normalise(typed);
    let mut used = None;
    for (index, code) in codes.iter().enumerate() {
        if crypto::same(&normalise(code), &typed) && used.is_none() {
            used = Some(index);
        }
    }
    let used = used?;
    Some(
        codes
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != used)
            .map(|(_, code)| code.clone())
            .collect(),
    )
}

/// A code as compared: without its hyphen and surrounding spaces (case matters: the
/// alphabet has both cases).
fn normalise(code: &str) -> String {
    code.trim().replace('-', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "better-auth-secret-0123456789abcdef";

    #[test]
    fn ten_codes_in_better_auths_shape() {
        let codes = generate();
        assert_eq!(codes.len(), AMOUNT);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(code.as_bytes()[5], b'-');
            assert!(code.replace('-', "").bytes().all(|b| ALPHABET.contains(&b)));
        }
        assert_ne!(codes, generate());
    }

    #[test]
    fn a_code_is_used_once_with_or_without_its_hyphen() {
        let codes = generate();
        let left = without(&codes, &codes[3]).unwrap();
        assert_eq!(left.len(), AMOUNT - 1);
        assert!(!left.contains(&codes[3]));
        assert_eq!(without(&left, &codes[3]), None);
        assert!(without(&codes, &codes[0].replace('-', "")).is_some());
        let swapped: String = codes[1]
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        if swapped != codes[1] {
            assert_eq!(without(&codes, &swapped), None, "case matters");
        }
        assert_eq!(without(&codes, ""), None);
        assert_eq!(without(&codes, "-"), None);
    }

    #[test]
    fn the_column_round_trips() {
        let codes = generate();
        let column = seal(SECRET, &codes);
        assert_eq!(open(SECRET, &column).unwrap(), codes);
        assert!(open("another-secret-0123456789abcdefgh", &column).is_err());
    }

    /// A column Better Auth 1.4.22 wrote (`symmetricEncrypt(JSON.stringify(codes))`) opens.
    #[test]
    fn opens_a_column_sealed_like_better_auth() {
        let codes = vec!["tWQlW-KPkAj".to_string(), "abcde-12345".to_string()];
        let nonce = [7u8; crypto::NONCE_LEN];
        let column = crypto::seal_with_nonce(SECRET, &nonce, r#"["tWQlW-KPkAj","abcde-12345"]"#);
        assert_eq!(open(SECRET, &column).unwrap(), codes);
    }
}
