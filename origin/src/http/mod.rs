//! HTTP plumbing shared by every feature, and nothing else: errors as responses
//! ([`error`], the only place an error becomes HTTP), cookies ([`cookies`]), redirect
//! targets ([`redirect`]), the edge's proof ([`edge_proof`]), extractors ([`extract`]),
//! middleware ([`middleware`]), and the server loop ([`serve`]). The routes live with their
//! features ([`crate::features`]); the router that merges them is [`crate::app::router`].

pub mod cookies;
pub mod edge_proof;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod redirect;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use self::cookies::CookieJar;

/// The path prefix of every auth endpoint (Better Auth's default `basePath`).
pub const BASE_PATH: &str = edgeauth_token::wire::AUTH_PREFIX;

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
