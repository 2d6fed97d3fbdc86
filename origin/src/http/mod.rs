//! The HTTP application: Better Auth's API under `/api/auth`, plus `/healthz` and `/readyz`.
//!
//! One file per endpoint group; [`error`] is the only place errors become responses.

mod auth;
mod body;
pub mod client_ip;
mod cookies;
mod delete_user;
pub mod edge;
pub mod error;
mod jwt;
mod origin_check;
mod password_reset;
pub mod rate_limit;
mod redirect;
mod session;
mod sessions;
mod user;
mod verification;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use edgeauth_token::ClaimsBuilder;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

pub use self::cookies::CookieJar;
use self::error::{messages, ApiError};
use self::rate_limit::RateLimiter;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Db, SessionWithUser};
use crate::mail::Mailer;
use crate::password::{HashPool, PasswordPolicy};
use crate::signing::{KeyStore, KeyStoreError};

/// The path prefix of every auth endpoint (Better Auth's default `basePath`).
pub const BASE_PATH: &str = "/api/auth";

/// Most background tasks (see [`AppState::spawn_background`]) running at once.
pub const BACKGROUND_TASKS: usize = 256;

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a handler needs, shared by all requests.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    db: Db,
    passwords: HashPool,
    policy: PasswordPolicy,
    keys: KeyStore,
    clock: Arc<dyn Clock>,
    cookies: CookieJar,
    limiter: RateLimiter,
    mailer: Mailer,
    background: Arc<Semaphore>,
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        config: Config,
        db: Db,
        passwords: HashPool,
        keys: KeyStore,
        clock: Arc<dyn Clock>,
        mailer: Mailer,
    ) -> Self {
        let policy = PasswordPolicy {
            min_length: config.password_min_length,
            max_length: config.password_max_length,
        };
        let cookies = CookieJar {
            secure: config.secure_cookies,
        };
        let limiter = RateLimiter::new(&config, &db);
        AppState(Arc::new(Inner {
            config,
            db,
            passwords,
            policy,
            keys,
            clock,
            cookies,
            limiter,
            mailer,
            background: Arc::new(Semaphore::new(BACKGROUND_TASKS)),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The bounded password-hashing pool.
    pub fn passwords(&self) -> &HashPool {
        &self.0.passwords
    }

    /// The password policy for new passwords.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.0.policy
    }

    /// The JWT signing keys.
    pub fn keys(&self) -> &KeyStore {
        &self.0.keys
    }

    /// Cookie names and attributes.
    pub fn cookies(&self) -> &CookieJar {
        &self.0.cookies
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    /// The outgoing mail queue.
    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    /// Runs `work` after the response, so that what it does (finding out whether an
    /// address is registered, writing a token, queueing mail) shows in neither the answer
    /// nor its timing. At most [`BACKGROUND_TASKS`] run at once; beyond, `work` is dropped
    /// with a warning (the rate limiter keeps honest traffic far below that).
    pub fn spawn_background<F>(&self, what: &'static str, work: F)
    where
        F: Future<Output = Result<(), ApiError>> + Send + 'static,
    {
        let Ok(slot) = self.0.background.clone().try_acquire_owned() else {
            tracing::warn!(what, "too many background tasks: dropped");
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = work.await {
                tracing::warn!(what, status = %e.status(), "background task failed");
            }
            drop(slot);
        });
    }

    /// Graceful shutdown, once no request is served any more: waits for the background
    /// tasks, then for the mail queue, together at most `timeout`. Returns the mails still
    /// pending (given up on).
    pub async fn drain(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        // Every permit back means no background task is running.
        let all = u32::try_from(BACKGROUND_TASKS).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout_at(deadline, self.0.background.acquire_many(all)).await;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.mailer().drain(left).await
    }

    /// The public URL of an auth endpoint: `BETTER_AUTH_URL` + `/api/auth` + `path`, as
    /// Better Auth builds email links. Never from request headers, so a forged `Host` cannot
    /// point a mailed link elsewhere.
    pub fn auth_url(&self, path: &str) -> String {
        let base = self.config().base_url.trim_end_matches('/');
        let base = base.strip_suffix(BASE_PATH).unwrap_or(base);
        format!("{base}{BASE_PATH}{path}")
    }

    /// Refuses a redirect target that is not a safe relative path or a trusted origin.
    pub fn check_redirect(&self, target: &str) -> Result<(), ApiError> {
        if redirect::is_allowed(self.config(), target) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                messages::INVALID_CALLBACK_URL,
            ))
        }
    }

    /// A JWT in the JWT plugin's format for this session: the user object plus `sub`, `iat`,
    /// `exp`, `iss` and `aud` (the base URL's origin), and `sid`, the session id, so the
    /// edge can refuse the JWTs of a revoked session.
    pub async fn mint_jwt(
        &self,
        found: &SessionWithUser,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let key = self.keys().signer(now).await?;
        let Value::Object(user) = json!(found.user) else {
            return Err(ApiError::internal("user did not serialise to an object"));
        };
        let origin = &self.config().base_origin;
        let iat = u64::try_from(now.timestamp()).unwrap_or(0);
        let claims = ClaimsBuilder::better_auth(
            user,
            &found.user.id,
            iat,
            self.config().jwt_expires_in,
            origin,
            &[origin],
        )
        .insert("sid", found.session.id.as_str());
        Ok(key.sign(&claims))
    }
}

