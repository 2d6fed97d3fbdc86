//! `edgeauth serve`: run the origin.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app;
use crate::clock::SystemClock;
use crate::config::{Config, ServeArgs, DEFAULT_SECRET};
use crate::http;

/// Starts the server and runs until SIGINT or SIGTERM. A configuration the server must not
/// run with (a missing or weak secret in production, a bad URL) exits 2 before anything
/// starts.
pub fn run(args: ServeArgs) -> ExitCode {
    super::init_logging();
    match Config::from_args(&args) {
        Ok(config) if config.secret == DEFAULT_SECRET => tracing::warn!(
            "BETTER_AUTH_SECRET is not set: using Better Auth's public default (development only)"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::error!("invalid configuration: {e}");
            return ExitCode::from(2);
        }
    }
    super::block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let state = app::prepare(&args, Arc::new(SystemClock)).await?;
    let config = state.config();
    tracing::info!(
        database = state.db().dialect(),
        base_url = %config.base_url,
        env = ?config.env,
        rate_limit = config.rate_limit,
        rate_limit_storage = ?config.rate_limit_storage,
        client_ip = config.trusted_ip_header.as_ref().map_or("tcp peer", |h| h.as_str()),
        edge_proof = config.edge_secret.is_some(),
        "starting"
    );
    let db = state.db().clone();
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "edgeauth origin listening");
    http::serve(listener, app::router(state.clone()), shutdown_signal()).await?;
    // Mail queued by the last requests (a reset link, say) still goes out, retries
    // included, within MAIL_DRAIN_TIMEOUT.
    let left = state.drain(MAIL_DRAIN_TIMEOUT).await;
    if left > 0 {
        tracing::warn!(left, "stopping with mail still undelivered");
    }
    db.close().await;
    tracing::info!("edgeauth origin stopped");
    Ok(())
}

/// How long a stopping origin waits for queued mail (longer than one mail's retries,
/// 1 + 2 + 4 + 8 s).
const MAIL_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
