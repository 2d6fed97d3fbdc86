//! The session liveness check the edge worker asks (`GET /api/auth/edge/session/{sid}`),
//! answered only to requests carrying the edge's proof ([`crate::http::edge_proof`]);
//! without it, the endpoint answers as an unknown route would.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Json;
use serde_json::json;

use super::endpoint::{self, ApiRoutes, Caller, Endpoint, Field, Reply, Shape, Type};
use super::Feature;
use crate::app::AppState;
use crate::http::edge_proof::has_proof;
use crate::http::error::ApiError;

/// The edge's side of the origin: the liveness endpoint, only with `EDGEAUTH_EDGE_SECRET`.
pub const FEATURE: Feature = Feature {
    name: "edge",
    routes,
    // Outside the origin check, so that without the proof it answers every method exactly
    // as an unknown route does.
    origin_checked: false,
    rate_limits: &[],
};

fn routes(state: &AppState) -> ApiRoutes {
    if state.config().edge_secret.is_some() {
        ApiRoutes::new().route(&SESSION_LIVENESS, any(session_liveness))
    } else {
        ApiRoutes::new()
    }
}

/// Hidden from the published document: without the edge's proof the endpoint answers as an
/// unknown route, so that it reveals nothing, not even that it exists. (`any`: every other
/// method gets that 404 too, [`session_liveness`].)
static SESSION_LIVENESS: Endpoint = Endpoint {
    hidden: true,
    ..Endpoint::new(
        endpoint::Method::Get,
        SESSION_ROUTE,
        "Whether a session is live (for the edge worker, with its proof)",
        Caller::Anyone,
        &[
            Reply::ok(
                "Live",
                Shape::Object(&[
                    Field::required("active", Type::Boolean, "true"),
                    Field::required("userId", Type::String, "The session's user"),
                    Field::required("expiresAt", Type::String, "The session's expiry"),
                ]),
            ),
            Reply {
                status: 404,
                description: "Not live (`{\"active\": false}`), or no proof",
                body: Shape::Empty,
            },
        ],
    )
};

/// The liveness endpoint's route, under `/api/auth` (the wire contract's
/// [`edgeauth_token::wire::SESSION_LIVENESS_PREFIX`] and the session id).
pub const SESSION_ROUTE: &str = "/edge/session/{sid}";

/// `GET /api/auth/edge/session/{sid}` (registered only with `EDGEAUTH_EDGE_SECRET` set):
/// whether the session with id `sid` (the id, not the token) is live now.
///
/// With the proof: 200 `{"active": true, "userId", "expiresAt"}` for an existing, unexpired
/// session; 404 `{"active": false}` otherwise. Both `Cache-Control: no-store`. Without the
/// proof, or with any method but GET and HEAD: the empty 404 of an unknown route, so the
/// endpoint reveals nothing, not even that it exists.
pub async fn session_liveness(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Result<Response, ApiError> {
    if !matches!(method, Method::GET | Method::HEAD)
        || !has_proof(&headers, state.config().edge_secret.as_deref())
    {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let now = state.now();
    let live = state
        .db()
        .find_session_by_id(&sid)
        .await?
        .filter(|s| s.expires_at > now);
    let mut response = match live {
        Some(session) => {
            // The row's own serialisation: `expiresAt` as JavaScript's `Date#toJSON`.
            let row = json!(session);
            Json(json!({
                "active": true,
                "userId": row["userId"],
                "expiresAt": row["expiresAt"],
            }))
            .into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({ "active": false }))).into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
