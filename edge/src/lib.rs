//! edgeauth-edge: the Cloudflare Worker that sits in front of the edgeauth origin.
//!
//! This is the skeleton: it answers its own health check and turns every other path into the
//! project's JSON 404. The routing decision ([`route`]) and the response it produces
//! ([`Route::reply`]) are plain functions, unit-tested natively with `cargo test -p
//! edgeauth-edge`; only the `#[event(fetch)]` handler touches the Workers runtime.
//!
//! Build the bundle with `bash scripts/build-edge.sh` (worker-build writes `edge/build/`) and
//! serve it locally with `npx wrangler dev` from the repository root.

use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response, Result};

/// The health-check path the edge answers itself, without contacting the origin.
pub const HEALTH_PATH: &str = "/__edge/ok";

/// The name the health check reports, so a caller can tell the edge from the origin.
pub const SERVICE_NAME: &str = "edgeauth-edge";

/// What the worker does with a request, decided from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /__edge/ok`: the edge's own liveness check.
    Health,
    /// Anything else: the JSON 404.
    NotFound,
}

/// Chooses the [`Route`] for a request.
///
/// `method` is the HTTP method as sent (compared case-sensitively, as HTTP methods are) and
/// `path` is the URL path without the query string.
pub fn route(method: &str, path: &str) -> Route {
    match (method, path) {
        ("GET", HEALTH_PATH) => Route::Health,
        _ => Route::NotFound,
    }
}

impl Route {
    /// The HTTP status and JSON body this route answers with.
    pub fn reply(self) -> (u16, Value) {
        match self {
            Route::Health => (200, json!({ "ok": true, "service": SERVICE_NAME })),
            Route::NotFound => (404, json!({ "code": "NOT_FOUND", "message": "Not Found" })),
        }
    }
}

/// The worker's fetch handler: route the request, answer with JSON.
#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let (status, body) = route(req.method().as_ref(), &req.path()).reply();
    // `from_json` sets `content-type: application/json`.
    Ok(Response::from_json(&body)?.with_status(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_health_path_is_the_health_check() {
        assert_eq!(route("GET", "/__edge/ok"), Route::Health);
    }

    #[test]
    fn other_paths_are_not_found() {
        for path in [
            "/",
            "/__edge",
            "/__edge/ok/",
            "/__edge/OK",
            "/api/auth/ok",
            "",
        ] {
            assert_eq!(route("GET", path), Route::NotFound, "path {path:?}");
        }
    }

    #[test]
    fn other_methods_on_the_health_path_are_not_found() {
        for method in ["POST", "PUT", "DELETE", "HEAD", "get"] {
            assert_eq!(
                route(method, HEALTH_PATH),
                Route::NotFound,
                "method {method:?}"
            );
        }
    }

    #[test]
    fn health_reply_is_ok_json() {
        let (status, body) = Route::Health.reply();
        assert_eq!(status, 200);
        assert_eq!(body, json!({ "ok": true, "service": "edgeauth-edge" }));
    }

    #[test]
    fn not_found_reply_is_the_json_error() {
        let (status, body) = Route::NotFound.reply();
        assert_eq!(status, 404);
        assert_eq!(body, json!({ "code": "NOT_FOUND", "message": "Not Found" }));
    }
}
