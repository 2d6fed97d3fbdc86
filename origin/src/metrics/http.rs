//! The HTTP request metrics: a middleware around the router that records each request's
//! route template, method, status and time to answer.
//!
//! The route is axum's [`MatchedPath`] (the template, `/api/auth/reset-password/{token}`,
//! never the path a client sent), or [`UNMATCHED_ROUTE`] when no route matched; the method
//! is one of the standard ones or `other`, so a client cannot add series by inventing paths
//! or methods. A series is registered with the recorder the first time a thread sees it and
//! kept in that thread's cache: after the first few requests, recording a request is a hash
//! lookup of the route, two atomic adds and a lock-free histogram push, with no allocation
//! and no lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder, SharedString};

use super::{names, Installed, INSTALLED, METADATA, UNMATCHED_ROUTE};

/// Records the request: add it around the router with `axum::middleware::from_fn` (only
/// when metrics are installed; without, it only passes the request on).
pub async fn track(request: Request, next: Next) -> Response {
    let Some(installed) = INSTALLED.get() else {
        return next.run(request).await;
    };
    let started = Instant::now();
    let method = method_label(request.method());
    // An `Arc` clone: the template outlives the request it is moved into.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let in_flight = InFlight::start(&installed.in_flight);
    let response = next.run(request).await;
    drop(in_flight);
    record(
        installed,
        route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The `method` label: a standard method's name, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The in-flight gauge, raised while a request is handled (lowered when the guard drops,
/// also when the client goes away and the request is cancelled).
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn start(gauge: &'a Gauge) -> Self {
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// One (route, method, status) series' handles.
struct Series {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

thread_local! {
    /// This thread's handles, by route template. Bounded: the router's routes and the
    /// unmatched value, times the standard methods and the statuses the origin answers.
    static SERIES: RefCell<HashMap<Box<str>, Vec<Series>>> = RefCell::new(HashMap::new());
}

fn record(installed: &Installed, route: &str, method: &'static str, status: u16, took: Duration) {
    SERIES.with_borrow_mut(|by_route| {
        if let Some(series) = by_route.get_mut(route) {
            record_in(series, installed, route, method, status, took);
            return;
        }
        let mut series = Vec::new();
        record_in(&mut series, installed, route, method, status, took);
        by_route.insert(route.into(), series);
    });
}

fn record_in(
    series: &mut Vec<Series>,
    installed: &Installed,
    route: &str,
    method: &'static str,
    status: u16,
    took: Duration,
) {
    let one = match series
        .iter()
        .position(|s| s.status == status && s.method == method)
    {
        Some(index) => &series[index],
        None => {
            series.push(register(&installed.recorder, route, method, status));
            &series[series.len() - 1]
        }
    };
    one.requests.increment(1);
    one.duration.record(took.as_secs_f64());
}

/// Registers (or finds, when another thread did) a series with the recorder.
fn register(recorder: &impl Recorder, route: &str, method: &'static str, status: u16) -> Series {
    let labels = || {
        vec![
            Label::new("route", SharedString::from(route.to_owned())),
            Label::from_static_parts("method", method),
            Label::new("status", SharedString::from(status.to_string())),
        ]
    };
    Series {
        method,
        status,
        requests: recorder
            .register_counter(&Key::from_parts(names::HTTP_REQUESTS, labels()), &METADATA),
        duration: recorder
            .register_histogram(&Key::from_parts(names::HTTP_DURATION, labels()), &METADATA),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::POST), "POST");
        for invented in ["PROPFIND", "X-ANYTHING", "get"] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{invented}");
        }
    }
}
