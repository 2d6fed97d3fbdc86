//! The floor for `GET /api/auth/get-session`: a bare axum + sqlx handler that does the same
//! session lookup as the origin (the same SQL, the same pool size) and answers the same JSON
//! shape, with nothing else: no cookie signature check, no expiry or sliding refresh, no JWT,
//! no middleware. `scripts/bench-origin.sh` reports the origin's get-session throughput as a
//! ratio of this one's, measured in the same run on the same database.
//!
//! ```text
//! DATABASE_URL=postgres://... cargo run --release -p edgeauth-origin --example get_session_floor -- 127.0.0.1:4000
//! ```
//!
//! The session token is read from the `better-auth.session_token` cookie (with or without
//! `__Secure-`), the part before the signature's dot.

use std::process::ExitCode;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

/// The origin's lookup (`Db::find_session`, without the two-factor column).
const SQL: &str = r#"SELECT s."id", s."expiresAt", s."token", s."createdAt", s."updatedAt",
                            s."ipAddress", s."userAgent", s."userId",
                            u."id" AS u_id, u."name" AS u_name, u."email" AS u_email,
                            u."emailVerified" AS u_email_verified, u."image" AS u_image,
                            u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at
                     FROM "session" s JOIN "user" u ON u."id" = s."userId"
                     WHERE s."token" = $1"#;

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.ends_with("better-auth.session_token"))
        .map(|(_, value)| value.split_once('.').map_or(value, |(token, _)| token))
}

async fn get_session(State(pool): State<PgPool>, headers: HeaderMap) -> Response {
    let Some(token) = session_token(&headers) else {
        return Json(Value::Null).into_response();
    };
    let row = match sqlx::query(SQL).bind(token).fetch_optional(&pool).await {
        Ok(Some(row)) => row,
        Ok(None) => return Json(Value::Null).into_response(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let date = |name: &str| row.get::<DateTime<Utc>, _>(name);
    let text = |name: &str| row.get::<Option<String>, _>(name);
    Json(json!({
        "session": {
            "id": text("id"), "expiresAt": date("expiresAt"), "token": text("token"),
            "createdAt": date("createdAt"), "updatedAt": date("updatedAt"),
            "ipAddress": text("ipAddress"), "userAgent": text("userAgent"), "userId": text("userId"),
        },
        "user": {
            "id": text("u_id"), "name": text("u_name"), "email": text("u_email"),
            "emailVerified": row.get::<bool, _>("u_email_verified"), "image": text("u_image"),
            "createdAt": date("u_created_at"), "updatedAt": date("u_updated_at"),
        },
    }))
    .into_response()
}

#[tokio::main]
async fn main() -> ExitCode {
    let (Some(listen), Ok(url)) = (std::env::args().nth(1), std::env::var("DATABASE_URL")) else {
        eprintln!("usage: DATABASE_URL=postgres://... get_session_floor HOST:PORT");
        return ExitCode::from(2);
    };
    // The origin's pool size for PostgreSQL.
    let pool = match PgPoolOptions::new().max_connections(16).connect(&url).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("get_session_floor: cannot connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = Router::new()
        .route("/api/auth/get-session", get(get_session))
        .with_state(pool);
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("get_session_floor: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("get_session_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
