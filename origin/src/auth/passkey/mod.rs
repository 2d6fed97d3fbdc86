//! Passkeys (WebAuthn), compatible with `@better-auth/passkey` 1.4.22.

pub mod ceremony;
pub mod webauthn;
