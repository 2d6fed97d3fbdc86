//! The whole application in-process, for the origin's own tests: a fresh SQLite file,
//! rate limiting on, a manual clock, requests sent without a socket.

use axum::response::Response;
use chrono::{TimeZone, Utc};

use crate::clock::ManualClock;

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

/// The whole app, driven without a socket (so without `ConnectInfo`), rate limiting on
/// (unless `extra` says otherwise), on a fresh SQLite file, with a manual clock.
pub async fn app(
    extra: &[&str],
) -> (
    axum::Router,
    std::sync::Arc<ManualClock>,
    std::path::PathBuf,
) {
    let (state, clock, path) = state(extra).await;
    (crate::app::router(state), clock, path)
}

/// The application's state as [`app`] assembles it, for tests that call the domain
/// directly.
pub async fn state(
    extra: &[&str],
) -> (
    crate::app::AppState,
    std::sync::Arc<ManualClock>,
    std::path::PathBuf,
) {
    let path = std::env::temp_dir().join(format!(
        "edgeauth-limit-{}-{}.db",
        std::process::id(),
        crate::ids::random_string(8)
    ));
    let (state, clock) = state_at(&path, extra).await.unwrap();
    (state, clock, path)
}

/// The application's state on the SQLite file at `path` (which may already hold tables),
/// or the error `prepare` stops start-up with.
pub async fn state_at(
    path: &std::path::Path,
    extra: &[&str],
) -> anyhow::Result<(crate::app::AppState, std::sync::Arc<ManualClock>)> {
    use clap::Parser;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let secret = "s".repeat(32);
    let mut argv = vec![
        "edgeauth",
        "serve",
        "--secret",
        &secret,
        "--database-url",
        &url,
    ];
    if !extra.contains(&"--rate-limit") {
        argv.extend(["--rate-limit", "on"]);
    }
    argv.extend_from_slice(extra);
    let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
    let crate::cli::Command::Serve(args) = cli.command else {
        unreachable!()
    };
    let clock = std::sync::Arc::new(clock());
    let state = crate::app::prepare(&args, clock.clone()).await?;
    Ok((state, clock))
}

pub async fn send(
    app: &axum::Router,
    path: &str,
    peer: Option<[u8; 4]>,
    headers: &[(&str, &str)],
) -> Response {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method("POST").uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    if let Some(peer) = peer {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 40000,
            ))));
    }
    app.clone().oneshot(request).await.unwrap()
}
