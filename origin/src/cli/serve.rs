//! `edgeauth serve`: run the origin.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{self, AppState};
use crate::clock::SystemClock;
use crate::config::{Config, LogFormat, ServeArgs, DEFAULT_SECRET};
use crate::http::{self, ConnectionLimits};

/// Starts the server and runs until SIGINT or SIGTERM. A configuration the server must not
/// run with (a missing or weak secret in production, a bad URL) exits 2 before anything
/// starts.
pub fn run(args: ServeArgs) -> ExitCode {
    // The log format comes first: every later message is written in it.
    let format = LogFormat::parse(&args.log_format);
    super::init_logging(*format.as_ref().unwrap_or(&LogFormat::Text));
    match format.and_then(|_| Config::from_args(&args)) {
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
    let limits = connection_limits(&args);
    // Installed before the application's router is built, which then records requests.
    let metrics = match config.metrics_listen {
        Some(address) => Some(start_metrics(&state, address, limits).await?),
        None => None,
    };
    let listener = listen("EDGEAUTH_LISTEN", args.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "edgeauth origin listening");
    http::serve(
        listener,
        app::router(state.clone()),
        limits,
        shutdown_signal(),
    )
    .await?;
    // Deliveries under way finish, within MAIL_DRAIN_TIMEOUT; mail not yet taken stays in
    // the outbox for the next start (or another origin process on the database).
    let left = state.drain(MAIL_DRAIN_TIMEOUT).await;
    if left > 0 {
        tracing::warn!(
            left,
            "stopping with mail deliveries under way (sent again later)"
        );
    }
    if let Some((stop, server)) = metrics {
        let _ = stop.send(());
        let _ = server.await;
    }
    db.close().await;
    tracing::info!("edgeauth origin stopped");
    Ok(())
}

/// Binds `address`, from the setting named `setting`; the error names both, so an operator
/// whose port is taken knows which setting to change.
async fn listen(setting: &str, address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("{setting}: cannot listen on {address}: {e}"))
}

/// Installs the metrics recorder and serves `GET /metrics` on `address`
/// (`EDGEAUTH_METRICS_LISTEN`), within the same connection limits as the main listener,
/// until the sender returned is used (or dropped).
async fn start_metrics(
    state: &AppState,
    address: SocketAddr,
    limits: ConnectionLimits,
) -> anyhow::Result<(oneshot::Sender<()>, JoinHandle<()>)> {
    let prefixes = state.rate_limiter().rules().prefixes();
    crate::metrics::install(prefixes)
        .map_err(|e| anyhow::anyhow!("cannot set up the metrics: {e}"))?;
    let listener = listen("EDGEAUTH_METRICS_LISTEN", address).await?;
    tracing::info!(address = %listener.local_addr()?, "metrics listening (GET /metrics)");
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app::metrics_router(state.clone());
    let server = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        if let Err(e) = http::serve(listener, router, limits, stopped).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    Ok((stop, server))
}

/// The connection limits `args` ask for, the cap fitted to the open-files limit once it is
/// raised ([`raise_open_files_limit`]).
fn connection_limits(args: &ServeArgs) -> ConnectionLimits {
    let asked = ConnectionLimits {
        header_timeout: Duration::from_secs(args.header_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    let Some(open_files) = raise_open_files_limit() else {
        return asked;
    };
    let limits = asked.within_open_files(open_files);
    if limits.max_connections < asked.max_connections {
        tracing::warn!(
            open_files,
            max_connections = limits.max_connections,
            "EDGEAUTH_MAX_CONNECTIONS lowered to fit the open-files limit"
        );
    }
    tracing::info!(
        header_timeout_s = limits.header_timeout.as_secs(),
        max_connections = limits.max_connections,
        open_files,
        "connection limits"
    );
    limits
}

/// Raises the open-files soft limit to the hard limit and returns the limit then in force
/// (`None` if it cannot be read).
///
/// Every client connection is a file descriptor, and the usual soft default (1024) would
/// cap the origin near a thousand connections, slow clients included, after which accept
/// fails and the database pool cannot open a connection either; the hard limit is what
/// the administrator allows a process to take, so the origin takes it. Done through the
/// `rlimit` crate because the workspace forbids `unsafe` (no direct `setrlimit`).
fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// How long a stopping origin waits for the mail deliveries under way (longer than one SMTP
/// conversation's timeout, 15 s).
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