impl From<KeyStoreError> for ApiError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::Db(e) => e.into(),
            KeyStoreError::Key(e) => ApiError::internal(e),
        }
    }
}

/// The application router.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/ok", get(ok))
        .route("/sign-up/email", post(auth::sign_up))
        .route("/sign-in/email", post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/get-session", get(sessions::get_session))
        .route("/list-sessions", get(sessions::list_sessions))
        .route("/revoke-session", post(sessions::revoke_session))
        .route("/revoke-sessions", post(sessions::revoke_sessions))
        .route(
            "/revoke-other-sessions",
            post(sessions::revoke_other_sessions),
        )
        .route("/update-user", post(user::update_user))
        .route("/change-password", post(user::change_password))
        .route(
            "/send-verification-email",
            post(verification::send_verification_email),
        )
        .route("/verify-email", get(verification::verify_email))
        .route("/change-email", post(verification::change_email))
        .route(
            "/request-password-reset",
            post(password_reset::request_password_reset),
        )
        .route(
            "/reset-password/{token}",
            get(password_reset::reset_password_callback),
        )
        .route("/reset-password", post(password_reset::reset_password))
        .route("/error", get(password_reset::error_page))
        .route("/delete-user", post(delete_user::delete_user))
        .route(
            "/delete-user/callback",
            get(delete_user::delete_user_callback),
        )
        .route("/token", get(jwt::token))
        .route("/jwks", get(jwt::jwks))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin_check::check,
        ));
    // Only with an edge secret, and outside the origin check, so that without the proof it
    // answers every method exactly as an unknown route does.
    let api = if state.config().edge_secret.is_some() {
        api.route(edge::SESSION_ROUTE, any(edge::session_liveness))
    } else {
        api
    };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest(BASE_PATH, api)
        .route("/healthz", get(ok))
        .route("/readyz", get(ready))
        // Outside the router's matching, so it also counts paths the router refuses.
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                // The path only: query strings may carry tokens.
                tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
            })
            // The access log: one INFO line per finished request, in the span above, e.g.
            // `INFO request{id=.. method=GET path=/api/auth/get-session}:
            // tower_http::trace::on_response: finished processing request latency=3 ms
            // status=200`.
            .on_response(
                DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(LatencyUnit::Millis),
            ),
        )
        .layer(SetRequestIdLayer::new(request_id, RandomRequestId))
        .with_state(state)
}

/// Request ids: 16 random alphanumerics, unless the caller sent one.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        crate::ids::random_string(16)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// `GET /api/auth/ok` and `/healthz`: liveness, as Better Auth answers it.
async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `GET /readyz`: 200 when the database answers, else 503.
async fn ready(State(state): State<AppState>) -> Response {
    match state.db().ping().await {
        Ok(()) => Json(json!({ "ok": true, "database": state.db().dialect() })).into_response(),
        Err(e) => ApiError::unavailable(e).into_response(),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
