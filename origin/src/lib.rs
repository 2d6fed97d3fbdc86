//! # edgeauth-origin
//!
//! The origin server and the operator CLI. The origin is the only component that checks
//! passwords, writes the database and mints tokens; it speaks Better Auth's HTTP API under
//! `/api/auth`.
//!
//! Layout (dependencies run down this list, from the entry points to the shared core; the
//! `AppState` handle and the crate's error, `ApiError`, are shared by every level):
//!
//! ```text
//! cli/        the `edgeauth` command line (serve, migrate, keys, token verify, users)
//! app/        AppState, assembling it (prepare), the router merging every feature
//! features/   one module per capability: its routes, rate-limit rules, revocation effects
//! pages/      the hosted pages for browsers: sign-in, sign-up, reset, account
//! http/       plumbing: errors as responses, cookies, redirects, extractors, middleware
//! auth/       the domain, free of HTTP: sign-in (a method yields a user, one step issues
//!             the session), sign-up, account changes, password reset, email tokens
//! rate_limit/ rules, algorithm, memory store, the limiter with its database fallback
//! password/   argon2id and Better Auth's scrypt, policy, the bounded hashing pool
//! crypto      Better Auth's sealing (symmetricEncrypt), keyed hashes, constant-time equality
//! keys/       JWT signing keys in Better Auth's jwks format, the key set, minting
//! mail/       templates, the durable outbox's rows and its delivery worker
//! doctor      what edgeauth reads and writes in the database against what is there
//! metrics/    Prometheus metrics: every name and label, the recording functions, the
//!             per-request HTTP middleware (off unless EDGEAUTH_METRICS_LISTEN is set)
//! db/         Better Auth's schema on PostgreSQL or SQLite: all SQL lives there
//! config/     environment and flags, validated once
//! ids, clock  random ids and tokens; the one place that reads the wall clock
//! ```

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod doctor;
pub mod features;
pub mod http;
pub mod ids;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod pages;
pub mod password;
pub mod rate_limit;
