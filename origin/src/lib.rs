//! # edgeauth-origin
//!
//! The origin server and the operator CLI. The origin is the only component that checks
//! passwords, writes the database and mints tokens; it speaks Better Auth's HTTP API under
//! `/api/auth`.
//!
//! Layout:
//! - [`cli`]: the `edgeauth` command line (`serve`, `token verify`);
//! - [`http`]: the axum application (`app`) and the server loop (`serve`);
//! - [`clock`]: the one place that reads the wall clock.

pub mod cli;
pub mod clock;
pub mod http;
