//! The HTTP application: Better Auth's API under `/api/auth`.

use std::future::Future;
use std::io;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The path prefix of every auth endpoint (Better Auth's default `basePath`).
pub const BASE_PATH: &str = "/api/auth";

/// The application router.
pub fn app() -> Router {
    Router::new().nest(BASE_PATH, Router::new().route("/ok", get(ok)))
}

/// `GET /api/auth/ok`: liveness, as Better Auth answers it.
async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn ok_answers_like_better_auth() {
        let response = app()
            .oneshot(Request::get("/api/auth/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"ok":true}"#);
    }
}
