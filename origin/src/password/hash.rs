//! Password hashing and verification: argon2id (our default) and Better Auth's scrypt format.
//!
//! Everything here is synchronous and CPU/memory heavy (tens of milliseconds, 19 to 32 MiB per
//! call): call it through [`HashPool`](super::HashPool) from async code, never directly on a
//! runtime worker.
//!
//! argon2 runs in block buffers reused from the hasher's [`BlockPool`] (see
//! [`super::blocks`]) rather than the fresh buffer `argon2`'s own `PasswordHasher` and
//! `hash_password_into` allocate per call, so its memory is bounded by the number of hashes
//! running at once. The PHC strings are parsed and written here, in exactly the format
//! `argon2`'s `PasswordHasher` writes (tested against it).

use std::fmt;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Version};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

use super::blocks::BlockPool;
use super::HashError;

/// Better Auth's scrypt cost: `N = 2^14 = 16384`.
const SCRYPT_LOG_N: u8 = 14;
/// Better Auth's scrypt block size `r`.
const SCRYPT_R: u32 = 16;
/// Better Auth's scrypt parallelism `p`.
const SCRYPT_P: u32 = 1;
/// Better Auth's derived key length in bytes (128 hex characters when stored).
const SCRYPT_KEY_LEN: usize = 64;
/// Random salt bytes, for both schemes (Better Auth stores them as 32 hex characters).
const SALT_LEN: usize = 16;
/// Length of the argon2 hash we write (the `argon2` crate's default output length).
const ARGON2_OUTPUT_LEN: usize = argon2::Params::DEFAULT_OUTPUT_LEN;

/// Largest argon2 memory cost (KiB) a stored hash may ask for: 1 GiB, libsodium's
/// "sensitive" level. A stored hash decides how much memory its verification allocates, and
/// an allocation failure aborts the process; a corrupted or planted row asking for 4 TiB must
/// be refused ([`HashError::Malformed`]), not attempted.
pub const MAX_VERIFY_M_COST_KIB: u32 = 1024 * 1024;
/// Largest argon2 iteration count a stored hash may ask for (same reason, for CPU time).
pub const MAX_VERIFY_T_COST: u32 = 16;
/// Largest argon2 parallelism a stored hash may ask for. The `argon2` crate computes lanes
/// one after another, so `p` multiplies neither memory nor work by much, but it is bounded
/// like the others.
pub const MAX_VERIFY_P_COST: u32 = 16;

/// The scheme new hashes are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashScheme {
    /// argon2id (v=19) as a PHC string, with [`Argon2Params`] (default: the OWASP minimum).
    #[default]
    Argon2id,
    /// Better Auth's default format, `<salt hex 32>:<scrypt key hex 128>` with its fixed
    /// parameters (N=16384, r=16, p=1): for deployments where a Better Auth server must still
    /// read the hashes this server writes.
    BetterAuthScrypt,
}

/// argon2id cost parameters for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB (`m`).
    pub m_cost_kib: u32,
    /// Iterations (`t`).
    pub t_cost: u32,
    /// Lanes (`p`).
    pub p_cost: u32,
}

impl Default for Argon2Params {
    /// The OWASP Password Storage Cheat Sheet minimum: m = 19456 KiB (19 MiB), t = 2, p = 1.
    fn default() -> Self {
        Self {
            m_cost_kib: argon2::Params::DEFAULT_M_COST,
            t_cost: argon2::Params::DEFAULT_T_COST,
            p_cost: argon2::Params::DEFAULT_P_COST,
        }
    }
}

/// The outcome of a verification that could be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password is right. `needs_rehash`: the stored hash is in another scheme than the
    /// configured one, or weaker than the configured parameters; the caller should hash the
    /// password again (it has it in clear right now) and store the new hash.
    Match {
        /// Store a fresh [`Hasher::hash`] of the password.
        needs_rehash: bool,
    },
    /// The password is wrong.
    NoMatch,
}

