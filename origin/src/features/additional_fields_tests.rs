//! `user.additionalFields` through the HTTP API, in-process on SQLite: start-up's column
//! check, sign-up, sign-in, get-session, update-user and the JWT's claims, with Better Auth
//! 1.4.22's refusals.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::app::test_app::state_at;

const ORIGIN: &str = "http://localhost:3000";
const PASSWORD: &str = "correct horse battery staple";

/// On `user`: `plan` (input, default), `role` (input: false, default), `credits` (a required
/// number), `secret` (returned: false), `born` (a date). On `session`: defaults of each type,
/// a hidden one, one without a default.
const SCHEMA: &str = r#"{"user": {"additionalFields": {
    "plan": {"type": "string", "required": false, "defaultValue": "free", "input": true},
    "role": {"type": "string", "input": false, "defaultValue": "member"},
    "credits": {"type": "number", "required": true},
    "secret": {"type": "string", "required": false, "returned": false},
    "born": {"type": "date", "required": false}
}}, "session": {"additionalFields": {
    "device": {"type": "string", "defaultValue": "it's web"},
    "trusted": {"type": "boolean", "defaultValue": false},
    "score": {"type": "number", "defaultValue": 1.5},
    "hidden": {"type": "string", "defaultValue": "h", "returned": false},
    "note": {"type": "string"}
}}}"#;

fn temp_db() -> (std::path::PathBuf, String) {
    let path = std::env::temp_dir().join(format!(
        "edgeauth-fields-{}-{}.db",
        std::process::id(),
        crate::ids::random_string(8)
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    (path, url)
}

/// Better Auth's tables (edgeauth's migrations), plus the given `ALTER TABLE "user"`
/// statements.
async fn database(url: &str, alters: &[&str]) -> sqlx::SqlitePool {
    crate::db::Db::connect(Some(url))
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    for alter in alters {
        sqlx::query(alter).execute(&pool).await.unwrap();
    }
    pool
}

struct Answer {
    status: StatusCode,
    body: Value,
    jwt: Option<String>,
    cookie: Option<String>,
}

async fn send(app: &Router, method: &str, path: &str, cookie: &str, body: Option<Value>) -> Answer {
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
    let status = response.status();
    let jwt = response
        .headers()
        .get("set-auth-jwt")
        .map(|v| v.to_str().unwrap().to_string());
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|pair| pair.contains("session_token=") && !pair.ends_with('='));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        jwt,
        cookie,
    }
}

fn claims(jwt: &str) -> Value {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap()
}

