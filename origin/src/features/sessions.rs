//! `GET /get-session`, `GET /list-sessions`, `POST /revoke-session`, `POST /revoke-sessions`,
//! `POST /revoke-other-sessions`.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::http::cookies::CookieHeaders;
use crate::http::error::ApiError;
use crate::http::extract::body::{required_str, RawBody};
use crate::http::extract::session::{CurrentSession, Lookup, MaybeSession};
use crate::keys;

/// Session reading, listing and revocation.
pub const FEATURE: Feature = Feature {
    name: "sessions",
    routes,
    origin_checked: true,
    rate_limits: &[],
};

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&GET_SESSION, get(get_session))
        .route(&LIST_SESSIONS, get(list_sessions))
        .route(&REVOKE_SESSION, post(revoke_session))
        .route(&REVOKE_SESSIONS, post(revoke_sessions))
        .route(&REVOKE_OTHER_SESSIONS, post(revoke_other_sessions))
}

static GET_SESSION: Endpoint = Endpoint {
    description: "Slides the expiry once a day of the session's lifetime has passed (and sets \
                  the cookie again); every answer with a session carries a JWT in `set-auth-jwt`.",
    query: &[
        Field::optional(
            "disableRefresh",
            Type::Boolean,
            "true: never extend the session",
        ),
        Field::optional(
            "disableCookieCache",
            Type::Boolean,
            "Accepted; no effect (there is no cookie cache)",
        ),
    ],
    ..Endpoint::new(
        Method::Get,
        "/get-session",
        "The caller's session and user",
        Caller::MaybeSession,
        &[Reply::ok(
            "The session and its user, or `null` without a live session",
            Shape::NamedOrNull("SessionWithUser"),
        )],
    )
};

static LIST_SESSIONS: Endpoint = Endpoint::new(
    Method::Get,
    "/list-sessions",
    "The caller's live sessions",
    Caller::Session,
    &[
        Reply::ok("The sessions", Shape::ListOf("Session")),
        NO_SESSION,
    ],
);

