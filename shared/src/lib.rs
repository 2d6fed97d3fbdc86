//! # edgeauth-token
//!
//! Better Auth-compatible tokens for Rust, shared by the edgeauth origin (native) and edge
//! (Cloudflare Worker, wasm32):
//!
//! - EdDSA (Ed25519) JWTs in the format of Better Auth's `jwt()` plugin: verify always, mint
//!   with the `sign` feature ([`jwt`]);
//! - Ed25519 JWKs and key sets in Better Auth's `/jwks` shape ([`jwk`]);
//! - the validation policy and verified claims ([`claims`]);
//! - Better Auth's signed session cookie value, HMAC-SHA256 ([`cookie`]);
//! - the wire contract between the edge and the origin: header and cookie names, which
//!   credential a request presents, one path normalisation ([`wire`]).
//!
//! The crate is `no_std` + `alloc`, does no I/O and never reads a clock: `now` (unix seconds)
//! is always an argument.
//!
//! ## Parse, then verify
//!
//! A token is first an [`UntrustedToken`]: its shape and header are checked, and it tells you
//! its `kid` and nothing else. Only [`UntrustedToken::verify`] (or the one-call [`verify`])
//! yields [`VerifiedClaims`], after a strict Ed25519 check under the key the `kid` names and
//! the [`Validation`] rules. Every failure is one [`Error`]; signature failures are opaque.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | `std` support in the dependencies; the crate's API is the same without it |
//! | `fast` | yes | precomputed Ed25519 tables: faster verification, about 30 KB larger code |
//! | `sign` | no | [`SigningKey`], [`ClaimsBuilder`], [`cookie::sign_value`]: minting, for the origin |
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

extern crate alloc;

pub mod claims;
pub mod cookie;
mod error;
mod json;
pub mod jwk;
pub mod jwt;
pub mod wire;

pub use claims::{Validation, VerifiedClaims};
pub use error::{ClaimError, Error};
pub use jwk::{Jwk, Jwks, KeySet, PublicKey};
pub use jwt::{verify, UntrustedToken};
#[cfg(feature = "sign")]
pub use jwt::{ClaimsBuilder, PrivateJwk, SigningKey};