impl Verified {
    /// True for [`Verified::Match`].
    pub fn is_match(&self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// Hashes new passwords in the configured [`HashScheme`] and verifies stored hashes of every
/// supported format (argon2 PHC strings and Better Auth's scrypt format).
///
/// Passwords are NFKC-normalised before hashing and verifying, as Better Auth does, so that
/// the same password typed on different keyboards or input methods gives the same bytes.
pub struct Hasher {
    scheme: HashScheme,
    argon2: argon2::Params,
    /// A well-formed hash in the configured scheme with the configured parameters, that no
    /// password matches (an all-zero key): verifying against it costs exactly what a real
    /// verification costs. Built once, at construction, so the first unknown-user sign-in is
    /// not slower than the next ones.
    dummy: String,
    /// argon2 working memory for the configured parameters, reused from call to call.
    blocks: BlockPool,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("scheme", &self.scheme)
            .field("argon2", &self.argon2_params())
            .field("pooled_buffers", &self.blocks.capacity())
            .finish_non_exhaustive()
    }
}

impl Default for Hasher {
    /// argon2id with the OWASP minimum parameters.
    fn default() -> Self {
        Self::new(HashScheme::Argon2id)
    }
}

impl Hasher {
    /// A hasher writing `scheme`, with the default argon2 parameters ([`Argon2Params::default`]).
    pub fn new(scheme: HashScheme) -> Self {
        Self::from_parts(scheme, argon2::Params::DEFAULT)
    }

    /// A hasher writing `scheme`, with custom argon2 parameters (used when `scheme` is
    /// [`HashScheme::Argon2id`], and to decide whether an argon2 hash needs a rehash).
    ///
    /// Fails with [`HashError::Hash`] when argon2 rejects the parameters (e.g. `m < 8 p`) or
    /// when they exceed the `MAX_VERIFY_*` limits (this server could not verify its own
    /// hashes).
    pub fn with_argon2_params(scheme: HashScheme, params: Argon2Params) -> Result<Self, HashError> {
        if params.m_cost_kib > MAX_VERIFY_M_COST_KIB
            || params.t_cost > MAX_VERIFY_T_COST
            || params.p_cost > MAX_VERIFY_P_COST
        {
            return Err(HashError::Hash(
                "argon2 parameters exceed the verification limits".into(),
            ));
        }
        let argon2 = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, None)
            .map_err(|e| HashError::Hash(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self::from_parts(scheme, argon2))
    }

    fn from_parts(scheme: HashScheme, argon2: argon2::Params) -> Self {
        let dummy = match scheme {
            // 16 zero bytes of salt and 32 zero bytes of key, in PHC base64 (no padding).
            HashScheme::Argon2id => format!(
                "$argon2id$v=19$m={},t={},p={}${}${}",
                argon2.m_cost(),
                argon2.t_cost(),
                argon2.p_cost(),
                "A".repeat(22),
                "A".repeat(43),
            ),
            HashScheme::BetterAuthScrypt => {
                format!(
                    "{}:{}",
                    "0".repeat(2 * SALT_LEN),
                    "0".repeat(2 * SCRYPT_KEY_LEN)
                )
            }
        };
        Self {
            scheme,
            blocks: BlockPool::new(argon2.block_count(), super::HashPool::default_size()),
            argon2,
            dummy,
        }
    }

    /// Keep at most `buffers` argon2 block buffers for reuse (at least 1; default: the number
    /// of CPUs). [`HashPool`](super::HashPool) sets it to its size, so that no more buffers
    /// exist than jobs can run at once. Callers running more hashes at once on a bare
    /// `Hasher` get a buffer of their own for the extra ones, freed after the call.
    pub(super) fn set_pooled_buffers(&mut self, buffers: usize) {
        self.blocks.set_capacity(buffers);
    }

    /// The scheme new hashes are written in.
    pub fn scheme(&self) -> HashScheme {
        self.scheme
    }

    /// The argon2 parameters new argon2id hashes are written with.
    pub fn argon2_params(&self) -> Argon2Params {
        Argon2Params {
            m_cost_kib: self.argon2.m_cost(),
            t_cost: self.argon2.t_cost(),
            p_cost: self.argon2.p_cost(),
        }
    }

