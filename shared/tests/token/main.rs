//! The token crate's integration tests, in one binary: published vectors, the attack
//! catalogue of `security.md`, interop with `jsonwebtoken`, and property tests.

// Helpers outside `#[test]` functions fail tests loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attacks;
mod interop;
mod properties;
mod support;
mod vectors;
