//! HTTP plumbing shared by every feature, and nothing else: errors as responses
//! ([`error`], the only place an error becomes HTTP), cookies ([`cookies`]), redirect
//! targets ([`redirect`]), the edge's proof ([`edge_proof`]), extractors ([`extract`]),
//! middleware ([`middleware`]), and the server loop ([`server`]: [`serve`] within
//! [`ConnectionLimits`]). The routes live with their
//! features ([`crate::features`]); the router that merges them is [`crate::app::router`].

pub mod cookies;
pub mod edge_proof;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod redirect;
pub mod server;

use std::time::Duration;

pub use self::cookies::CookieJar;
pub use self::server::{serve, ConnectionLimits};

/// The path prefix of every auth endpoint (Better Auth's default `basePath`).
pub const BASE_PATH: &str = edgeauth_token::wire::AUTH_PREFIX;

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
