//! `edgeauth serve`: run the origin.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::SystemClock;
use crate::config::{Config, ServeArgs, DEFAULT_SECRET};
use crate::http;
use crate::server;

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
    let state = server::prepare(&args, Arc::new(SystemClock)).await?;
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
    http::serve(listener, http::app(state), shutdown_signal()).await?;
    db.close().await;
    tracing::info!("edgeauth origin stopped");
    Ok(())
}

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
