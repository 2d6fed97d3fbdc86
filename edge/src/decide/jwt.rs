//! JWT verification at the edge, and the isolate's memo of verified tokens.
//!
//! `Authorization: Bearer <jwt>` is verified by the token crate, whose profile is strict:
//! `alg` exactly `EdDSA`, a `kid` naming a key of the configured set (no `jwk`, `jku`,
//! `x5u`, ... header), strict Ed25519, `iss` = `JWT_ISSUER`, `aud` containing
//! `JWT_AUDIENCE`, `exp` required, [`LEEWAY`] seconds of clock skew, at most
//! [`MAX_JWT_LIFETIME`] of lifetime, tokens of at most 8 KiB.
//!
//! A token already verified in this isolate is not verified again while it lives: the memo
//! ([`Memo`]) maps SHA-256 of the token to its claims, holds at most [`MEMO_CAPACITY`]
//! tokens, and a hit still re-checks `exp` against `now` and that the key which verified it
//! is still in the key set. Revocation markers and session liveness are checked on every
//! request by the caller, memo hit or not (the runtime's authentication).

use std::rc::Rc;

use edgeauth_token::claims::{DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME};
use edgeauth_token::{Error, KeySet, UntrustedToken, Validation, VerifiedClaims};

use crate::decide::memory::ExpiringMap;

/// The longest JWT lifetime accepted (`exp - iat`, and `exp - now`): 24 hours. Better Auth
/// mints 15-minute tokens.
pub const MAX_JWT_LIFETIME: u64 = DEFAULT_MAX_LIFETIME;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY: u64 = DEFAULT_LEEWAY;

/// Most verified tokens one isolate remembers.
pub const MEMO_CAPACITY: usize = 1024;

/// The validation policy for `JWT_ISSUER` and `JWT_AUDIENCE`.
pub fn validation(issuer: &str, audience: &str) -> Validation {
    Validation::new(issuer, audience)
        .with_leeway(LEEWAY)
        .with_max_lifetime(MAX_JWT_LIFETIME)
}

/// What the edge keeps of a verified JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    /// `sub`: the user id.
    pub user_id: String,
    /// The `email` claim, when a string.
    pub email: Option<String>,
    /// The `name` claim, when a string.
    pub name: Option<String>,
    /// `sid`: the session the token was minted for, when the issuer names it.
    pub session_id: Option<String>,
    /// `iat`, when present.
    pub issued_at: Option<u64>,
    /// `exp`.
    pub expires_at: u64,
    /// The `kid` of the key that verified it.
    pub kid: String,
}

impl VerifiedJwt {
    /// The parts of verified claims the edge uses.
    pub fn from_claims(claims: &VerifiedClaims) -> Self {
        VerifiedJwt {
            user_id: claims.subject().to_string(),
            email: claims.get_str("email").map(str::to_string),
            name: claims.get_str("name").map(str::to_string),
            session_id: claims.session_id().map(str::to_string),
            issued_at: claims.issued_at(),
            expires_at: claims.expires_at(),
            kid: claims.key_id().to_string(),
        }
    }

    /// Whether the token is still unexpired at `now`, exactly as the token crate decides it
    /// (`now < exp + leeway`). `nbf` and `iat` checks only get easier as time passes.
    pub fn is_unexpired(&self, now: u64) -> bool {
        now < self.expires_at.saturating_add(LEEWAY)
    }
}

/// The `kid` of a token, after the token crate's shape and header checks (alg, forbidden
/// header members, size). Refusals here need no key.
pub fn kid_of(token: &str, rules: &Validation) -> Result<String, Error> {
    UntrustedToken::parse(token, rules.max_token_len).map(|t| t.kid().to_string())
}

/// Verifies `token` with `keys` under `rules` at `now`.
pub fn verify(
    token: &str,
    keys: &KeySet,
    rules: &Validation,
    now: u64,
) -> Result<VerifiedJwt, Error> {
    edgeauth_token::verify(token, keys, rules, now).map(|claims| VerifiedJwt::from_claims(&claims))
}

/// The isolate's memo of verified tokens, keyed by SHA-256 of the token.
#[derive(Debug, Clone)]
pub struct Memo {
    tokens: ExpiringMap<[u8; 32], VerifiedJwt>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            tokens: ExpiringMap::new(MEMO_CAPACITY),
        }
    }
}

impl Memo {
    /// The remembered claims of the token hashing to `hash`, if it is unexpired at `now` and
    /// the key that verified it is still in `keys`.
    pub fn get(&self, hash: &[u8; 32], keys: &KeySet, now: u64) -> Option<VerifiedJwt> {
        self.tokens
            .get(hash, now)
            .filter(|jwt| jwt.is_unexpired(now) && keys.get(&jwt.kid).is_some())
            .cloned()
    }

    /// Remembers a token verified at `now` until it expires.
    pub fn insert(&mut self, hash: [u8; 32], jwt: VerifiedJwt, now: u64) {
        let until = jwt.expires_at.saturating_add(LEEWAY);
        self.tokens.insert(hash, jwt, until, now);
    }

    /// Number of tokens remembered.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The key set a token is verified with: pinned (`JWKS_JSON`) or fetched.
pub type Keys = Rc<KeySet>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::session_cache::token_hash;
    use edgeauth_token::{ClaimError, ClaimsBuilder, SigningKey};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "http://localhost:3000";

