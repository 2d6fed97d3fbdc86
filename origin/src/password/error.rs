//! The error type of the password module.

/// Why hashing or verifying a password failed.
///
/// No variant carries a password, a stored hash or any part of one: these values end up in
/// logs, and a hash in a log is an offline-cracking target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The stored hash is neither a usable argon2 PHC string nor Better Auth's scrypt
    /// `salt:key` format (bad syntax, wrong lengths, bad hex or base64, unknown algorithm), or
    /// its argon2 cost parameters exceed the limits this server accepts (see
    /// [`MAX_VERIFY_M_COST_KIB`](super::MAX_VERIFY_M_COST_KIB) and its siblings).
    #[error("malformed stored password hash")]
    Malformed,
    /// The hashing library failed for another reason, or the configured parameters are
    /// invalid. The text comes from the library or from this module, never from the inputs.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task that ran the job panicked or was cancelled (runtime shutdown), or the
    /// pool's semaphore was closed.
    #[error("password hashing task failed")]
    TaskFailed,
}
