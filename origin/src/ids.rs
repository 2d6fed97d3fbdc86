//! Random identifiers and tokens, generated the way Better Auth generates them.
//!
//! Better Auth's default `generateId` (`@better-auth/core` `utils/id.ts`) is
//! `createRandomStringGenerator("a-z", "A-Z", "0-9")(32)` from `@better-auth/utils/random`:
//! the alphabet is the concatenation `a-z`, `A-Z`, `0-9` in that order (62 symbols), bytes
//! come from `crypto.getRandomValues`, a byte is rejected when it is `>= floor(256 / 62) * 62`
//! (248), and an accepted byte maps to `alphabet[byte % 62]`. Every symbol is therefore drawn
//! with probability exactly 1/62. The same generator makes session tokens (32 chars) and
//! other random strings, so row ids and tokens minted here are indistinguishable from Better
//! Auth's.
//!
//! Randomness comes from the operating system's CSPRNG ([`OsRng`]).

use rand::rngs::OsRng;
use rand::RngCore;

/// The 62 symbols, in Better Auth's order (`a-z`, then `A-Z`, then `0-9`).
pub const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Bytes at or above this are discarded: `floor(256 / 62) * 62`, so `byte % 62` is uniform.
const REJECT_FROM: u8 = 248;

/// The length of Better Auth's default ids (and of its session tokens).
pub const ID_LEN: usize = 32;

/// A fresh 32-character id over `[a-zA-Z0-9]`, as Better Auth's default `generateId`.
pub fn generate_id() -> String {
    random_string(ID_LEN)
}

/// A random (version 4, RFC 9562) uuid, lower-case hex with dashes.
pub fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A random string of `len` characters over `[a-zA-Z0-9]`, every symbol uniform and
/// independent. `len == 0` gives an empty string (Better Auth throws instead; no caller of
/// ours asks for zero).
pub fn random_string(len: usize) -> String {
    random_string_from(&mut OsRng, len)
}

/// [`random_string`] drawing from `rng` (tests pass a seeded generator).
fn random_string_from<R: RngCore + ?Sized>(rng: &mut R, len: usize) -> String {
    let mut out = String::with_capacity(len);
    // Like Better Auth, draw twice the length at a time: 3% of bytes are rejected, so one
    // batch almost always suffices.
    let mut buf = vec![0u8; len.saturating_mul(2).max(1)];
    while out.len() < len {
        rng.fill_bytes(&mut buf);
        for &byte in &buf {
            if out.len() == len {
                break;
            }
            if byte < REJECT_FROM {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn alphabet_is_better_auths() {
        let expected: String = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        assert_eq!(ALPHABET.as_slice(), expected.as_bytes());
        assert_eq!(usize::from(REJECT_FROM), 256 / 62 * 62);
    }

    #[test]
    fn ids_are_32_alphanumeric_chars() {
        for _ in 0..1000 {
            let id = generate_id();
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn random_string_has_the_requested_length() {
        for len in [0, 1, 2, 7, 24, 32, 33, 100, 1000] {
            let s = random_string(len);
            assert_eq!(s.len(), len);
            assert!(s.bytes().all(|b| ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn ten_thousand_ids_are_distinct() {
        let ids: HashSet<String> = (0..10_000).map(|_| generate_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    /// Pearson's chi-square statistic of the symbol counts of `sample` against uniform.
    fn chi_square(sample: &str) -> f64 {
        let mut counts = [0u64; 62];
        for b in sample.bytes() {
            let index = ALPHABET.iter().position(|&a| a == b).unwrap();
            counts[index] += 1;
        }
        let expected = sample.len() as f64 / 62.0;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    // 61 degrees of freedom: mean 61, standard deviation 11. P(chi2 > 200) is about 1e-16, so
    // a fair generator never fails; a modulo-biased one (a..h drawn 5/4 as often) scores ~1000.
    const CHI_SQUARE_LIMIT: f64 = 200.0;
    const SAMPLE: usize = 200_000;

    #[test]
    fn symbols_are_uniform() {
        let sample = random_string(SAMPLE);
        let chi2 = chi_square(&sample);
        assert!(chi2 < CHI_SQUARE_LIMIT, "chi-square {chi2:.1}");
        // No single symbol strays more than ~10 standard deviations (sd ~ 56) from 3226.
        let expected = SAMPLE as f64 / 62.0;
        for &symbol in ALPHABET {
            let count = sample.bytes().filter(|&b| b == symbol).count() as f64;
            assert!(
                (count - expected).abs() < 560.0,
                "{} drawn {count} times, expected ~{expected:.0}",
                char::from(symbol)
            );
        }
    }

    #[test]
    fn the_uniformity_check_catches_modulo_bias() {
        // The same sampling without rejection: what the test above must be able to tell apart.
        let mut rng = StdRng::seed_from_u64(7);
        let mut bytes = vec![0u8; SAMPLE];
        rng.fill_bytes(&mut bytes);
        let biased: String = bytes
            .iter()
            .map(|&b| char::from(ALPHABET[usize::from(b % 62)]))
            .collect();
        assert!(chi_square(&biased) > CHI_SQUARE_LIMIT);
        // And the rejecting sampler passes on the same seeded source.
        let fair = random_string_from(&mut StdRng::seed_from_u64(7), SAMPLE);
        assert!(chi_square(&fair) < CHI_SQUARE_LIMIT);
    }

    #[test]
    fn rejected_bytes_are_skipped_not_mapped() {
        /// Yields the scripted bytes, then zeros.
        struct Scripted(Vec<u8>);
        impl RngCore for Scripted {
            fn next_u32(&mut self) -> u32 {
                unimplemented!()
            }
            fn next_u64(&mut self) -> u64 {
                unimplemented!()
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                for slot in dest {
                    *slot = if self.0.is_empty() {
                        0
                    } else {
                        self.0.remove(0)
                    };
                }
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        let mut rng = Scripted(vec![248, 249, 250, 255, 61, 62, 123, 247]);
        // Batches of 4 bytes: [248, 249, 250, 255] are all rejected; then 61 -> '9' and
        // 62 -> 'a' complete the string.
        assert_eq!(random_string_from(&mut rng, 2), "9a");
    }

    #[test]
    fn uuids_are_version_4_in_crypto_random_uuids_format() {
        let a = super::uuid_v4();
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
        assert!(a
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(a, super::uuid_v4());
    }
}
