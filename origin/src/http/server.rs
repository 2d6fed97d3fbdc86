//! The server loop: connections accepted within [`ConnectionLimits`], HTTP/1.1 served on
//! each by hyper, and a graceful stop.
//!
//! `axum::serve` has no header-read timeout and no cap on connections, so a client that
//! opens connections and sends its headers one byte at a time holds each one open for
//! ever, until the process runs out of file descriptors and stops accepting anyone. Here:
//!
//! - every connection must deliver a request's line and headers within the header timeout,
//!   counted from its opening or from the end of its previous response (hyper's
//!   `header_read_timeout`, which also closes a kept-alive connection idle for that long);
//!   bodies and handlers are bounded by the request timeout of the middleware stack;
//! - at most `max_connections` are open at once: at the cap the loop stops accepting, and
//!   new connections wait in the kernel's listen queue until one closes (within the header
//!   timeout, for a connection that sends nothing).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Default [`ConnectionLimits::header_timeout`] (`EDGEAUTH_HEADER_TIMEOUT`'s).
pub const DEFAULT_HEADER_TIMEOUT: Duration =
    Duration::from_secs(crate::config::DEFAULT_HEADER_TIMEOUT);

/// Default [`ConnectionLimits::max_connections`] (`EDGEAUTH_MAX_CONNECTIONS`'s).
pub const DEFAULT_MAX_CONNECTIONS: usize = crate::config::DEFAULT_MAX_CONNECTIONS as usize;

/// File descriptors left for what is not a client connection (the listener, database
/// connections and SQLite's files, SMTP, logs, the runtime's own) when the connection cap
/// is fitted to the open-files limit ([`ConnectionLimits::within_open_files`]).
pub const RESERVED_FILES: u64 = 256;

/// How long an open connection may still carry a request once the stop is signalled (its
/// answer says `Connection: close`), before an idle connection is closed. A client reusing
/// a kept-alive connection would otherwise race the close and see its request dropped.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// How long the loop pauses after an accept error other than a refused connection (such as
/// running out of file descriptors), rather than spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Bounds on client connections (docs/operations.md, "Connections").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a connection has to send a request's line and headers, from its opening or
    /// from the end of its previous response (so also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// Connections open at once; beyond, new connections wait to be accepted.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnectionLimits {
    /// These limits with the cap lowered, if need be, to what an open-files limit of
    /// `open_files` leaves after [`RESERVED_FILES`] (at least one connection).
    pub fn within_open_files(self, open_files: u64) -> Self {
        let room = usize::try_from(open_files.saturating_sub(RESERVED_FILES))
            .unwrap_or(usize::MAX)
            .max(1);
        ConnectionLimits {
            max_connections: self.max_connections.min(room),
            ..self
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves; then accepts what
/// the kernel has already queued and closes the listener, answers every request from then
/// on with `Connection: close`, gives open connections [`STOP_GRACE`] to carry a last
/// request, lets every request in flight finish, and returns when all connections are
/// closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Set once the stop begins: answers then carry `Connection: close`.
    let draining = Arc::new(AtomicBool::new(false));
    // A value sent asks the connections to stop; each holds a receiver until it closes.
    let (stop, stopping) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        spawn_connection(&http, &app, stream, peer, Some(slot), &stopping, &draining);
    }
    // From now on every answer says `Connection: close`, so that no client sends another
    // request on a connection about to close. Connections the kernel has already queued
    // are accepted and served, rather than reset when the listener closes; after that, new
    // connections are refused.
    draining.store(true, Ordering::Release);
    for (stream, peer) in queued_connections(listener) {
        spawn_connection(&http, &app, stream, peer, None, &stopping, &draining);
    }
    drop(stopping);
    // Err only when no connection is left to tell.
    let _ = stop.send(());
    stop.closed().await;
    Ok(())
}

/// Accepts every connection the kernel has queued on `listener`, then closes it. The
/// accepts are the system's own, not tokio's, which would see only the connections its
/// reactor has been told of so far: one left queued would be reset by the close.
fn queued_connections(listener: TcpListener) -> Vec<(tokio::net::TcpStream, SocketAddr)> {
    let mut queued = Vec::new();
    let Ok(listener) = listener.into_std() else {
        return queued;
    };
    // The socket is non-blocking (tokio made it so): the loop ends when the queue is empty.
    while let Ok((stream, peer)) = listener.accept() {
        let stream = stream
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpStream::from_std(stream));
        match stream {
            Ok(stream) => queued.push((stream, peer)),
            Err(e) => tracing::debug!(%peer, error = %e, "a queued connection was lost"),
        }
    }
    queued
}

