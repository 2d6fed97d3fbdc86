//! # edgeauth-origin
//!
//! The origin server and the operator CLI. The origin is the only component that checks
//! passwords, writes the database and mints tokens; it speaks Better Auth's HTTP API under
//! `/api/auth`.
//!
//! Layout:
//! - [`cli`]: the `edgeauth` command line (`serve`, `migrate`, `keys`, `token verify`);
//! - [`config`]: environment and flags, validated once;
//! - [`db`]: Better Auth's schema on PostgreSQL or SQLite; all SQL lives there;
//! - [`http`]: the axum application (`app`) and the server loop (`serve`);
//! - [`password`]: argon2id (and Better Auth's scrypt), policy, the bounded hashing pool;
//! - [`keys`]: JWT signing keys as Better Auth stores them; [`signing`]: which key signs;
//! - [`ids`]: random ids and tokens;
//! - [`mail`]: templates and the background delivery queue (SMTP or the development log);
//! - [`email_token`]: Better Auth's stateless email verification token;
//! - [`server`]: assembling the app state from `serve`'s arguments;
//! - [`clock`]: the one place that reads the wall clock.

pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod email_token;
pub mod http;
pub mod ids;
pub mod keys;
pub mod mail;
pub mod password;
pub mod server;
pub mod signing;