/// A declared field whose column is missing stops start-up with the doctor's report and
/// its fix; an invalid declaration stops it naming the field.
#[tokio::test]
async fn start_up_refuses_a_missing_column_or_a_bad_declaration() {
    let (path, url) = temp_db();
    database(&url, &[]).await;
    let error = state_at(&path, &["--schema", SCHEMA]).await.err().unwrap();
    let message = format!("{error:#}");
    assert!(
        message.contains(r#"ALTER TABLE "user" ADD COLUMN "plan" text"#),
        "{message}"
    );
    assert!(
        message.contains(r#"ALTER TABLE "user" ADD COLUMN "credits" integer"#),
        "{message}"
    );
    assert!(
        message.contains(r#"ALTER TABLE "session" ADD COLUMN "trusted" boolean"#),
        "{message}"
    );
    let error = state_at(
        &path,
        &[
            "--schema",
            r#"{"user": {"additionalFields": {"plan": {"type": "string[][]"}}}}"#,
        ],
    )
    .await
    .err()
    .unwrap();
    assert!(
        format!("{error:#}").contains("EDGEAUTH_SCHEMA.user.additionalFields.plan.type"),
        "{error:#}"
    );
    let error = state_at(
        &path,
        &[
            "--schema",
            r#"{"session": {"additionalFields": {"device": {"type": "string", "required": true}}}}"#,
        ],
    )
    .await
    .err()
    .unwrap();
    assert!(
        format!("{error:#}").contains(
            "EDGEAUTH_SCHEMA.session.additionalFields.device: required without a defaultValue"
        ),
        "{error:#}"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn additional_fields_are_written_returned_and_checked_as_better_auth_does() {
    let (path, url) = temp_db();
    let pool = database(
        &url,
        &[
            r#"ALTER TABLE "user" ADD COLUMN "plan" text"#,
            r#"ALTER TABLE "user" ADD COLUMN "role" text"#,
            r#"ALTER TABLE "user" ADD COLUMN "credits" integer"#,
            r#"ALTER TABLE "user" ADD COLUMN "secret" text"#,
            r#"ALTER TABLE "user" ADD COLUMN "born" date"#,
            r#"ALTER TABLE "session" ADD COLUMN "device" text"#,
            r#"ALTER TABLE "session" ADD COLUMN "trusted" boolean"#,
            r#"ALTER TABLE "session" ADD COLUMN "score" real"#,
            r#"ALTER TABLE "session" ADD COLUMN "hidden" text"#,
            r#"ALTER TABLE "session" ADD COLUMN "note" text"#,
        ],
    )
    .await;
    let (state, _clock) = state_at(&path, &["--rate-limit", "off", "--schema", SCHEMA])
        .await
        .unwrap();
    let app = crate::app::router(state);
    let sign_up = |body: Value| {
        let app = app.clone();
        async move { send(&app, "POST", "/sign-up/email", "", Some(body)).await }
    };

    // Refusals, as Better Auth 1.4.22 answers them.
    let base = json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD});
    let with = |extra: Value| {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let missing = sign_up(base.clone()).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body,
        json!({"code": "CREDITS_IS_REQUIRED", "message": "credits is required"})
    );
    let wrong = sign_up(with(json!({"credits": 1, "plan": 5}))).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["code"], "FAILED_TO_CREATE_USER");

    // Sign-up: input values written, `role` (input: false) takes its default whatever was
    // sent, `secret` written but never returned.
    let created = sign_up(with(json!({
        "credits": 5, "plan": "pro", "role": "admin", "secret": "s3",
        "born": "1815-12-10T00:00:00.000Z"
    })))
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let user = &created.body["user"];
    assert_eq!(user["plan"], "pro");
    assert_eq!(user["role"], "member");
    assert_eq!(user["credits"], 5);
    assert_eq!(user["born"], "1815-12-10T00:00:00.000Z");
    assert!(user.get("secret").is_none(), "{user}");
    let (secret,): (Option<String>,) = sqlx::query_as(r#"SELECT "secret" FROM "user""#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(secret.as_deref(), Some("s3"));
    let cookie = created.cookie.unwrap();

    // get-session and its JWT carry the returned fields.
    let session = send(&app, "GET", "/get-session", &cookie, None).await;
    assert_eq!(session.body["user"]["plan"], "pro");
    assert_eq!(session.body["user"]["credits"], 5);
    assert!(session.body["user"].get("secret").is_none());
    // The session's fields: their defaults, the hidden one written but not shown.
    let expected = json!({"device": "it's web", "trusted": false, "score": 1.5, "note": null});
    for field in ["device", "trusted", "score", "note"] {
        assert_eq!(
            session.body["session"][field], expected[field],
            "{}",
            session.body
        );
    }
    assert!(session.body["session"].get("hidden").is_none());
    let listed = send(&app, "GET", "/list-sessions", &cookie, None).await;
    assert_eq!(listed.body[0]["device"], "it's web", "{}", listed.body);
    let (hidden,): (Option<String>,) = sqlx::query_as(r#"SELECT "hidden" FROM "session""#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(hidden.as_deref(), Some("h"));
    let jwt = claims(&session.jwt.unwrap());
    assert_eq!(jwt["plan"], "pro");
    assert_eq!(jwt["role"], "member");
    assert!(jwt.get("secret").is_none());

    // update-user: input fields only.
    let refused = send(
        &app,
        "POST",
        "/update-user",
        &cookie,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.body,
        json!({"code": "ROLE_IS_NOT_ALLOWED_TO_BE_SET", "message": "role is not allowed to be set"})
    );
    let refused = send(
        &app,
        "POST",
        "/update-user",
        &cookie,
        Some(json!({"credits": "lots"})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["code"], "VALIDATION_ERROR");
    let updated = send(
        &app,
        "POST",
        "/update-user",
        &cookie,
        Some(json!({"plan": "team", "credits": 2.5})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let session = send(&app, "GET", "/get-session", &cookie, None).await;
    assert_eq!(session.body["user"]["plan"], "team");
    assert_eq!(session.body["user"]["credits"], 2.5);
    assert_eq!(session.body["user"]["role"], "member");
    assert_eq!(claims(&session.jwt.unwrap())["plan"], "team");

    // Sign-in's answer and /token.
    let signed_in = send(
        &app,
        "POST",
        "/sign-in/email",
        "",
        Some(json!({"email": "ada@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(signed_in.body["user"]["plan"], "team");
    let token = send(&app, "GET", "/token", &cookie, None).await;
    assert_eq!(
        claims(token.body["token"].as_str().unwrap())["plan"],
        "team"
    );
    let _ = std::fs::remove_file(path);
}

/// `json`, `string[]` and `number[]` fields on SQLite (JSON text, as Better Auth stores them
/// there): written on sign-up and update-user, answered as JSON in get-session and the JWT,
/// a session field's JSON default in every session; an array of the wrong items refused.
#[tokio::test]
async fn json_and_array_fields_round_trip_on_sqlite() {
    let (path, url) = temp_db();
    let pool = database(
        &url,
        &[
            r#"ALTER TABLE "user" ADD COLUMN "tags" text"#,
            r#"ALTER TABLE "user" ADD COLUMN "scores" text"#,
            r#"ALTER TABLE "user" ADD COLUMN "prefs" text"#,
            r#"ALTER TABLE "session" ADD COLUMN "context" text"#,
        ],
    )
    .await;
    let schema = r#"{"user": {"additionalFields": {
        "tags": {"type": "string[]", "required": false},
        "scores": {"type": "number[]", "required": false},
        "prefs": {"type": "json", "required": false, "defaultValue": {"theme": "dark"}}
    }}, "session": {"additionalFields": {
        "context": {"type": "json", "defaultValue": {"via": "it's web"}}
    }}}"#;
    let (state, _clock) = state_at(&path, &["--rate-limit", "off", "--schema", schema])
        .await
        .unwrap();
    let app = crate::app::router(state);
    let created = send(
        &app,
        "POST",
        "/sign-up/email",
        "",
        Some(
            json!({"name": "Ada", "email": "ada@example.com", "password": PASSWORD,
                    "tags": ["a", "b"], "scores": [1, 2.5]}),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let cookie = created.cookie.unwrap();
    let session = send(&app, "GET", "/get-session", &cookie, None).await;
    assert_eq!(session.body["user"]["tags"], json!(["a", "b"]));
    assert_eq!(session.body["user"]["scores"], json!([1, 2.5]));
    assert_eq!(session.body["user"]["prefs"], json!({"theme": "dark"}));
    assert_eq!(
        session.body["session"]["context"],
        json!({"via": "it's web"})
    );
    let stored: String = sqlx::query_scalar(r#"SELECT "tags" FROM "user""#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, r#"["a","b"]"#);

    let refused = send(
        &app,
        "POST",
        "/update-user",
        &cookie,
        Some(json!({"scores": ["1"]})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["code"], "VALIDATION_ERROR", "{}", refused.body);
    let updated = send(
        &app,
        "POST",
        "/update-user",
        &cookie,
        Some(json!({"tags": [], "prefs": {"theme": "light", "nested": [null]}})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let token = send(&app, "GET", "/token", &cookie, None).await;
    let claims = claims(token.body["token"].as_str().unwrap());
    assert_eq!(claims["tags"], json!([]));
    assert_eq!(claims["prefs"], json!({"theme": "light", "nested": [null]}));
    pool.close().await;
    let _ = std::fs::remove_file(&path);
}