static REVOKE_SESSION: Endpoint = Endpoint {
    description: "A token that is not one of the caller's is ignored.",
    body: Some(&[Field::required(
        "token",
        Type::String,
        "The session's token",
    )]),
    ..Endpoint::new(
        Method::Post,
        "/revoke-session",
        "End one of the caller's sessions",
        Caller::Session,
        &[
            Reply::ok("Done", Shape::Named("Status")),
            INVALID_INPUT,
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static REVOKE_SESSIONS: Endpoint = Endpoint::new(
    Method::Post,
    "/revoke-sessions",
    "End every session of the caller, this one included",
    Caller::Session,
    &[
        Reply::ok("Done; the cookies are cleared", Shape::Named("Status")),
        NO_SESSION,
        UNTRUSTED_ORIGIN,
    ],
);

static REVOKE_OTHER_SESSIONS: Endpoint = Endpoint::new(
    Method::Post,
    "/revoke-other-sessions",
    "End every session of the caller but this one",
    Caller::Session,
    &[
        Reply::ok("Done", Shape::Named("Status")),
        NO_SESSION,
        UNTRUSTED_ORIGIN,
    ],
);

/// `get-session`'s query flags (coerced booleans, as Better Auth reads them). Better Auth's
/// `disableCookieCache` needs no field: edgeauth has no cookie cache.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetSessionQuery {
    disable_refresh: Option<String>,
}

fn flag(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("true" | "1" | ""))
}

/// `GET /get-session`: `{session, user}` or JSON `null` (status 200).
///
/// Sliding expiry as Better Auth does it: once a day of the session's 7-day lifetime has
/// passed (`expiresAt - expiresIn + updateAge <= now`), the row's `expiresAt` moves to
/// `now + expiresIn` and the cookie is set again. `?disableRefresh=true` and sessions created
/// with `rememberMe: false` are never extended. `disableCookieCache` is accepted and has no
/// effect: edgeauth has no cookie cache, every call reads the session row. The JWT in
/// `set-auth-jwt` is reused for the same session while it has most of its lifetime left
/// ([`keys::minted`]).
pub async fn get_session(
    State(state): State<AppState>,
    MaybeSession(session_lookup): MaybeSession,
    Query(query): Query<GetSessionQuery>,
) -> Result<Response, ApiError> {
    let now = state.now();
    let current = match session_lookup {
        Lookup::Anonymous => return Ok(Json(Value::Null).into_response()),
        Lookup::Ended => return Ok(CookieHeaders::clear(&state).apply(Json(Value::Null))),
        Lookup::Live(current) => *current,
    };
    let mut found = current.found;
    let config = state.config();
    let refresh_due = found.session.expires_at - Duration::seconds(config.session_expires_in)
        + Duration::seconds(config.session_update_age)
        <= now;
    let cookies = if refresh_due && !flag(&query.disable_refresh) && !current.dont_remember {
        let expires_at = now + Duration::seconds(config.session_expires_in);
        state
            .db()
            .extend_session(&found.session.token, expires_at, now)
            .await?;
        found.session.expires_at = expires_at;
        found.session.updated_at = now;
        CookieHeaders::session(&state, &found.session.token, expires_at, now, false)?
    } else {
        CookieHeaders::default()
    };
    let jwt = keys::mint_reusable(state.keys(), state.jwt_issuer(), &found, now).await?;
    Ok(cookies.with_jwt(jwt).apply(Json(json!(found))))
}

/// `GET /list-sessions`: the caller's unexpired sessions.
pub async fn list_sessions(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
) -> Result<Response, ApiError> {
    let now = state.now();
    let sessions: Vec<_> = state
        .db()
        .list_sessions(&current.found.user.id)
        .await?
        .into_iter()
        .filter(|s| s.expires_at > now)
        .collect();
    Ok(Json(json!(sessions)).into_response())
}

/// `POST /revoke-session {token}`: ends one of the caller's sessions (a token that is not
/// the caller's is silently ignored, as Better Auth does).
pub async fn revoke_session(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let token = required_str(&body, "token")?;
    let revoked_own = state
        .db()
        .delete_user_session(&current.found.user.id, token)
        .await?
        && token == current.found.session.token;
    let response = Json(json!({ "status": true }));
    Ok(if revoked_own {
        CookieHeaders::clear(&state).apply(response)
    } else {
        response.into_response()
    })
}

/// `POST /revoke-sessions`: ends all of the caller's sessions and clears the caller's
/// cookies (Better Auth 1.7's behaviour; 1.4 left the dead cookie in place).
pub async fn revoke_sessions(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
) -> Result<Response, ApiError> {
    state
        .db()
        .delete_user_sessions(&current.found.user.id, None)
        .await?;
    Ok(CookieHeaders::clear(&state).apply(Json(json!({ "status": true }))))
}

/// `POST /revoke-other-sessions`: ends every session of the caller but this one.
pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
) -> Result<Response, ApiError> {
    state
        .db()
        .delete_user_sessions(&current.found.user.id, Some(&current.found.session.token))
        .await?;
    Ok(Json(json!({ "status": true })).into_response())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request};
    use axum::Router;
    use chrono::Duration;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::app::test_app::app;

    const ORIGIN: &str = "http://localhost:3000";

    /// Sends a request with the session cookie; answers the `set-auth-jwt` header and body.
    async fn call(
        app: &Router,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<Value>,
    ) -> (Option<String>, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/auth{path}"))
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, cookie);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let jwt = response
            .headers()
            .get("set-auth-jwt")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (jwt, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn claim(jwt: &str, name: &str) -> Value {
        use base64ct::{Base64UrlUnpadded, Encoding};
        let payload = jwt.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap();
        claims[name].clone()
    }

    /// get-session hands out the JWT minted for the session again (the edge's lookups and
    /// polling pages no longer cost a signature each), but never a stale one: a renamed user
    /// or a token past a quarter of its lifetime gets a new JWT.
    #[tokio::test]
    async fn get_session_reuses_its_jwt_until_the_user_changes_or_time_passes() {
        let (app, clock, _path) = app(&["--rate-limit", "off"]).await;
        let sign_up = Request::builder()
            .method("POST")
            .uri("/api/auth/sign-up/email")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"name":"Ada","email":"ada@example.com","password":"correct horse battery staple"})
                    .to_string(),
            ))
            .unwrap();
        let response = app.clone().oneshot(sign_up).await.unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .find(|pair| pair.contains("session_token="))
            .unwrap();

        let (first, body) = call(&app, "GET", "/get-session", &cookie, None).await;
        let first = first.expect("set-auth-jwt");
        assert_eq!(body["user"]["name"], "Ada");
        clock.advance(Duration::seconds(60));
        let (again, _) = call(&app, "GET", "/get-session", &cookie, None).await;
        assert_eq!(
            again.as_deref(),
            Some(first.as_str()),
            "the same JWT, a minute later"
        );

        let (_, updated) = call(
            &app,
            "POST",
            "/update-user",
            &cookie,
            Some(json!({"name":"Grace"})),
        )
        .await;
        assert_eq!(updated["status"], true);
        let (renamed, _) = call(&app, "GET", "/get-session", &cookie, None).await;
        let renamed = renamed.expect("set-auth-jwt");
        assert_ne!(renamed, first);
        assert_eq!(claim(&renamed, "name"), "Grace");

        // Past a quarter of the 15-minute lifetime, a fresh token with the current iat.
        clock.advance(Duration::seconds(240));
        let (fresh, _) = call(&app, "GET", "/get-session", &cookie, None).await;
        let fresh = fresh.expect("set-auth-jwt");
        assert_ne!(fresh, renamed);
        assert_eq!(
            claim(&fresh, "iat").as_i64(),
            Some(crate::clock::Clock::now(&*clock).timestamp())
        );
    }
}
