//! Glue to the Workers runtime: the request context, outgoing requests, KV, the Cache API,
//! the origin's endpoints for the edge and isolate memory. It carries out what
//! [`crate::decide`] decides and never names the handlers above it.

pub mod authenticate;
pub mod cx;
pub mod fetch;
pub mod origin_client;
pub mod respond;
pub mod revoke;
pub mod sessions;
pub mod state;
