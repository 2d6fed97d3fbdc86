//! Cross-component tests, in one binary (each extra test binary costs a link on a 2-core
//! machine): the real `edgeauth` binary, the real worker bundle under `wrangler dev`, real
//! HTTP. Run by `bash scripts/test.sh`, which builds the binaries and the bundle first.

// Helpers outside `#[test]` functions fail tests loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod better_auth;
mod browser;
mod cli;
mod edge;
mod edge_runtime;
mod edge_support;
mod examples;
mod faults;
mod lifecycle;
mod metrics;
mod oidc;
mod open_api;
mod operations;
mod origin;
mod outbox;
mod postgres;
mod rate_limit;
mod schema_layouts;
mod sliding;
mod two_factor;
