//! Passwords: the policy for new ones, hashing and verification, and the pool that runs the
//! hashing off the async runtime.
//!
//! - [`PasswordPolicy`]: length limits counted like Better Auth (UTF-16 code units, before
//!   normalisation) and a common-password blocklist (NIST SP 800-63B-4), with Better Auth's
//!   error codes and messages ([`PolicyError`]).
//! - [`Hasher`]: writes argon2id PHC strings (OWASP minimum parameters by default) or Better
//!   Auth's scrypt `salt:key` format ([`HashScheme`]); verifies both, and argon2i/argon2d,
//!   telling the caller when a stored hash should be upgraded ([`Verified`]); and does dummy
//!   work for unknown users so sign-in timing does not reveal which accounts exist.
//! - [`HashPool`]: the async front of [`Hasher`] for request handlers: blocking thread pool,
//!   bounded concurrency, FIFO queue, and argon2 memory bounded by the pool size (argon2
//!   hashes run in block buffers reused from a pool of at most that many, see `blocks`).
//!
//! Passwords are NFKC-normalised before hashing, as Better Auth does (`normalize("NFKC")`),
//! so hashes move between the two servers in both directions when the scheme is
//! [`HashScheme::BetterAuthScrypt`], and Better Auth's existing hashes verify here whatever
//! the scheme. No error or log line in this module contains a password or a hash.

mod blocks;
mod error;
mod hash;
mod policy;
mod pool;

pub use error::HashError;
pub use hash::{
    Argon2Params, HashScheme, Hasher, Verified, MAX_VERIFY_M_COST_KIB, MAX_VERIFY_P_COST,
    MAX_VERIFY_T_COST,
};
pub use policy::{common_password_count, is_common_password, PasswordPolicy, PolicyError};
pub use pool::HashPool;