    fn key(kid: &str, seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32], kid).unwrap()
    }

    fn keys(signers: &[&SigningKey]) -> KeySet {
        let mut set = KeySet::new();
        for k in signers {
            set.insert(k.kid(), k.public_key()).unwrap();
        }
        set
    }

    fn mint(signer: &SigningKey, iat: u64, lifetime: u64) -> String {
        let user = json!({"id": "u1", "email": "ada@example.com", "name": "Ada"});
        let claims = ClaimsBuilder::better_auth(
            user.as_object().unwrap().clone(),
            "u1",
            iat,
            lifetime,
            ISS,
            &[ISS],
        )
        .insert("sid", "s1");
        signer.sign(&claims)
    }

    fn rules() -> Validation {
        validation(ISS, ISS)
    }

    #[test]
    fn a_better_auth_jwt_verifies() {
        let k = key("k1", 1);
        let token = mint(&k, NOW, 900);
        let jwt = verify(&token, &keys(&[&k]), &rules(), NOW + 10).unwrap();
        assert_eq!(
            jwt,
            VerifiedJwt {
                user_id: "u1".into(),
                email: Some("ada@example.com".into()),
                name: Some("Ada".into()),
                session_id: Some("s1".into()),
                issued_at: Some(NOW),
                expires_at: NOW + 900,
                kid: "k1".into(),
            }
        );
        assert_eq!(kid_of(&token, &rules()).unwrap(), "k1");
    }

    #[test]
    fn expired_wrong_kid_wrong_key_and_wrong_audience_are_refused() {
        let k = key("k1", 1);
        let set = keys(&[&k]);
        let token = mint(&k, NOW, 900);
        assert_eq!(
            verify(&token, &set, &rules(), NOW + 900 + LEEWAY),
            Err(Error::Claim(ClaimError::Expired))
        );
        // Signed by another key under a kid we do not have.
        let other = key("k2", 2);
        assert_eq!(
            verify(&mint(&other, NOW, 900), &set, &rules(), NOW),
            Err(Error::UnknownKey)
        );
        // Signed by another key under our kid.
        let impostor = key("k1", 3);
        assert_eq!(
            verify(&mint(&impostor, NOW, 900), &set, &rules(), NOW),
            Err(Error::InvalidSignature)
        );
        assert_eq!(
            verify(&token, &set, &validation(ISS, "https://other.example"), NOW),
            Err(Error::Claim(ClaimError::Audience))
        );
        assert_eq!(
            verify(&token, &set, &validation("https://evil.example", ISS), NOW),
            Err(Error::Claim(ClaimError::Issuer))
        );
        // Longer than the edge accepts.
        assert_eq!(
            verify(&mint(&k, NOW, MAX_JWT_LIFETIME + 1), &set, &rules(), NOW),
            Err(Error::Claim(ClaimError::LifetimeTooLong))
        );
    }

    #[test]
    fn alg_none_and_header_tricks_are_refused_before_any_key() {
        use base64ct_free::b64;
        let payload = b64(&json!({"sub":"u1","iss":ISS,"aud":ISS,"exp":NOW+900}).to_string());
        for header in [
            json!({"alg":"none","kid":"k1"}),
            json!({"alg":"NONE","kid":"k1"}),
            json!({"alg":"HS256","kid":"k1"}),
            json!({"alg":"EdDSA","kid":"k1","jku":"https://evil.example/jwks"}),
            json!({"alg":"EdDSA","kid":"k1","jwk":{"kty":"OKP"}}),
            json!({"alg":"EdDSA"}),
        ] {
            let token = format!("{}.{payload}.", b64(&header.to_string()));
            assert!(kid_of(&token, &rules()).is_err(), "{header}");
            let signed_shape = format!("{}.{payload}.{}", b64(&header.to_string()), "A".repeat(86));
            assert!(kid_of(&signed_shape, &rules()).is_err(), "{header}");
        }
        assert!(kid_of("a.b.c", &rules()).is_err());
        assert!(kid_of(&"a".repeat(9000), &rules()).is_err());
    }

    #[test]
    fn the_memo_remembers_until_expiry_and_only_while_the_key_is_trusted() {
        let k = key("k1", 1);
        let set = keys(&[&k]);
        let token = mint(&k, NOW, 900);
        let jwt = verify(&token, &set, &rules(), NOW).unwrap();
        let hash = token_hash(&token);
        let mut memo = Memo::default();
        memo.insert(hash, jwt.clone(), NOW);
        assert_eq!(memo.get(&hash, &set, NOW + 1), Some(jwt.clone()));
        assert_eq!(memo.get(&hash, &set, NOW + 900 + LEEWAY - 1), Some(jwt));
        // Expired: exactly when the token crate would refuse it.
        assert_eq!(memo.get(&hash, &set, NOW + 900 + LEEWAY), None);
        assert!(verify(&token, &set, &rules(), NOW + 900 + LEEWAY).is_err());
        // The key left the set (rotation, compromise): verify again, and fail.
        let without = keys(&[&key("k2", 2)]);
        assert_eq!(memo.get(&hash, &without, NOW + 1), None);
        // Another token is not remembered.
        assert_eq!(memo.get(&token_hash("other"), &set, NOW), None);
    }

    #[test]
    fn the_memo_is_bounded() {
        let k = key("k1", 1);
        let set = keys(&[&k]);
        let mut memo = Memo::default();
        let jwt = verify(&mint(&k, NOW, 900), &set, &rules(), NOW).unwrap();
        for i in 0..(MEMO_CAPACITY as u32 + 10) {
            memo.insert(token_hash(&i.to_string()), jwt.clone(), NOW);
        }
        assert_eq!(memo.len(), MEMO_CAPACITY);
    }

    /// Unpadded base64url for hand-made test tokens.
    mod base64ct_free {
        pub fn b64(text: &str) -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let bytes = text.as_bytes();
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
                for i in 0..=chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                }
            }
            out
        }
    }
}
