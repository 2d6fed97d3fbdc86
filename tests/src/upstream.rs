//! An in-test HTTP upstream: answers every request with a JSON echo of what it received and
//! records it, so tests can assert exactly which headers (identity headers above all) reached
//! it through the edge.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::Json;
use serde_json::{json, Value};

/// Largest request body the upstream reads (larger bodies are recorded as empty).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request the upstream received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path, as received (not decoded).
    pub path: String,
    /// The query string without `?`, if the request had one.
    pub query: Option<String>,
    /// Every header by lower-case name; a repeated header's values joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body, as UTF-8 (lossy).
    pub body: String,
}

impl UpstreamRequest {
    /// A header's value (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The echo the upstream answered with:
    /// `{"method","path","query","headers":{name: value},"body"}` (`query` is `null` when the
    /// request had none).
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
        })
    }
}

type Log = Arc<Mutex<Vec<UpstreamRequest>>>;

fn lock(log: &Log) -> MutexGuard<'_, Vec<UpstreamRequest>> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The upstream server on a free loopback port, on a runtime of its own (so it answers
/// while the test blocks, and from sync or async tests alike); stopped on drop.
pub struct Upstream {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The port.
    pub port: u16,
    log: Log,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    /// Starts the server. It listens before this returns.
    pub fn start() -> Result<Self> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("upstream")
            .enable_all()
            .build()
            .context("starting the upstream's runtime")?;
        let log: Log = Arc::default();
        let app = axum::Router::new().fallback(record).with_state(log.clone());
        runtime.spawn(async move {
            if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                let _ = axum::serve(listener, app).await;
            }
        });
        Ok(Upstream {
            url: format!("http://127.0.0.1:{port}"),
            port,
            log,
            runtime: Some(runtime),
        })
    }

    /// Every request received so far, oldest first. A request is recorded before it is
    /// answered, so one whose response the caller has seen is in the list.
    pub fn requests(&self) -> Vec<UpstreamRequest> {
        lock(&self.log).clone()
    }

    /// The requests received so far for `path` (exact, without the query).
    pub fn requests_to(&self, path: &str) -> Vec<UpstreamRequest> {
        lock(&self.log)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        lock(&self.log).clear();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // Not a plain drop: dropping a runtime inside an async test would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn record(State(log): State<Log>, request: Request) -> Json<Value> {
    let (parts, body) = request.into_parts();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let received = UpstreamRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers,
        body,
    };
    let echo = received.to_json();
    lock(&log).push(received);
    Json(echo)
}