    /// Hashes a new password (NFKC-normalised first) in the configured scheme, with a fresh
    /// random 16-byte salt from the operating system.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = normalize(password);
        let mut salt = [0u8; SALT_LEN];
        OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| HashError::Hash(format!("operating system RNG failed: {e}")))?;
        match self.scheme {
            HashScheme::Argon2id => self.hash_argon2id(password.as_bytes(), &salt),
            HashScheme::BetterAuthScrypt => {
                let salt_hex = hex::encode(salt);
                let key = better_auth_scrypt(password.as_bytes(), &salt_hex)?;
                Ok(format!("{salt_hex}:{}", hex::encode(key)))
            }
        }
    }

    /// Checks `password` (NFKC-normalised first) against a stored hash of any supported
    /// format: an argon2 PHC string (`$argon2id$`, `$argon2i$`, `$argon2d$`) or Better
    /// Auth's `<salt hex 32>:<key hex 128>`. Keys are compared in constant time.
    ///
    /// `Err(HashError::Malformed)` when `stored` is in neither format (never a panic);
    /// callers answer it like a wrong password, and log that the row is broken.
    pub fn verify(&self, password: &str, stored: &str) -> Result<Verified, HashError> {
        let password = normalize(password);
        if stored.starts_with('$') {
            self.verify_argon2(password.as_bytes(), stored)
        } else {
            self.verify_scrypt(password.as_bytes(), stored)
        }
    }

    /// Does the work of one verification in the configured scheme with the configured
    /// parameters, and throws the result away. Call it when the user does not exist (or has no
    /// password) so that the answer takes as long as for a wrong password and does not reveal
    /// which accounts exist (OWASP Authentication Cheat Sheet, ASVS 6.3.8).
    pub fn dummy_verify(&self, password: &str) {
        // The result is meaningless (no password matches the dummy hash); only the time counts.
        let _ = self.verify(password, &self.dummy);
    }

    fn argon2_context(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.argon2.clone())
    }

    /// The PHC string of `password` (already normalised) hashed with argon2id v=19, the
    /// configured parameters and `salt`: what `argon2`'s `PasswordHasher::hash_password`
    /// returns, `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`, computed in a pooled buffer.
    fn hash_argon2id(&self, password: &[u8], salt: &[u8]) -> Result<String, HashError> {
        let salt_b64 = SaltString::encode_b64(salt)
            .map_err(|e| HashError::Hash(format!("argon2 salt: {e}")))?;
        let mut out = [0u8; ARGON2_OUTPUT_LEN];
        self.hash_into(&self.argon2_context(), password, salt, &mut out)
            .map_err(|e| HashError::Hash(format!("argon2: {e}")))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.argon2)
                .map_err(|e| HashError::Hash(format!("argon2 parameters: {e}")))?,
            salt: Some(salt_b64.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| HashError::Hash(format!("argon2: {e}")))?),
        };
        Ok(phc.to_string())
    }

    /// `context.hash_password_into`, in a buffer from the pool (or, for parameters needing
    /// more blocks than the configured ones, a buffer of its own for this call). The buffer
    /// is wiped and returned when this returns, whatever the outcome.
    fn hash_into(
        &self,
        context: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        let mut memory = self.blocks.take(context.params().block_count());
        context.hash_password_into_with_memory(password, salt, out, memory.blocks_mut())
    }

    /// Buffers of the configured size this hasher ever allocated.
    #[cfg(test)]
    pub(super) fn pooled_buffers_allocated(&self) -> usize {
        self.blocks.allocated()
    }

    /// Buffers of the configured size waiting for reuse.
    #[cfg(test)]
    pub(super) fn pooled_buffers_idle(&self) -> usize {
        self.blocks.idle()
    }

    fn verify_argon2(&self, password: &[u8], stored: &str) -> Result<Verified, HashError> {
        let phc = PasswordHash::new(stored).map_err(|_| HashError::Malformed)?;
        let algorithm = Algorithm::try_from(phc.algorithm).map_err(|_| HashError::Malformed)?;
        let version = match phc.version {
            Some(v) => Version::try_from(v).map_err(|_| HashError::Malformed)?,
            None => Version::default(),
        };
        let params = argon2::Params::try_from(&phc).map_err(|_| HashError::Malformed)?;
        let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
            return Err(HashError::Malformed);
        };
        // Checked before any memory is allocated for the hash.
        if params.m_cost() > MAX_VERIFY_M_COST_KIB
            || params.t_cost() > MAX_VERIFY_T_COST
            || params.p_cost() > MAX_VERIFY_P_COST
        {
            return Err(HashError::Malformed);
        }
        let mut salt_buf = [0u8; 64];
        let salt = salt
            .decode_b64(&mut salt_buf)
            .map_err(|_| HashError::Malformed)?;

        // `params` carries the stored hash's length as its output length: argon2 computes
        // exactly that many bytes (the output length is an input of the hash).
        let mut computed = vec![0u8; expected.len()];
        self.hash_into(
            &Argon2::new(algorithm, version, params.clone()),
            password,
            salt,
            &mut computed,
        )
        .map_err(|_| HashError::Malformed)?;
        if !bool::from(computed.ct_eq(expected.as_bytes())) {
            return Ok(Verified::NoMatch);
        }

        // "Weaker" is judged parameter by parameter: a hash made with OWASP's m=47104,t=1
        // alternative is rehashed to the configured m=19456,t=2. Rehashing only normalises.
        let configured = &self.argon2;
        let needs_rehash = self.scheme != HashScheme::Argon2id
            || algorithm != Algorithm::Argon2id
            || version != Version::V0x13
            || params.m_cost() < configured.m_cost()
            || params.t_cost() < configured.t_cost()
            || params.p_cost() < configured.p_cost()
            || expected.len() < ARGON2_OUTPUT_LEN
            || salt.len() < SALT_LEN;
        Ok(Verified::Match { needs_rehash })
    }

    fn verify_scrypt(&self, password: &[u8], stored: &str) -> Result<Verified, HashError> {
        let (salt_hex, key_hex) = stored.split_once(':').ok_or(HashError::Malformed)?;
        // Better Auth only ever writes 16 bytes as lower-case hex. Any hex digits are
        // accepted: the salt's text, not its value, is the scrypt input.
        if salt_hex.len() != 2 * SALT_LEN || !salt_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HashError::Malformed);
        }
        if key_hex.len() != 2 * SCRYPT_KEY_LEN {
            return Err(HashError::Malformed);
        }
        let mut expected = [0u8; SCRYPT_KEY_LEN];
        hex::decode_to_slice(key_hex, &mut expected).map_err(|_| HashError::Malformed)?;

        let computed = better_auth_scrypt(password, salt_hex)?;
        if bool::from(computed.ct_eq(&expected)) {
            Ok(Verified::Match {
                needs_rehash: self.scheme != HashScheme::BetterAuthScrypt,
            })
        } else {
            Ok(Verified::NoMatch)
        }
    }
}