/// Serves one connection until it closes: once the stop is signalled, it gets
/// [`STOP_GRACE`] to carry a last request (answered with `Connection: close`, after which
/// it closes), then hyper's graceful shutdown (a request in flight finishes; an idle
/// connection closes at once).
fn spawn_connection(
    http: &http1::Builder,
    app: &Router,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
    stopping: &watch::Receiver<()>,
    draining: &Arc<AtomicBool>,
) {
    let app = app.clone();
    let draining = draining.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request
            .extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer));
        let answer = app.clone().oneshot(request);
        let draining = draining.clone();
        async move {
            let mut response = answer.await?;
            if draining.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    let mut stopping = stopping.clone();
    tokio::spawn(async move {
        let mut connection = pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = async {
                let _ = stopping.changed().await;
                tokio::time::sleep(STOP_GRACE).await;
            } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "connection ended");
        }
        drop(slot);
        drop(stopping);
    });
}

/// A refused or reset connection is the client's business; anything else (out of file
/// descriptors, say) is logged and the loop pauses.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

    /// A server within `limits` whose `/` answers "hello" and `/slow` does so after 300 ms,
    /// and the sender that stops it.
    async fn start(limits: ConnectionLimits) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
        let app = Router::new().route("/", get(|| async { "hello" })).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow hello"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(listener, app, limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (address, stop, server)
    }

    fn limits(header_timeout_ms: u64, max_connections: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(header_timeout_ms),
            max_connections,
        }
    }

    /// Reads until the server closes the connection (or resets it); what it sent.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut all = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buffer[..n]),
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    }

    /// Sends one request and reads its answer (the server closes after it).
    async fn ask(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        read_to_close(&mut stream).await
    }

    #[tokio::test]
    async fn connections_without_a_whole_request_head_in_time_are_closed() {
        let (address, _stop, _server) = start(limits(300, 16)).await;
        let started = Instant::now();
        let mut silent = TcpStream::connect(address).await.unwrap();
        let mut trickling = TcpStream::connect(address).await.unwrap();
        let trickle = tokio::spawn(async move {
            for byte in b"GET / HTTP/1.1\r\nHost: te".iter() {
                if trickling.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            read_to_close(&mut trickling).await
        });
        // A kept-alive connection, idle after its answer.
        let mut idle = TcpStream::connect(address).await.unwrap();
        idle.write_all(REQUEST).await.unwrap();
        let mut first = [0u8; 512];
        let n = idle.read(&mut first).await.unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).ends_with("hello"));

        // Closed without an answer.
        assert_eq!(read_to_close(&mut silent).await, "");
        let closed = started.elapsed();
        assert!(
            closed >= Duration::from_millis(250) && closed < Duration::from_secs(2),
            "{closed:?}"
        );
        assert_eq!(trickle.await.unwrap(), "");
        assert!(started.elapsed() < Duration::from_secs(2));
        read_to_close(&mut idle).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        // Meanwhile, and after, whole requests are answered.
        assert!(ask(address, "/").await.ends_with("hello"));
    }

    #[tokio::test]
    async fn beyond_the_cap_connections_wait_for_a_free_slot() {
        let (address, _stop, _server) = start(limits(400, 1)).await;
        let started = Instant::now();
        let mut holding = TcpStream::connect(address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Accepted only once the silent one is closed by the header timeout.
        assert!(ask(address, "/").await.ends_with("hello"));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(350), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        read_to_close(&mut holding).await;

        // A slot freed by the client is reused at once.
        let holding = TcpStream::connect(address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(holding);
        let started = Instant::now();
        assert!(ask(address, "/").await.ends_with("hello"));
        assert!(started.elapsed() < Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_stop_finishes_requests_in_flight_then_returns() {
        let (address, stop, server) = start(limits(5_000, 16)).await;
        let mut idle = TcpStream::connect(address).await.unwrap();
        idle.write_all(REQUEST).await.unwrap();
        let mut first = [0u8; 512];
        let _ = idle.read(&mut first).await.unwrap();
        let in_flight = tokio::spawn(ask(address, "/slow"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        stop.send(()).unwrap();
        assert!(in_flight.await.unwrap().ends_with("slow hello"));
        // The idle connection is closed at once, not after the 5 s header timeout.
        read_to_close(&mut idle).await;
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(TcpStream::connect(address).await.is_err());
    }

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        let asked = ConnectionLimits::default();
        assert_eq!(asked.within_open_files(1_048_576), asked);
        assert_eq!(asked.within_open_files(1024).max_connections, 768);
        assert_eq!(asked.within_open_files(100).max_connections, 1);
        assert_eq!(
            asked.within_open_files(1024).header_timeout,
            DEFAULT_HEADER_TIMEOUT
        );
    }
}
