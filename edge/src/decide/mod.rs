//! Pure decisions: what the edge does with a request, decided without I/O, without a
//! clock (`now` is an argument) and without the Workers runtime, so each is unit-tested
//! natively. Nothing here names `worker`, the runtime or the handlers (the `layering`
//! test checks it); the modules here use each other and the token crate only.

pub mod config;
pub mod credentials;
pub mod error;
pub mod forward;
pub mod identity;
pub mod jwks_cache;
pub mod jwt;
pub mod liveness;
pub mod memory;
pub mod revocation;
pub mod route;
pub mod session_cache;
