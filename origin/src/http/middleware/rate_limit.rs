//! The per-address rate limiter as a middleware around the whole router (see
//! [`crate::rate_limit`] for the rules and the algorithm).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edgeauth_token::wire;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::client_ip::ClientIp;
use crate::metrics;
use crate::rate_limit::{address_key, Decision};

/// The per-address limiter, as a middleware around the whole router (so it also sees
/// paths the router will not match).
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limiter = state.rate_limiter();
    // CORS preflights are not counted: they do nothing, and counting them would halve a
    // cross-origin browser's sign-in budget (Better Auth never sees them either: the host
    // framework's CORS layer answers them).
    if !limiter.enabled() || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    // Paths the wire contract refuses never get here (see `super::path`).
    let Ok(normalised) = wire::normalize_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(path) = limited_path(&state, request.method(), &normalised) else {
        return next.run(request).await;
    };
    let ip = ClientIp::from_config(request.headers(), request.extensions(), state.config());
    let (rule_name, rule) = limiter.rules().matching(path);
    match limiter
        .hit(&address_key(&ip, path), rule, state.now())
        .await
    {
        Decision::Allowed => next.run(request).await,
        Decision::Limited { retry_after_secs } => {
            tracing::info!(path = %path, retry_after = retry_after_secs, "rate limited");
            count_refusal(rule_name);
            ApiError::too_many_requests(retry_after_secs).into_response()
        }
    }
}

/// Counts a refusal by `rule` (its prefix, or `default`), and a refused sign-in or sign-up
/// when the rule is theirs (the API's and the pages' posts share those rules).
fn count_refusal(rule: &str) {
    metrics::rate_limited(rule);
    match rule {
        "/sign-in" | "/passkey/verify-authentication" => {
            metrics::sign_in(metrics::SignIn::RateLimited);
        }
        "/sign-up" => metrics::sign_up(metrics::SignUp::RateLimited),
        _ => {}
    }
}

/// The path a request is limited under, relative to its prefix: every request to the API
/// (`/sign-in/email` for `/api/auth/sign-in/email`), and the hosted pages' form posts
/// (`/sign-in` for a post to `/auth/sign-in`: the same key and budget as the API's sign-in).
/// Page views are not limited.
fn limited_path<'p>(state: &AppState, method: &Method, normalised: &'p str) -> Option<&'p str> {
    if let Some(path) = wire::auth_relative(normalised) {
        return Some(path);
    }
    let pages = &state.config().pages;
    if !pages.enabled || *method != Method::POST {
        return None;
    }
    let rest = wire::rule_path(normalised).strip_prefix(pages.path.as_str())?;
    rest.starts_with('/').then_some(rest)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use crate::app::test_app::{app, send};

    #[tokio::test]
    async fn the_middleware_normalises_paths_and_reads_no_forwarded_headers() {
        let (app, clock, path) = app(&[]).await;
        // Preflights are not counted.
        for _ in 0..5 {
            use tower::ServiceExt;
            let preflight = axum::http::Request::builder()
                .method("OPTIONS")
                .uri("/api/auth/sign-in/email")
                .body(axum::body::Body::empty())
                .unwrap();
            let reply = app.clone().oneshot(preflight).await.unwrap();
            assert_ne!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        }
        // No ConnectInfo: unknown address, one shared budget, and handlers still run.
        let first = send(&app, "//api/auth/sign-in/email", None, &[]).await;
        assert_eq!(first.status(), axum::http::StatusCode::NOT_FOUND);
        let second = send(&app, "/api/auth/sign-in/email/", None, &[]).await;
        assert_eq!(second.status(), axum::http::StatusCode::NOT_FOUND);
        let third = send(&app, "/api/auth/sign-in/email", None, &[]).await;
        assert_eq!(third.status(), axum::http::StatusCode::BAD_REQUEST);
        for variant in [
            "/api/auth/sign-in/email",
            "/api/auth/./sign-in/email",
            "/api/auth/sign%2Din/email",
        ] {
            let refused = send(&app, variant, None, &[]).await;
            assert_eq!(
                refused.status(),
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "{variant}"
            );
            assert_eq!(refused.headers()["x-retry-after"], "10");
            let body = axum::body::to_bytes(refused.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(
                &body[..],
                br#"{"message":"Too many requests. Please try again later."}"#
            );
        }
        // Other paths have their own (default) budget; paths outside /api/auth none.
        assert_eq!(
            send(&app, "/api/auth/sign-out", None, &[]).await.status(),
            axum::http::StatusCode::OK
        );
        assert_eq!(
            send(&app, "/healthz", None, &[]).await.status(),
            axum::http::StatusCode::METHOD_NOT_ALLOWED
        );
        // Peers are told apart; X-Forwarded-For is not read.
        let peer = Some([192, 0, 2, 1]);
        for n in 0..3 {
            let spoof = format!("198.51.100.{n}");
            let reply = send(
                &app,
                "/api/auth/sign-in/email",
                peer,
                &[("x-forwarded-for", &spoof)],
            )
            .await;
            assert_ne!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        }
        let reply = send(
            &app,
            "/api/auth/sign-in/email",
            peer,
            &[("x-forwarded-for", "203.0.113.1")],
        )
        .await;
        assert_eq!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        // The window is the app's clock: 9.999 s later still refused, 10 s later admitted.
        clock.advance(Duration::milliseconds(9_999));
        let reply = send(&app, "/api/auth/sign-in/email", peer, &[]).await;
        assert_eq!(reply.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.headers()["x-retry-after"], "1");
        clock.advance(Duration::milliseconds(1));
        let reply = send(&app, "/api/auth/sign-in/email", peer, &[]).await;
        assert_eq!(reply.status(), axum::http::StatusCode::BAD_REQUEST);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn a_trusted_header_replaces_the_peer() {
        let (app, _clock, path) = app(&["--trusted-ip-header", "x-client-ip"]).await;
        let peer = Some([192, 0, 2, 1]);
        let hit = |ip: &'static str| {
            let app = app.clone();
            async move {
                send(
                    &app,
                    "/api/auth/sign-up/email",
                    peer,
                    &[("x-client-ip", ip)],
                )
                .await
                .status()
            }
        };
        for _ in 0..3 {
            assert_ne!(
                hit("2001:db8:0:1::1").await,
                axum::http::StatusCode::TOO_MANY_REQUESTS
            );
        }
        // Same /64, other spelling: same budget. Another /64, another budget.
        assert_eq!(
            hit("2001:0db8:0000:0001:ffff::9").await,
            axum::http::StatusCode::TOO_MANY_REQUESTS
        );
        assert_ne!(
            hit("2001:db8:0:2::1").await,
            axum::http::StatusCode::TOO_MANY_REQUESTS
        );
        // Junk is unknown: one shared budget, whatever the junk.
        for junk in ["junk", "1.2.3.4, 5.6.7.8", "1.2.3.4:80"] {
            assert_ne!(
                hit(junk).await,
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "{junk}"
            );
        }
        assert_eq!(
            hit("more junk").await,
            axum::http::StatusCode::TOO_MANY_REQUESTS
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
