//! Passkeys over HTTP, in-process: a software authenticator registers and signs in through
//! the endpoints, and each refusal the issue names has a test of its own. (The pages, with a
//! real browser's virtual authenticator, are tested in `tests/browser/passkeys.test.mjs`.)

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use chrono::Duration;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::app::test_app::app;
use crate::auth::passkey::webauthn::tests::{Authenticator, Ceremony, Key, ORIGIN};
use crate::auth::passkey::webauthn::FLAG_UP;
use crate::clock::ManualClock;

const TRUSTED: &str = "http://localhost:3000";
const PASSWORD: &str = "correct horse battery staple";

/// A client with a cookie jar.
struct Client {
    app: Router,
    cookies: HashMap<String, String>,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Client {
    fn new(app: &Router) -> Self {
        Client {
            app: app.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/api/auth{path}"))
            .header(header::ORIGIN, TRUSTED);
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, body: Value) -> Answer {
        self.send("POST", path, Some(body)).await
    }

    async fn signed_up(app: &Router, email: &str) -> Client {
        let mut client = Client::new(app);
        let answer = client
            .post(
                "/sign-up/email",
                json!({ "name": "Ada", "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        client
    }

    /// A registration challenge for this (signed-in) client.
    async fn register_challenge(&mut self) -> String {
        let options = self.get("/passkey/generate-register-options").await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        options.body["challenge"].as_str().unwrap().to_string()
    }

    /// An authentication challenge for this client (an allow-list when signed in).
    async fn sign_in_challenge(&mut self) -> String {
        let options = self.get("/passkey/generate-authenticate-options").await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        options.body["challenge"].as_str().unwrap().to_string()
    }

    /// Registers a new ES256 passkey for this client's user.
    async fn register(&mut self) -> Authenticator {
        let authenticator = Authenticator::new(Key::es256());
        let challenge = self.register_challenge().await;
        let response = authenticator.register(&Ceremony::create(&challenge));
        let answer = self
            .post(
                "/passkey/verify-registration",
                json!({ "response": response, "name": "Laptop" }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        authenticator
    }
}

fn passkeys_on() -> [&'static str; 6] {
    [
        "--passkey",
        "on",
        "--passkey-rp-id",
        "localhost",
        "--passkey-origins",
        ORIGIN,
    ]
}

async fn fixture() -> (Router, std::sync::Arc<ManualClock>, std::path::PathBuf) {
    let mut args = vec!["--rate-limit", "off"];
    args.extend(passkeys_on());
    app(&args).await
}

fn cleanup(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Signs in, from a new browser, with `response` built for a fresh challenge.
async fn sign_in_with(app: &Router, build: impl FnOnce(&str) -> Value) -> (Client, Answer) {
    let mut browser = Client::new(app);
    let challenge = browser.sign_in_challenge().await;
    let response = build(&challenge);
    let answer = browser
        .post(
            "/passkey/verify-authentication",
            json!({ "response": response }),
        )
        .await;
    (browser, answer)
}

fn assert_refused(answer: &Answer, browser: &Client) {
    assert!(
        answer.status.is_client_error(),
        "{}: {}",
        answer.status,
        answer.body
    );
    assert!(
        !browser.cookies.contains_key("better-auth.session_token"),
        "a refused passkey sign-in set a session"
    );
}

#[tokio::test]
async fn a_passkey_registers_and_signs_in_like_a_sign_in() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let options = ada.get("/passkey/generate-register-options").await;
    assert_eq!(
        options.body["authenticatorSelection"]["userVerification"],
        "required"
    );
    let me = ada.get("/get-session").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // One stable user handle: the user's id, on every registration.
    use base64ct::{Base64UrlUnpadded, Encoding};
    assert_eq!(
        options.body["user"]["id"],
        Base64UrlUnpadded::encode_string(me.as_bytes())
    );
    let again = ada.get("/passkey/generate-register-options").await;
    assert_eq!(again.body["user"]["id"], options.body["user"]["id"]);

    let mut authenticator = ada.register().await;
    let listed = ada.get("/passkey/list-user-passkeys").await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["name"], "Laptop");
    assert_eq!(listed[0]["deviceType"], "singleDevice");

    // Usernameless sign-in: the answer is a sign-in's, with no session row in it.
    authenticator.counter = 1;
    let (mut browser, answer) =
        sign_in_with(&app, |c| authenticator.assert(&Ceremony::get(c))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["user"]["email"], "ada@example.com");
    assert!(answer.body.get("session").is_none(), "{}", answer.body);
    let session = browser.get("/get-session").await.body;
    assert_eq!(session["user"]["id"], me.as_str());

    // With a session, the options carry an allow-list of the user's passkeys.
    let options = ada.get("/passkey/generate-authenticate-options").await.body;
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);

    // Rename and remove; a removed passkey no longer signs in.
    let id = listed[0]["id"].as_str().unwrap();
    let renamed = ada
        .post(
            "/passkey/update-passkey",
            json!({ "id": id, "name": "Work laptop" }),
        )
        .await;
    assert_eq!(renamed.body["passkey"]["name"], "Work laptop");
    let mut eve = Client::signed_up(&app, "eve@example.com").await;
    let stolen = eve
        .post("/passkey/delete-passkey", json!({ "id": id }))
        .await;
    assert_eq!(
        stolen.status,
        StatusCode::UNAUTHORIZED,
        "another user's passkey"
    );
    let removed = ada
        .post("/passkey/delete-passkey", json!({ "id": id }))
        .await;
    assert_eq!(removed.body, json!({ "status": true }));
    authenticator.counter = 2;
    let (browser, answer) = sign_in_with(&app, |c| authenticator.assert(&Ceremony::get(c))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_refused(&answer, &browser);
    cleanup(&path);
}

#[tokio::test]
async fn a_wrong_origin_is_refused_whatever_the_request_claims() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut authenticator = ada.register().await;
    authenticator.counter = 1;
    // The request itself comes from a trusted origin; the ceremony ran on another site.
    let (browser, answer) = sign_in_with(&app, |c| {
        let mut ceremony = Ceremony::get(c);
        ceremony.origin = "https://evil.example".into();
        authenticator.assert(&ceremony)
    })
    .await;
    assert_refused(&answer, &browser);
    // Registration too.
    let challenge = ada.register_challenge().await;
    let mut ceremony = Ceremony::create(&challenge);
    ceremony.origin = "http://localhost:9999".into();
    let other = Authenticator::new(Key::es256());
    let answer = ada
        .post(
            "/passkey/verify-registration",
            json!({ "response": other.register(&ceremony) }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    cleanup(&path);
}

#[tokio::test]
async fn a_wrong_rp_id_is_refused() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut authenticator = ada.register().await;
    authenticator.counter = 1;
    let (browser, answer) = sign_in_with(&app, |c| {
        let mut ceremony = Ceremony::get(c);
        ceremony.rp_id = "evil.example".into();
        authenticator.assert(&ceremony)
    })
    .await;
    assert_refused(&answer, &browser);
    cleanup(&path);
}

#[tokio::test]
async fn a_challenge_works_once_and_not_after_five_minutes() {
    let (app, clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut authenticator = ada.register().await;
    // Replayed: the same challenge (and cookie) after a sign-in used it.
    authenticator.counter = 1;
    let mut browser = Client::new(&app);
    let challenge = browser.sign_in_challenge().await;
    let cookie = browser.cookies.clone();
    let first = browser
        .post(
            "/passkey/verify-authentication",
            json!({ "response": authenticator.assert(&Ceremony::get(&challenge)) }),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    authenticator.counter = 2;
    let mut replay = Client::new(&app);
    replay.cookies = cookie;
    let again = replay
        .post(
            "/passkey/verify-authentication",
            json!({ "response": authenticator.assert(&Ceremony::get(&challenge)) }),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert_refused(&again, &replay);
    // A failed attempt also spends its challenge (Better Auth keeps it for a retry).
    let mut browser = Client::new(&app);
    let challenge = browser.sign_in_challenge().await;
    let tampered = {
        let mut r = authenticator.assert(&Ceremony::get(&challenge));
        r["response"]["signature"] = json!("AAAA");
        r
    };
    let failed = browser
        .post(
            "/passkey/verify-authentication",
            json!({ "response": tampered }),
        )
        .await;
    assert!(failed.status.is_client_error());
    let retry = browser
        .post(
            "/passkey/verify-authentication",
            json!({ "response": authenticator.assert(&Ceremony::get(&challenge)) }),
        )
        .await;
    assert_eq!(retry.status, StatusCode::BAD_REQUEST, "{}", retry.body);
    // Expired: five minutes and a second later, on the server's clock.
    let mut late = Client::new(&app);
    let challenge = late.sign_in_challenge().await;
    clock.advance(Duration::seconds(301));
    let answer = late
        .post(
            "/passkey/verify-authentication",
            json!({ "response": authenticator.assert(&Ceremony::get(&challenge)) }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_refused(&answer, &late);
    cleanup(&path);
}

#[tokio::test]
async fn a_challenge_issued_to_another_user_is_refused() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut eve = Client::signed_up(&app, "eve@example.com").await;
    // Ada's registration challenge, answered in Eve's session.
    let challenge = ada.register_challenge().await;
    eve.cookies.insert(
        "better-auth.better-auth-passkey".into(),
        ada.cookies["better-auth.better-auth-passkey"].clone(),
    );
    let authenticator = Authenticator::new(Key::es256());
    let answer = eve
        .post(
            "/passkey/verify-registration",
            json!({ "response": authenticator.register(&Ceremony::create(&challenge)) }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    // Eve's sign-in challenge (with her allow-list) does not sign Ada in.
    let mut ada_key = ada.register().await;
    ada_key.counter = 1;
    let challenge = eve.sign_in_challenge().await;
    let answer = eve
        .post(
            "/passkey/verify-authentication",
            json!({ "response": ada_key.assert(&Ceremony::get(&challenge)) }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    cleanup(&path);
}

#[tokio::test]
async fn user_verification_is_required() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let challenge = ada.register_challenge().await;
    let mut ceremony = Ceremony::create(&challenge);
    ceremony.flags = FLAG_UP;
    let answer = ada
        .post(
            "/passkey/verify-registration",
            json!({ "response": Authenticator::new(Key::es256()).register(&ceremony) }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let mut authenticator = ada.register().await;
    authenticator.counter = 1;
    let (browser, answer) = sign_in_with(&app, |c| {
        let mut ceremony = Ceremony::get(c);
        ceremony.flags = FLAG_UP;
        authenticator.assert(&ceremony)
    })
    .await;
    assert_refused(&answer, &browser);
    cleanup(&path);
}

#[tokio::test]
async fn a_counter_that_does_not_move_forward_is_refused() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut authenticator = ada.register().await;
    authenticator.counter = 5;
    let (_, first) = sign_in_with(&app, |c| authenticator.assert(&Ceremony::get(c))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    for cloned in [5, 3] {
        authenticator.counter = cloned;
        let (browser, answer) =
            sign_in_with(&app, |c| authenticator.assert(&Ceremony::get(c))).await;
        assert_refused(&answer, &browser);
    }
    authenticator.counter = 6;
    let (_, next) = sign_in_with(&app, |c| authenticator.assert(&Ceremony::get(c))).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    cleanup(&path);
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let (app, _clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut authenticator = ada.register().await;
    authenticator.counter = 1;
    let (browser, answer) = sign_in_with(&app, |c| {
        let mut response = authenticator.assert(&Ceremony::get(c));
        let signature = response["response"]["signature"]
            .as_str()
            .unwrap()
            .to_string();
        let mut bytes = signature.into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        response["response"]["signature"] = json!(String::from_utf8(bytes).unwrap());
        response
    })
    .await;
    assert_refused(&answer, &browser);
    cleanup(&path);
}

#[tokio::test]
async fn an_unknown_credential_is_refused() {
    let (app, _clock, path) = fixture().await;
    let stranger = Authenticator::new(Key::es256());
    let (browser, answer) = sign_in_with(&app, |c| stranger.assert(&Ceremony::get(c))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_refused(&answer, &browser);
    // Malformed and oversize responses: a clear 400, never a 500.
    for response in [
        json!("nope"),
        json!({}),
        json!({ "id": "x".repeat(70_000) }),
    ] {
        let (browser, answer) = sign_in_with(&app, |_| response.clone()).await;
        assert!(answer.status.is_client_error(), "{}", answer.status);
        assert_refused(&answer, &browser);
    }
    cleanup(&path);
}

#[tokio::test]
async fn registration_needs_a_fresh_session() {
    let (app, clock, path) = fixture().await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    clock.advance(Duration::days(2));
    let options = ada.get("/passkey/generate-register-options").await;
    assert_eq!(options.status, StatusCode::FORBIDDEN, "{}", options.body);
    assert_eq!(options.body["code"], "SESSION_IS_NOT_FRESH");
    cleanup(&path);
}

/// A user-verifying passkey is two factors: a user with two-factor on, asked for a code
/// after the password, is signed in by the passkey alone.
#[tokio::test]
async fn a_passkey_counts_as_both_factors() {
    let mut args = vec!["--rate-limit", "off", "--two-factor", "on"];
    args.extend(passkeys_on());
    let (app, _clock, path) = app(&args).await;
    let mut ada = Client::signed_up(&app, "ada@example.com").await;
    let mut authenticator = ada.register().await;
    let url = format!("sqlite://{}", path.display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(r#"UPDATE "user" SET "twoFactorEnabled" = 1"#)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let mut with_password = Client::new(&app);
    let answer = with_password
        .post(
            "/sign-in/email",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(answer.body, json!({ "twoFactorRedirect": true }));
    authenticator.counter = 1;
    let (mut browser, answer) =
        sign_in_with(&app, |c| authenticator.assert(&Ceremony::get(c))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["user"]["twoFactorEnabled"], true);
    let session = browser.get("/get-session").await.body;
    assert_eq!(session["user"]["email"], "ada@example.com");
    cleanup(&path);
}