/// NFKC, as Better Auth applies (`password.normalize("NFKC")`) before hashing and verifying.
fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// Better Auth's key derivation. The salt input is the ASCII text of the hex salt, not the 16
/// bytes it encodes: that is what Better Auth (`@better-auth/utils` password hashing) passes
/// to scrypt, so decoding it would make every existing hash fail.
fn better_auth_scrypt(password: &[u8], salt_hex: &str) -> Result<[u8; SCRYPT_KEY_LEN], HashError> {
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_LEN)
        .map_err(|e| HashError::Hash(format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; SCRYPT_KEY_LEN];
    scrypt::scrypt(password, salt_hex.as_bytes(), &params, &mut key)
        .map_err(|e| HashError::Hash(format!("scrypt: {e}")))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated with Python's `hashlib.scrypt` (OpenSSL), an implementation independent of
    /// the `scrypt` crate, and cross-checked with Node's `crypto.scryptSync`:
    ///
    /// ```text
    /// python3 -c "import hashlib; salt='0123456789abcdef0123456789abcdef'; \
    ///   print(salt+':'+hashlib.scrypt('correct horse'.encode(), salt=salt.encode(), \
    ///   n=16384, r=16, p=1, dklen=64, maxmem=128*16384*16*2).hex())"
    /// ```
    const BA_CORRECT_HORSE: &str = "0123456789abcdef0123456789abcdef:\
        c967f8a4438e68448871a4fbb9b41b2aacaa6d9d98bf76d9740467af6a3305c6\
        601235ae3706eaeaafd4c037201f630b3c3670caf74d8be1d22256672828773e";

    /// Same generator, for `unicodedata.normalize('NFKC', 'ﬁrst ﬂight Ⅻ')` = "first flight
    /// XII", salt `9f86d081884c7d659a2feaa0c55ad015`.
    const BA_FIRST_FLIGHT: &str = "9f86d081884c7d659a2feaa0c55ad015:\
        80404161714c0c9f651bfa0a7c4f1e86001bba6cf56ef570b49bfcd22ce8c9c8\
        02ee0e578f2ace3a8ed199f9f81d747ed9ec1991c7c5d7f062d96b07b54dc053";

    /// Reference vectors of the C implementation (phc-winner-argon2 `src/test.c`), password
    /// "password", salt "somesalt" (8 bytes).
    const REF_ARGON2ID_V19: &str =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
    const REF_ARGON2I_V19: &str =
        "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8";
    const REF_ARGON2I_V16: &str =
        "$argon2i$v=16$m=256,t=2,p=1$c29tZXNhbHQ$/U3YPXYsSb3q9XxHvc0MLxur+GP960kN9j7emXX8zwY";

    /// Cheap parameters so the tests run fast in debug builds.
    fn cheap() -> Argon2Params {
        Argon2Params {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn cheap_hasher(scheme: HashScheme) -> Hasher {
        Hasher::with_argon2_params(scheme, cheap()).unwrap()
    }

    const MATCH_FRESH: Verified = Verified::Match {
        needs_rehash: false,
    };
    const MATCH_REHASH: Verified = Verified::Match { needs_rehash: true };

    #[test]
    fn better_auth_scrypt_vector_verifies() {
        let hasher = cheap_hasher(HashScheme::BetterAuthScrypt);
        assert_eq!(
            hasher.verify("correct horse", BA_CORRECT_HORSE),
            Ok(MATCH_FRESH)
        );
        assert_eq!(
            hasher.verify("correct horsf", BA_CORRECT_HORSE),
            Ok(Verified::NoMatch)
        );
        assert_eq!(hasher.verify("", BA_CORRECT_HORSE), Ok(Verified::NoMatch));
    }

    #[test]
    fn better_auth_scrypt_matches_nfkc_equivalents() {
        let hasher = cheap_hasher(HashScheme::BetterAuthScrypt);
        // Ligatures and a Roman numeral, and their NFKC form: the same password.
        assert_eq!(
            hasher.verify("ﬁrst ﬂight Ⅻ", BA_FIRST_FLIGHT),
            Ok(MATCH_FRESH)
        );
        assert_eq!(
            hasher.verify("first flight XII", BA_FIRST_FLIGHT),
            Ok(MATCH_FRESH)
        );
        assert_eq!(
            hasher.verify("first flight xii", BA_FIRST_FLIGHT),
            Ok(Verified::NoMatch)
        );
    }

    #[test]
    fn scrypt_under_argon2id_needs_rehash() {
        let hasher = cheap_hasher(HashScheme::Argon2id);
        assert_eq!(
            hasher.verify("correct horse", BA_CORRECT_HORSE),
            Ok(MATCH_REHASH)
        );
    }

    #[test]
    fn better_auth_scrypt_round_trip() {
        let hasher = cheap_hasher(HashScheme::BetterAuthScrypt);
        let stored = hasher.hash("ﬁne password").unwrap();
        let (salt, key) = stored.split_once(':').unwrap();
        assert_eq!(salt.len(), 32);
        assert_eq!(key.len(), 128);
        assert!(stored
            .bytes()
            .all(|b| b == b':' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(hasher.verify("fine password", &stored), Ok(MATCH_FRESH));
        assert_eq!(
            hasher.verify("fine passwore", &stored),
            Ok(Verified::NoMatch)
        );
    }

    #[test]
    fn argon2id_round_trip_with_default_parameters() {
        let hasher = Hasher::default();
        let stored = hasher.hash("correct horse battery staple").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            hasher.verify("correct horse battery staple", &stored),
            Ok(MATCH_FRESH)
        );
        assert_eq!(
            hasher.verify("correct horse battery stapler", &stored),
            Ok(Verified::NoMatch)
        );
        // A fresh salt each time.
        assert_ne!(stored, hasher.hash("correct horse battery staple").unwrap());
    }

    #[test]
    fn argon2id_hashes_nfkc_form() {
        let hasher = cheap_hasher(HashScheme::Argon2id);
        let stored = hasher.hash("ＰＡＳＳ１２３").unwrap();
        assert_eq!(hasher.verify("PASS123", &stored), Ok(MATCH_FRESH));
        assert_eq!(hasher.verify("pass123", &stored), Ok(Verified::NoMatch));
    }

    #[test]
    fn argon2_reference_vectors_verify() {
        let hasher = cheap_hasher(HashScheme::Argon2id);
        for stored in [REF_ARGON2ID_V19, REF_ARGON2I_V19, REF_ARGON2I_V16] {
            // All three have an 8-byte salt, two are not argon2id, one is v=16: rehash.
            assert_eq!(
                hasher.verify("password", stored),
                Ok(MATCH_REHASH),
                "{stored}"
            );
            assert_eq!(
                hasher.verify("passwore", stored),
                Ok(Verified::NoMatch),
                "{stored}"
            );
        }
    }

    #[test]
    fn weaker_argon2_needs_rehash() {
        let weak = Hasher::with_argon2_params(
            HashScheme::Argon2id,
            Argon2Params {
                m_cost_kib: 4096,
                t_cost: 1,
                p_cost: 1,
            },
        )
        .unwrap();
        let stored = weak.hash("hunter2hunter2").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"));
        assert_eq!(weak.verify("hunter2hunter2", &stored), Ok(MATCH_FRESH));

        // Under the defaults (m=19456, t=2): weaker, so rehash.
        let strong = Hasher::default();
        assert_eq!(strong.verify("hunter2hunter2", &stored), Ok(MATCH_REHASH));

        // Only one parameter weaker is enough.
        let t_weaker = Hasher::with_argon2_params(
            HashScheme::Argon2id,
            Argon2Params {
                m_cost_kib: 4096,
                t_cost: 2,
                p_cost: 1,
            },
        )
        .unwrap();
        assert_eq!(t_weaker.verify("hunter2hunter2", &stored), Ok(MATCH_REHASH));

        // A stronger stored hash does not need one.
        let weaker_config = cheap_hasher(HashScheme::Argon2id);
        assert_eq!(
            weaker_config.verify("hunter2hunter2", &stored),
            Ok(MATCH_FRESH)
        );
    }

    #[test]
    fn argon2_under_scrypt_needs_rehash() {
        let argon = cheap_hasher(HashScheme::Argon2id);
        let stored = argon.hash("hunter2hunter2").unwrap();
        let scrypt = cheap_hasher(HashScheme::BetterAuthScrypt);
        assert_eq!(scrypt.verify("hunter2hunter2", &stored), Ok(MATCH_REHASH));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        let hasher = cheap_hasher(HashScheme::Argon2id);
        let key = "c967f8a4438e68448871a4fbb9b41b2aacaa6d9d98bf76d9740467af6a3305c6\
                   601235ae3706eaeaafd4c037201f630b3c3670caf74d8be1d22256672828773e";
        let salt = "0123456789abcdef0123456789abcdef";
        let cases = [
            String::new(),
            ":".into(),
            "no colon at all".into(),
            format!("{salt}{key}"),
            format!("{salt}:"),
            format!(":{key}"),
            format!("{salt}:{key}:"),
            format!("{salt}:{key}:{key}"),
            format!("0123456789abcdef0123456789abcdeg:{key}"), // bad hex in the salt
            format!("{salt}:{}x", &key[..127]),                // bad hex in the key
            format!("{}:{key}", &salt[..30]),                  // short salt
            format!("{salt}00:{key}"),                         // long salt
            format!("{salt}:{}", &key[..126]),                 // short key
            format!("{salt}:{key}00"),                         // long key
            format!("{salt}:{}é", &key[..126]),                // non-ASCII, right byte length
            "$".into(),
            "$argon2id$garbage".into(),
            "$argon2id$v=19$m=256,t=2,p=1".into(), // no salt, no hash
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ".into(), // no hash
            "$argon2id$v=42$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(), // unknown version
            "$argon2id$v=19$m=4,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(), // m below argon2's minimum
            "$argon2id$v=19$m=256,t=2,p=1,x=3$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(), // unknown parameter
            "$argon2id$v=19$m=256,t=2,p=1$c29t$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4".into(), // 3-byte salt
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$!!!!".into(), // bad base64
            "$argon2x$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(), // unknown algorithm
            "$scrypt$ln=14,r=16,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4".into(),
            // Over the limits: refused before allocating 4 TiB or running 2^32 passes.
            "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(),
            "$argon2id$v=19$m=256,t=4294967295,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(),
            "$argon2id$v=19$m=65536,t=2,p=64$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
                .into(),
        ];
        for stored in &cases {
            assert_eq!(
                hasher.verify("password", stored),
                Err(HashError::Malformed),
                "{stored:?}"
            );
        }
    }

    #[test]
    fn dummy_hashes_are_well_formed_with_configured_parameters() {
        // A malformed dummy would return early and make unknown users fast again.
        for scheme in [HashScheme::Argon2id, HashScheme::BetterAuthScrypt] {
            let hasher = cheap_hasher(scheme);
            assert_eq!(
                hasher.verify("anything", &hasher.dummy),
                Ok(Verified::NoMatch),
                "{scheme:?}"
            );
            hasher.dummy_verify("anything");
        }
        let argon = cheap_hasher(HashScheme::Argon2id);
        assert!(argon.dummy.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        let default = Hasher::default();
        assert!(default.dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        // Same salt and output sizes as a real hash, so the same work.
        let real = argon.hash("x").unwrap();
        assert_eq!(real.len(), argon.dummy.len(), "{real} vs {}", argon.dummy);
    }

    #[test]
    fn invalid_configured_parameters_are_refused() {
        for (m, t, p) in [
            (4, 1, 1),
            (256, 0, 1),
            (256, 1, 0),
            (u32::MAX, 1, 1),
            (256, 17, 1),
        ] {
            let params = Argon2Params {
                m_cost_kib: m,
                t_cost: t,
                p_cost: p,
            };
            assert!(
                matches!(
                    Hasher::with_argon2_params(HashScheme::Argon2id, params),
                    Err(HashError::Hash(_))
                ),
                "{params:?}"
            );
        }
    }

    #[test]
    fn errors_and_debug_carry_no_secrets() {
        let hasher = cheap_hasher(HashScheme::Argon2id);
        let stored = "$argon2id$garbage-secret";
        let err = hasher.verify("hunter2-secret", stored).unwrap_err();
        let text = format!("{err} {err:?} {hasher:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(!format!("{hasher:?}").contains("AAAA"));
    }

    /// `argon2`'s own `PasswordHasher`, the code path new hashes were written with before
    /// the buffers were pooled.
    fn password_hasher_phc(
        algorithm: Algorithm,
        version: Version,
        params: argon2::Params,
        password: &str,
        salt: &[u8],
    ) -> String {
        use argon2::PasswordHasher;
        let salt = SaltString::encode_b64(salt).unwrap();
        Argon2::new(algorithm, version, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    /// `argon2`'s own `PasswordVerifier`, with the algorithm, version and parameters of the
    /// PHC string (what a verifier that knows nothing of our pooled buffers would say).
    fn password_verifier_accepts(password: &str, stored: &str) -> bool {
        use argon2::PasswordVerifier;
        let phc = PasswordHash::new(stored).unwrap();
        Argon2::default()
            .verify_password(password.as_bytes(), &phc)
            .is_ok()
    }

    #[test]
    fn new_hashes_are_byte_identical_to_password_hasher() {
        let configs = [
            cheap(),
            Argon2Params::default(),
            Argon2Params {
                m_cost_kib: 1024,
                t_cost: 3,
                p_cost: 2,
            },
        ];
        let mut random = [0u8; SALT_LEN];
        OsRng.fill_bytes(&mut random);
        let salts: [[u8; SALT_LEN]; 3] = [[0; SALT_LEN], [0xff; SALT_LEN], random];
        for config in configs {
            let hasher = Hasher::with_argon2_params(HashScheme::Argon2id, config).unwrap();
            for salt in &salts {
                for password in ["", "correct horse battery staple", "PASS123"] {
                    let new = hasher.hash_argon2id(password.as_bytes(), salt).unwrap();
                    let old = password_hasher_phc(
                        Algorithm::Argon2id,
                        Version::V0x13,
                        hasher.argon2.clone(),
                        password,
                        salt,
                    );
                    assert_eq!(new, old, "{config:?}");
                }
            }
        }
        // And the public path, with its random salt: the exact layout, accepted by argon2's
        // own verifier (after NFKC, which `hash` applies).
        let hasher = Hasher::default();
        let stored = hasher.hash("ＰＡＳＳ１２３").unwrap();
        let fields: Vec<&str> = stored.split('$').collect();
        assert_eq!(fields[..4], ["", "argon2id", "v=19", "m=19456,t=2,p=1"]);
        assert_eq!(fields[4].len(), 22, "{stored}");
        assert_eq!(fields[5].len(), 43, "{stored}");
        assert_eq!(fields.len(), 6, "{stored}");
        assert!(password_verifier_accepts("PASS123", &stored));
        assert!(!password_verifier_accepts("pass123", &stored));
    }

    #[test]
    fn password_hasher_hashes_verify_the_same() {
        // Configured m=1024, t=2, p=1: the stored hashes below are weaker, equal and stronger.
        let hasher = Hasher::with_argon2_params(
            HashScheme::Argon2id,
            Argon2Params {
                m_cost_kib: 1024,
                t_cost: 2,
                p_cost: 1,
            },
        )
        .unwrap();
        let costs = [
            (256, 1, 1),
            (1024, 2, 1),
            (512, 2, 2),
            (2048, 1, 1),
            (1024, 3, 4),
        ];
        let salts: [&[u8]; 3] = [b"somesalt", &[7; SALT_LEN], &[9; 32]];
        let mut case = 0;
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                for (m, t, p) in costs {
                    case += 1;
                    let output_len = [16, ARGON2_OUTPUT_LEN, 64][case % 3];
                    let salt = salts[case % 3];
                    let params = argon2::Params::new(m, t, p, Some(output_len)).unwrap();
                    let stored =
                        password_hasher_phc(algorithm, version, params, "hunter2hunter2", salt);
                    let label = format!("{algorithm:?} {version:?} m={m} t={t} p={p} {stored}");
                    let right = hasher.verify("hunter2hunter2", &stored).unwrap();
                    let wrong = hasher.verify("hunter2hunter3", &stored).unwrap();
                    assert!(right.is_match(), "{label}");
                    assert_eq!(wrong, Verified::NoMatch, "{label}");
                    assert!(
                        password_verifier_accepts("hunter2hunter2", &stored),
                        "{label}"
                    );
                    assert!(
                        !password_verifier_accepts("hunter2hunter3", &stored),
                        "{label}"
                    );
                    let fresh = algorithm == Algorithm::Argon2id
                        && version == Version::V0x13
                        && m >= 1024
                        && t >= 2
                        && output_len >= ARGON2_OUTPUT_LEN
                        && salt.len() >= SALT_LEN;
                    assert_eq!(
                        right,
                        Verified::Match {
                            needs_rehash: !fresh
                        },
                        "{label}"
                    );
                }
            }
        }
        // The old writer with exactly the configured parameters: fresh.
        let stored = password_hasher_phc(
            Algorithm::Argon2id,
            Version::V0x13,
            hasher.argon2.clone(),
            "hunter2hunter2",
            &[1; SALT_LEN],
        );
        assert_eq!(hasher.verify("hunter2hunter2", &stored), Ok(MATCH_FRESH));
        // Stronger hashes got a buffer of their own; everything else shared one.
        assert_eq!(hasher.pooled_buffers_allocated(), 1);
        assert_eq!(hasher.pooled_buffers_idle(), 1);
    }

    /// What the pooled buffers rely on: argon2's result does not depend on what the buffer
    /// held before (a reused buffer) nor on blocks past the ones the parameters use (a
    /// pooled buffer serving a hash with fewer blocks).
    #[test]
    fn argon2_ignores_previous_buffer_contents_and_extra_blocks() {
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                for (m, t, p) in [(64, 1, 1), (256, 3, 1), (128, 2, 2)] {
                    let params = argon2::Params::new(m, t, p, None).unwrap();
                    let context = Argon2::new(algorithm, version, params.clone());
                    let mut fresh = [0u8; 32];
                    context
                        .hash_password_into(b"password", b"somesalt", &mut fresh)
                        .unwrap();
                    let mut dirty = vec![argon2::Block::new(); params.block_count() + 37];
                    for (i, block) in dirty.iter_mut().enumerate() {
                        for (j, word) in block.as_mut().iter_mut().enumerate() {
                            *word = 0xa5a5_a5a5_0000_0000 ^ ((i as u64) << 8) ^ j as u64;
                        }
                    }
                    let mut reused = [0u8; 32];
                    context
                        .hash_password_into_with_memory(
                            b"password",
                            b"somesalt",
                            &mut reused,
                            &mut dirty,
                        )
                        .unwrap();
                    assert_eq!(fresh, reused, "{algorithm:?} {version:?} m={m} t={t} p={p}");
                }
            }
        }
    }

    #[test]
    fn hashes_and_verifications_share_one_buffer() {
        let hasher = cheap_hasher(HashScheme::Argon2id);
        assert_eq!(hasher.pooled_buffers_allocated(), 0);
        let stored = hasher.hash("hunter2hunter2").unwrap();
        for _ in 0..5 {
            assert_eq!(hasher.verify("hunter2hunter2", &stored), Ok(MATCH_FRESH));
            hasher.dummy_verify("hunter2hunter2");
            assert_eq!(
                hasher.verify("password", REF_ARGON2ID_V19),
                Ok(MATCH_REHASH)
            );
        }
        assert_eq!(hasher.pooled_buffers_allocated(), 1);
        // Scrypt needs no argon2 buffer.
        let scrypt = cheap_hasher(HashScheme::BetterAuthScrypt);
        scrypt.dummy_verify("x");
        assert_eq!(scrypt.pooled_buffers_allocated(), 0);
    }

    /// Rough cost of one call in this build: run with
    /// `cargo test -p edgeauth-origin --release --lib password::hash::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a test"]
    fn timing() {
        use std::time::Instant;
        let hasher = Hasher::default();
        let mut stored = String::new();
        let start = Instant::now();
        for _ in 0..5 {
            stored = hasher.hash("correct horse battery staple").unwrap();
        }
        println!("argon2id hash (m=19456,t=2,p=1): {:?}", start.elapsed() / 5);
        let start = Instant::now();
        for _ in 0..5 {
            assert!(hasher
                .verify("correct horse battery staple", &stored)
                .unwrap()
                .is_match());
        }
        println!("argon2id verify: {:?}", start.elapsed() / 5);
        let start = Instant::now();
        for _ in 0..5 {
            assert!(hasher
                .verify("correct horse", BA_CORRECT_HORSE)
                .unwrap()
                .is_match());
        }
        println!(
            "Better Auth scrypt verify (N=16384,r=16,p=1): {:?}",
            start.elapsed() / 5
        );
    }
}
