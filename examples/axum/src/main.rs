//! An axum service behind the edgeauth edge that trusts no header: every protected route
//! takes a [`VerifiedUser`], an extractor that verifies the caller's JWT with the token crate
//! against the origin's published keys.
//!
//! The edge forwards every authenticated request with a JWT for the caller in
//! `x-edgeauth-jwt` (the token the request presented, or one the origin minted for the
//! session cookie); a client reaching this service directly may send its own as
//! `Authorization: Bearer`. The token crate's one verifier checks it: EdDSA only, the
//! signature against the key named by `kid`, `iss`, `aud`, `exp`. Keys come from
//! `EDGEAUTH_JWKS_URL`, fetched at start and again when a token names an unknown key (a
//! rotation), at most once every 30 seconds.
//!
//! ```text
//! EDGEAUTH_JWKS_URL=http://localhost:3000/api/auth/jwks EDGEAUTH_ISSUER=http://localhost:3000 \
//!   cargo run -p edgeauth-example-axum -- 127.0.0.1:8001
//! ```

use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use edgeauth_token::{verify, KeySet, Validation, VerifiedClaims};
use serde_json::{json, Value};

/// How often an unknown `kid` may send the service back to the JWKS.
const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);

/// The keys and the rules, shared by every request.
#[derive(Clone)]
struct Verifier(Arc<VerifierInner>);

struct VerifierInner {
    jwks_url: String,
    rules: Validation,
    http: reqwest::Client,
    keys: RwLock<(KeySet, Option<Instant>)>,
}

/// Why a request has no verified user.
enum Refusal {
    Missing,
    Invalid,
    KeysUnavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refusal::Missing => (StatusCode::UNAUTHORIZED, "Authentication required"),
            Refusal::Invalid => (StatusCode::UNAUTHORIZED, "Invalid or expired credentials"),
            Refusal::KeysUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "keys unavailable"),
        };
        let code = if status == StatusCode::UNAUTHORIZED {
            "UNAUTHORIZED"
        } else {
            "UNAVAILABLE"
        };
        let mut response =
            (status, Json(json!({ "code": code, "message": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"example\""),
            );
        }
        response
    }
}

impl Verifier {
    async fn fetch_keys(&self) -> Result<KeySet, String> {
        let text = self
            .0
            .http
            .get(&self.0.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("JWKS fetch: {e}"))?
            .text()
            .await
            .map_err(|e| format!("JWKS read: {e}"))?;
        KeySet::from_jwks_json(&text).map_err(|e| format!("JWKS: {e}"))
    }

    /// Refetches the keys unless that was done within the cooldown; whether it did.
    async fn refresh(&self) -> Result<bool, Refusal> {
        let due = self
            .0
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .is_none_or(|at| at.elapsed() >= REFETCH_COOLDOWN);
        if !due {
            return Ok(false);
        }
        let keys = self.fetch_keys().await.map_err(|e| {
            eprintln!("edgeauth-example-axum: {e}");
            Refusal::KeysUnavailable
        })?;
        *self.0.keys.write().unwrap_or_else(|p| p.into_inner()) = (keys, Some(Instant::now()));
        Ok(true)
    }

    async fn verify(&self, token: &str) -> Result<VerifiedClaims, Refusal> {
        let attempt = || {
            // A poisoned lock still holds a whole key set (it is replaced, never edited).
            let keys = self.0.keys.read().unwrap_or_else(|p| p.into_inner());
            verify(token, &keys.0, &self.0.rules, unix_now())
        };
        let verified = match attempt() {
            // An unknown key: perhaps a rotation since the keys were fetched.
            Err(edgeauth_token::Error::UnknownKey) if self.refresh().await? => attempt(),
            other => other,
        };
        verified.map_err(|_| Refusal::Invalid)
    }
}

#[expect(clippy::disallowed_methods, reason = "the example's one clock")]
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The caller, from a verified JWT (Better Auth's JWT plugin claims).
struct VerifiedUser(VerifiedClaims);

impl<S> FromRequestParts<S> for VerifiedUser
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let token = header("x-edgeauth-jwt").or_else(|| {
            header("authorization").and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
        });
        let token = token.filter(|t| !t.is_empty()).ok_or(Refusal::Missing)?;
        Ok(VerifiedUser(Verifier::from_ref(state).verify(token).await?))
    }
}

async fn me(VerifiedUser(claims): VerifiedUser) -> Json<Value> {
    Json(json!({
        "backend": "axum",
        "id": claims.subject(),
        "email": claims.get_str("email"),
        "name": claims.get_str("name"),
        "sessionId": claims.session_id(),
    }))
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(listen), Some(jwks_url), Some(issuer)) = (
        std::env::args().nth(1),
        env("EDGEAUTH_JWKS_URL"),
        env("EDGEAUTH_ISSUER"),
    ) else {
        eprintln!("usage: EDGEAUTH_JWKS_URL=... EDGEAUTH_ISSUER=... [EDGEAUTH_AUDIENCE=...] edgeauth-example-axum HOST:PORT");
        return ExitCode::from(2);
    };
    let audience = env("EDGEAUTH_AUDIENCE").unwrap_or_else(|| issuer.clone());
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            eprintln!("edgeauth-example-axum: HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let verifier = Verifier(Arc::new(VerifierInner {
        jwks_url,
        rules: Validation::new(issuer, audience),
        http,
        keys: RwLock::new((KeySet::new(), None)),
    }));
    // Keys at start when the origin is up; otherwise on the first request.
    if let Err(Refusal::KeysUnavailable) = verifier.refresh().await {
        eprintln!("edgeauth-example-axum: no keys yet; fetching on the first request");
    }
    let app = Router::new()
        .route("/health", get(health))
        .route("/app/me", get(me))
        .with_state(verifier);
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("edgeauth-example-axum: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgeauth-example-axum: {e}");
            ExitCode::FAILURE
        }
    }
}
