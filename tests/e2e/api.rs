//! Better Auth's HTTP API on the real `edgeauth` binary, over real HTTP, against both
//! databases: each scenario is a test on the embedded SQLite and one on a throwaway
//! PostgreSQL database, each with an origin of its own (`api::<scenario>::on_sqlite`,
//! `api::<scenario>::on_postgres`).

use edgeauth_tests::fixtures::{
    browser, email, expect, fetch_keys, now, sqlite_url, start_origin, BASE_URL, PASSWORD, SECRET,
};
use edgeauth_tests::{AuthClient, Origin, Postgres, Reply};
use edgeauth_token::{cookie, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An origin for one scenario: the real binary on a database of its own.
struct ApiOrigin {
    origin: Origin,
    /// The origin's `DATABASE_URL`, for scenarios that check what was stored.
    database: String,
    /// Dropped after the origin (fields drop in order).
    _pg: Option<Postgres>,
}

/// A browser signed up on the origin before the scenario runs, whose session must not show
/// in the log.
struct Watched {
    client: AuthClient,
    token: String,
}

impl ApiOrigin {
    /// On a fresh SQLite database named after the scenario.
    fn on_sqlite(scenario: &str) -> ApiOrigin {
        let database = sqlite_url(&format!("api-{scenario}"));
        ApiOrigin {
            origin: start_origin(&database),
            database,
            _pg: None,
        }
    }

    /// On a fresh database of the test process's shared PostgreSQL cluster.
    async fn on_postgres() -> ApiOrigin {
        let pg = Postgres::start_shared().await.unwrap();
        ApiOrigin {
            origin: start_origin(&pg.url()),
            database: pg.url(),
            _pg: Some(pg),
        }
    }

    fn url(&self) -> &str {
        &self.origin.url
    }

    fn database(&self) -> &str {
        &self.database
    }

    /// Signs a watched browser up, runs `scenario`, then checks the log: nothing secret
    /// reached it: not a password, not a session token or cookie, not the secret; but the
    /// requests did, with their ids.
    async fn run(&self, scenario: impl std::future::Future<Output = ()>) {
        let watched = self.watch().await;
        scenario.await;
        let log = self.origin.process.log();
        assert!(log.contains("sign-up") && log.contains("request"), "{log}");
        let cookie_value = watched.client.cookies["better-auth.session_token"].clone();
        for secret in [
            PASSWORD,
            watched.token.as_str(),
            cookie_value.as_str(),
            SECRET,
        ] {
            assert!(!log.contains(secret), "the log contains {secret:?}");
        }
    }

    async fn watch(&self) -> Watched {
        let mut client = browser(self.url());
        let token = client
            .sign_up("Log", &email("log"), PASSWORD)
            .await
            .unwrap()
            .json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            client.get("/api/auth/get-session").await.unwrap().status,
            200
        );
        Watched { client, token }
    }
}

/// Each scenario as two tests, `api::<scenario>::on_sqlite` and `api::<scenario>::on_postgres`,
/// each with an origin of its own (see [`ApiOrigin::run`]). A scenario is called with the
/// origin's URL, and also with its `DATABASE_URL` when listed as `scenario(database)`.
macro_rules! on_both_databases {
    ($($scenario:ident $(($database:ident))?),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                let api = super::ApiOrigin::on_sqlite(stringify!($scenario));
                api.run(super::$scenario(api.url() $(, api.$database())?)).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let api = super::ApiOrigin::on_postgres().await;
                api.run(super::$scenario(api.url() $(, api.$database())?)).await;
            }
        }
    )+};
}

on_both_databases!(
    sign_up_sets_better_auth_cookies,
    sign_up_refusals,
    sign_in_and_refusals,
    get_session_and_bearer,
    session_listing_and_revocation,
    sign_out_ends_the_session,
    update_user,
    change_password,
    jwt_plugin,
    malformed_requests,
    csrf_origin_checks,
    every_endpoint_refuses_bad_bodies,
    concurrent_duplicate_revocations,
    concurrent_duplicate_sign_ups,
    nul_characters_are_refused,
    long_inputs_are_refused(database),
    concurrent_password_changes,
);

/// The session cookie: `better-auth.session_token=<token>.<base64 HMAC>` percent-encoded,
/// with Better Auth's attributes in its order, and `set-auth-token` carrying the same value.
async fn sign_up_sets_better_auth_cookies(url: &str) {
    let mut client = browser(url);
    let address = email("signup");
    let reply = client
        .sign_up("Ada Lovelace", &address, PASSWORD)
        .await
        .unwrap();
    expect(&reply, 200, None);
    let body = reply.json();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    let user = &body["user"];
    assert_eq!(user["email"], address.to_lowercase());
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["image"], Value::Null);
    assert_eq!(user["id"].as_str().unwrap().len(), 32);
    let created = user["createdAt"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "JS Date#toJSON format: {created}"
    );

    let expected_value = cookie::sign_value(SECRET.as_bytes(), &token).unwrap();
    assert_eq!(
        reply.set_cookie("better-auth.session_token").unwrap(),
        format!("better-auth.session_token={expected_value}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax")
    );
    assert_eq!(reply.header("set-auth-token").unwrap(), expected_value);
    assert_eq!(
        reply.header("access-control-expose-headers").unwrap(),
        "set-auth-token"
    );
    // The cookie is what Better Auth's own verification accepts.
    assert_eq!(
        cookie::verify_signed_value(SECRET.as_bytes(), &expected_value).unwrap(),
        token
    );

    // rememberMe: false: a browser-session cookie plus a signed dont_remember marker.
    let mut forgetful = browser(url);
    let reply = forgetful
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "F", "email": email("forget"), "password": PASSWORD, "rememberMe": false}),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    let session_cookie = reply.set_cookie("better-auth.session_token").unwrap();
    assert!(!session_cookie.contains("Max-Age"), "{session_cookie}");
    let marker = cookie::sign_value(SECRET.as_bytes(), "true").unwrap();
    assert_eq!(
        reply.set_cookie("better-auth.dont_remember").unwrap(),
        format!("better-auth.dont_remember={marker}; Path=/; HttpOnly; SameSite=Lax")
    );

    // Form-encoded sign-up, as a plain HTML form posts it.
    let mut form = browser(url);
    let body = format!(
        "name=Form+User&email={}&password=correct+horse+battery+staple",
        email("form")
    );
    let reply = form
        .send(
            Method::POST,
            "/api/auth/sign-up/email",
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
            &[],
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json()["user"]["name"], "Form User");
}

async fn sign_up_refusals(url: &str) {
    let mut client = browser(url);
    let address = email("dup");
    expect(
        &client.sign_up("A", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    // Same address in another case: still the same user.
    let reply = client
        .sign_up("B", &address.to_uppercase(), PASSWORD)
        .await
        .unwrap();
    expect(&reply, 422, Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"));
    assert_eq!(
        reply.json()["message"],
        "User already exists. Use another email."
    );

    let reply = client.sign_up("A", "not-an-email", PASSWORD).await.unwrap();
    expect(&reply, 400, Some("VALIDATION_ERROR"));
    assert_eq!(
        reply.json()["message"],
        "[body.email] Invalid email address"
    );
    expect(
        &client.sign_up("A", &email("short"), "short").await.unwrap(),
        400,
        Some("PASSWORD_TOO_SHORT"),
    );
    expect(
        &client
            .sign_up("A", &email("long"), &"x".repeat(129))
            .await
            .unwrap(),
        400,
        Some("PASSWORD_TOO_LONG"),
    );
    let reply = client
        .sign_up("A", &email("common"), "password123")
        .await
        .unwrap();
    expect(&reply, 400, Some("PASSWORD_COMPROMISED"));
    // 128 characters is allowed; length is counted as JavaScript does (UTF-16 units).
    expect(
        &client
            .sign_up("A", &email("max"), &"é".repeat(128))
            .await
            .unwrap(),
        200,
        None,
    );
    expect(
        &client
            .sign_up("A", &email("astral"), &"😀".repeat(65))
            .await
            .unwrap(),
        400,
        Some("PASSWORD_TOO_LONG"),
    );
    // Untrusted callbackURL.
    let reply = client
        .post(
            "/api/auth/sign-up/email",
            &json!({"name":"A","email":email("cb"),"password":PASSWORD,"callbackURL":"https://evil.example/"}),
        )
        .await
        .unwrap();
    expect(&reply, 403, Some("INVALID_CALLBACKURL"));
}

async fn sign_in_and_refusals(url: &str) {
    let mut client = browser(url);
    let address = email("signin");
    expect(
        &client.sign_up("S", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );

    let mut fresh = browser(url);
    let reply = fresh
        .sign_in(&address.to_uppercase(), PASSWORD)
        .await
        .unwrap();
    expect(&reply, 200, None);
    let body = reply.json();
    assert_eq!(body["redirect"], false);
    assert_eq!(body["user"]["email"], address);
    assert!(fresh.cookies.contains_key("better-auth.session_token"));

    // Wrong password and unknown address: the same status and body.
    let wrong = fresh
        .sign_in(&address, "not the password at all")
        .await
        .unwrap();
    let unknown = fresh.sign_in(&email("nobody"), PASSWORD).await.unwrap();
    expect(&wrong, 401, Some("INVALID_EMAIL_OR_PASSWORD"));
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.status, unknown.status);
    assert!(wrong.set_cookies().is_empty());

    expect(
        &fresh.sign_in("nope", PASSWORD).await.unwrap(),
        400,
        Some("INVALID_EMAIL"),
    );

    // A trusted callbackURL: redirect true, url and Location; an untrusted one: 403.
    let reply = fresh
        .post(
            "/api/auth/sign-in/email",
            &json!({"email": address, "password": PASSWORD, "callbackURL": "http://app.localhost:5173/home"}),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json()["redirect"], true);
    assert_eq!(reply.json()["url"], "http://app.localhost:5173/home");
    assert_eq!(
        reply.header("location").unwrap(),
        "http://app.localhost:5173/home"
    );
    for evil in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "https:evil.example",
    ] {
        let reply = fresh
            .post(
                "/api/auth/sign-in/email",
                &json!({"email": address, "password": PASSWORD, "callbackURL": evil}),
            )
            .await
            .unwrap();
        expect(&reply, 403, Some("INVALID_CALLBACKURL"));
    }

    // Form-encoded sign-in with rememberMe as text.
    let mut form = browser(url);
    let body = format!(
        "email={}&password=correct+horse+battery+staple&rememberMe=false",
        address
    );
    let reply = form
        .send(
            Method::POST,
            "/api/auth/sign-in/email",
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
            &[],
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert!(reply.set_cookie("better-auth.dont_remember").is_some());
}

async fn get_session_and_bearer(url: &str) {
    let mut anonymous = browser(url);
    let reply = anonymous.get("/api/auth/get-session").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text, "null");

    let mut client = browser(url);
    let address = email("session");
    let signed_up = client.sign_up("G", &address, PASSWORD).await.unwrap();
    let token = signed_up.json()["token"].as_str().unwrap().to_string();
    let reply = client.get("/api/auth/get-session").await.unwrap();
    expect(&reply, 200, None);
    let body = reply.json();
    assert_eq!(body["session"]["token"], token);
    assert_eq!(body["user"]["email"], address);
    for field in [
        "id",
        "token",
        "userId",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "ipAddress",
        "userAgent",
    ] {
        assert!(
            body["session"].get(field).is_some(),
            "session.{field} missing: {body}"
        );
    }
    // A fresh session is not refreshed: no cookie is set again.
    assert!(reply.set_cookie("better-auth.session_token").is_none());
    // The JWT plugin's header.
    let jwt = reply.header("set-auth-jwt").expect("set-auth-jwt");
    assert_eq!(
        reply.header("access-control-expose-headers").unwrap(),
        "set-auth-jwt"
    );
    let keys = fetch_keys(url).await;
    let claims =
        edgeauth_token::verify(&jwt, &keys, &Validation::new(BASE_URL, BASE_URL), now()).unwrap();
    assert_eq!(claims.subject(), body["user"]["id"].as_str().unwrap());
    assert_eq!(claims.session_id(), body["session"]["id"].as_str());
    assert_eq!(claims.get_str("email"), Some(address.as_str()));

    // Bearer with the signed value (encoded and decoded) and with the raw token.
    let signed = cookie::sign_value(SECRET.as_bytes(), &token).unwrap();
    let decoded = signed
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    for bearer in [signed.as_str(), decoded.as_str(), token.as_str()] {
        let mut api = browser(url);
        let reply = api
            .send(
                Method::GET,
                "/api/auth/get-session",
                None,
                &[("authorization", &format!("Bearer {bearer}"))],
            )
            .await
            .unwrap();
        expect(&reply, 200, None);
        assert_eq!(reply.json()["session"]["token"], token, "bearer {bearer}");
    }
    // A forged cookie or bearer is no session.
    let mut forged = browser(url);
    forged.cookies.insert(
        "better-auth.session_token".into(),
        format!("{token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"),
    );
    assert_eq!(
        forged.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    let reply = browser(url)
        .send(
            Method::GET,
            "/api/auth/get-session",
            None,
            &[("authorization", "Bearer abc.def")],
        )
        .await
        .unwrap();
    assert_eq!(reply.text, "null");
}

async fn session_listing_and_revocation(url: &str) {
    let address = email("revoke");
    let mut first = browser(url);
    expect(
        &first.sign_up("R", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let mut second = browser(url);
    let second_token = second.sign_in(&address, PASSWORD).await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut third = browser(url);
    expect(&third.sign_in(&address, PASSWORD).await.unwrap(), 200, None);

    let list = first.get("/api/auth/list-sessions").await.unwrap();
    expect(&list, 200, None);
    assert_eq!(list.json().as_array().unwrap().len(), 3);
    assert_eq!(
        browser(url)
            .get("/api/auth/list-sessions")
            .await
            .unwrap()
            .status,
        401
    );

    // Revoking another user's token is a silent no-op.
    let mut stranger = browser(url);
    expect(
        &stranger
            .sign_up("X", &email("stranger"), PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let reply = stranger
        .post("/api/auth/revoke-session", &json!({"token": second_token}))
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json(), json!({"status": true}));
    assert_ne!(
        second.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    // The owner revokes it: gone at once.
    let reply = first
        .post("/api/auth/revoke-session", &json!({"token": second_token}))
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(
        second.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    // revoke-other-sessions keeps only the caller's.
    expect(
        &first
            .post_empty("/api/auth/revoke-other-sessions")
            .await
            .unwrap(),
        200,
        None,
    );
    assert_eq!(
        third.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    assert_ne!(
        first.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    // revoke-sessions ends everything, the caller's included, and clears its cookie.
    let reply = first.post_empty("/api/auth/revoke-sessions").await.unwrap();
    expect(&reply, 200, None);
    assert!(reply
        .set_cookie("better-auth.session_token")
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        first.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
}

async fn sign_out_ends_the_session(url: &str) {
    let mut client = browser(url);
    expect(
        &client
            .sign_up("O", &email("signout"), PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let stolen = client.clone();
    let reply = client.post_empty("/api/auth/sign-out").await.unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json(), json!({"success": true}));
    assert_eq!(
        reply.set_cookie("better-auth.session_token").unwrap(),
        "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    );
    // The old cookie, replayed, is dead: the row is gone.
    let mut replay = stolen;
    assert_eq!(
        replay.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    // Signing out without a session still answers success.
    expect(
        &browser(url).post_empty("/api/auth/sign-out").await.unwrap(),
        200,
        None,
    );
}

async fn update_user(url: &str) {
    let mut client = browser(url);
    expect(
        &client
            .sign_up("Before", &email("update"), PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let reply = client
        .post(
            "/api/auth/update-user",
            &json!({"name": "After", "image": "https://img.example/a.png"}),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json(), json!({"status": true}));
    assert!(reply.set_cookie("better-auth.session_token").is_some());
    let user = client.get("/api/auth/get-session").await.unwrap().json()["user"].clone();
    assert_eq!(user["name"], "After");
    assert_eq!(user["image"], "https://img.example/a.png");
    expect(
        &client
            .post("/api/auth/update-user", &json!({"image": null}))
            .await
            .unwrap(),
        200,
        None,
    );
    assert_eq!(
        client.get("/api/auth/get-session").await.unwrap().json()["user"]["image"],
        Value::Null
    );

    expect(
        &client
            .post("/api/auth/update-user", &json!({"email": "x@example.com"}))
            .await
            .unwrap(),
        400,
        Some("EMAIL_CAN_NOT_BE_UPDATED"),
    );
    expect(
        &client
            .post("/api/auth/update-user", &json!({}))
            .await
            .unwrap(),
        400,
        Some("NO_FIELDS_TO_UPDATE"),
    );
    let reply = browser(url)
        .post("/api/auth/update-user", &json!({"name": "x"}))
        .await
        .unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(reply.text, "");
}

async fn change_password(url: &str) {
    let address = email("password");
    let mut client = browser(url);
    expect(
        &client.sign_up("P", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let mut other = browser(url);
    expect(&other.sign_in(&address, PASSWORD).await.unwrap(), 200, None);

    let reply = client
        .post(
            "/api/auth/change-password",
            &json!({"currentPassword": "wrong password here", "newPassword": "a brand new passphrase"}),
        )
        .await
        .unwrap();
    expect(&reply, 400, Some("INVALID_PASSWORD"));
    let reply = client
        .post(
            "/api/auth/change-password",
            &json!({"currentPassword": PASSWORD, "newPassword": "short"}),
        )
        .await
        .unwrap();
    expect(&reply, 400, Some("PASSWORD_TOO_SHORT"));

    let reply = client
        .post(
            "/api/auth/change-password",
            &json!({"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json()["token"], Value::Null);
    assert_eq!(reply.json()["user"]["email"], address);
    expect(
        &browser(url).sign_in(&address, PASSWORD).await.unwrap(),
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    expect(
        &browser(url)
            .sign_in(&address, "a brand new passphrase")
            .await
            .unwrap(),
        200,
        None,
    );
    // Without revokeOtherSessions the other session lives on.
    assert_ne!(
        other.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    let reply = client
        .post(
            "/api/auth/change-password",
            &json!({"currentPassword": "a brand new passphrase", "newPassword": "another fine passphrase", "revokeOtherSessions": true}),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    let new_token = reply.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        other.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    let mine = client.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(mine["session"]["token"], new_token);
}

async fn jwt_plugin(url: &str) {
    let reply = browser(url).get("/api/auth/jwks").await.unwrap();
    expect(&reply, 200, None);
    let jwks = reply.json();
    let key = &jwks["keys"][0];
    let members: Vec<&String> = key.as_object().unwrap().keys().collect();
    assert_eq!(
        members,
        ["alg", "crv", "x", "kty", "kid"],
        "Better Auth's member order: {key}"
    );
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["kid"].as_str().unwrap().len(), 32);

    let mut client = browser(url);
    expect(
        &client.sign_up("J", &email("jwt"), PASSWORD).await.unwrap(),
        200,
        None,
    );
    let reply = client.get("/api/auth/token").await.unwrap();
    expect(&reply, 200, None);
    let token = reply.json()["token"].as_str().unwrap().to_string();
    let claims = edgeauth_token::verify(
        &token,
        &fetch_keys(url).await,
        &Validation::new(BASE_URL, BASE_URL),
        now(),
    )
    .unwrap();
    assert_eq!(claims.expires_at() - claims.issued_at().unwrap(), 900);
    assert_eq!(claims.get_str("iss"), Some(BASE_URL));
    let header = edgeauth_token::UntrustedToken::parse(&token, 8192).unwrap();
    assert_eq!(header.kid(), key["kid"].as_str().unwrap());
    assert_eq!(
        browser(url).get("/api/auth/token").await.unwrap().status,
        401
    );
}

async fn malformed_requests(url: &str) {
    let mut client = browser(url);
    let send = |content_type: &'static str, body: Vec<u8>| (content_type, body);
    for (path, (content_type, body), status, code) in [
        (
            "/api/auth/sign-up/email",
            send("application/json", b"{not json".to_vec()),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/sign-up/email",
            send("application/json", b"[]".to_vec()),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/sign-up/email",
            send(
                "application/json",
                br#"{"name":1,"email":"a@b.co","password":"x"}"#.to_vec(),
            ),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/sign-in/email",
            send(
                "application/json",
                br#"{"email":["a@b.co"],"password":"x"}"#.to_vec(),
            ),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/sign-in/email",
            send("application/json", br#"{"email":"a@b.co"}"#.to_vec()),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/sign-in/email",
            send("text/plain", b"hello".to_vec()),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "/api/auth/sign-in/email",
            send("application/json", vec![b' '; 70 * 1024]),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ] {
        let reply = client
            .send(Method::POST, path, Some((content_type, body)), &[])
            .await
            .unwrap();
        expect(&reply, status, Some(code));
    }
    let reply = client
        .send(
            Method::POST,
            "/api/auth/sign-in/email",
            Some((
                "application/json",
                br#"{"email":1,"password":"x"}"#.to_vec(),
            )),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        reply.json()["message"],
        "[body.email] Invalid input: expected string, received number"
    );
    assert_eq!(
        browser(url)
            .get("/api/auth/no-such-endpoint")
            .await
            .unwrap()
            .status,
        404
    );
}

/// Fifty sign-ups of one address at once: exactly one user, every other answer a 422.
async fn concurrent_duplicate_sign_ups(url: &str) {
    let address = email("race");
    let attempts = (0..50).map(|i| {
        let address = address.clone();
        let url = url.to_string();
        tokio::spawn(async move {
            browser(&url)
                .sign_up(&format!("Racer {i}"), &address, PASSWORD)
                .await
                .unwrap()
        })
    });
    let replies: Vec<Reply> = futures_join(attempts).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let taken = replies
        .iter()
        .filter(|r| {
            r.status == 422 && r.code().as_deref() == Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
        })
        .count();
    let other: Vec<_> = replies
        .iter()
        .filter(|r| r.status != 200 && r.status != 422)
        .map(|r| format!("{} {}", r.status, r.text))
        .collect();
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!((ok, taken), (1, 49));
    expect(
        &browser(url).sign_in(&address, PASSWORD).await.unwrap(),
        200,
        None,
    );
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

/// Cookie-bearing state changes need a trusted Origin; cookie-less API calls don't; form
/// login from a cross-site navigation is refused.
async fn csrf_origin_checks(url: &str) {
    let mut user = browser(url);
    expect(
        &user.sign_up("C", &email("csrf"), PASSWORD).await.unwrap(),
        200,
        None,
    );
    let body = json!({"name": "Mallory"});

    let mut no_origin = user.clone();
    no_origin.headers.remove("origin");
    let reply = no_origin
        .post("/api/auth/update-user", &body)
        .await
        .unwrap();
    expect(&reply, 403, Some("MISSING_OR_NULL_ORIGIN"));
    for evil in [
        "https://evil.example",
        "http://localhost:3000.evil.example",
        "null",
        "http://localhost:3001",
    ] {
        let mut attacker = user.clone();
        attacker.headers.insert("origin", evil.parse().unwrap());
        let reply = attacker.post("/api/auth/update-user", &body).await.unwrap();
        let code = if evil == "null" {
            "MISSING_OR_NULL_ORIGIN"
        } else {
            "INVALID_ORIGIN"
        };
        expect(&reply, 403, Some(code));
    }
    // A Referer from a trusted origin stands in for a missing Origin.
    let reply = no_origin
        .send(
            Method::POST,
            "/api/auth/update-user",
            Some(("application/json", body.to_string().into_bytes())),
            &[("referer", "http://app.localhost:5173/settings")],
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    // GET needs no origin.
    assert_ne!(
        no_origin.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    // Without cookies (a bearer API client) no Origin is needed.
    let token = user.get("/api/auth/get-session").await.unwrap().json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = AuthClient::new(url)
        .send(
            Method::POST,
            "/api/auth/update-user",
            Some(("application/json", body.to_string().into_bytes())),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await
        .unwrap();
    expect(&reply, 200, None);

    // Login CSRF: a cross-site form navigation is refused; other Fetch Metadata needs Origin.
    let form = "email=a%40b.co&password=x".as_bytes().to_vec();
    let reply = AuthClient::new(url)
        .send(
            Method::POST,
            "/api/auth/sign-in/email",
            Some(("application/x-www-form-urlencoded", form.clone())),
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
            ],
        )
        .await
        .unwrap();
    expect(
        &reply,
        403,
        Some("CROSSSITE_NAVIGATION_LOGIN_BLOCKED_THIS_REQUEST_APPEARS_TO_BE_A_CSRF_ATTACK"),
    );
    let reply = AuthClient::new(url)
        .send(
            Method::POST,
            "/api/auth/sign-in/email",
            Some(("application/x-www-form-urlencoded", form)),
            &[("sec-fetch-site", "same-site"), ("sec-fetch-mode", "cors")],
        )
        .await
        .unwrap();
    expect(&reply, 403, Some("MISSING_OR_NULL_ORIGIN"));
}

/// Every endpoint that takes a body answers malformed JSON, a wrong type and an oversize body
/// with a 4xx in Better Auth's error shape, for a signed-in caller, and never a 5xx.
async fn every_endpoint_refuses_bad_bodies(url: &str) {
    let mut user = browser(url);
    let address = email("bodies");
    expect(
        &user.sign_up("B", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let oversize = vec![b' '; 70 * 1024];
    for (path, wrong_type) in [
        (
            "/api/auth/sign-up/email",
            r#"{"name":"a","email":"a@b.co","password":["x"]}"#,
        ),
        (
            "/api/auth/sign-in/email",
            r#"{"email":"a@b.co","password":7}"#,
        ),
        ("/api/auth/revoke-session", r#"{"token":42}"#),
        ("/api/auth/update-user", r#"{"name":{"first":"x"}}"#),
        (
            "/api/auth/change-password",
            r#"{"currentPassword":1,"newPassword":true}"#,
        ),
        ("/api/auth/send-verification-email", r#"{"email":false}"#),
        (
            "/api/auth/request-password-reset",
            r#"{"email":["a@b.co"]}"#,
        ),
        (
            "/api/auth/reset-password",
            r#"{"newPassword":12345678,"token":"x"}"#,
        ),
        ("/api/auth/change-email", r#"{"newEmail":{"a":1}}"#),
        ("/api/auth/delete-user", r#"{"password":5}"#),
    ] {
        for (body, status) in [
            (b"{\"unterminated".to_vec(), 400),
            (wrong_type.as_bytes().to_vec(), 400),
            (oversize.clone(), 413),
        ] {
            let reply = user
                .send(Method::POST, path, Some(("application/json", body)), &[])
                .await
                .unwrap();
            assert_eq!(reply.status.as_u16(), status, "{path}: {}", reply.text);
            assert!(
                reply.code().is_some(),
                "{path}: no error code in {}",
                reply.text
            );
        }
    }
    // The session survived all of it.
    assert_eq!(
        user.get("/api/auth/get-session").await.unwrap().json()["user"]["email"],
        address
    );
}

/// Twenty concurrent sign-outs and revocations of one session: every answer is a success,
/// none a 5xx, and the session ends.
async fn concurrent_duplicate_revocations(url: &str) {
    let mut user = browser(url);
    let reply = user.sign_up("D", &email("dupes"), PASSWORD).await.unwrap();
    let token = reply.json()["token"].as_str().unwrap().to_string();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let mut client = user.clone();
            let token = token.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    client.post_empty("/api/auth/sign-out").await.unwrap()
                } else {
                    client
                        .post("/api/auth/revoke-session", &json!({ "token": token }))
                        .await
                        .unwrap()
                }
            })
        })
        .collect();
    for handle in handles {
        let reply = handle.await.unwrap();
        assert!(
            reply.status == 200 || reply.status == 401,
            "{} {}",
            reply.status,
            reply.text
        );
    }
    assert_eq!(
        user.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
}

/// A string holding NUL, long enough to pass the password policy: what reached PostgreSQL
/// (which cannot store NUL in text) and answered 500, or was stored by SQLite.
const NUL: &str = "nul\u{0}character";

/// `base` with `field` set to `value`.
fn with_field(base: &Value, field: &str, value: &str) -> Value {
    let mut body = base.clone();
    body[field] = json!(value);
    body
}

/// The form token of the hosted page at `path`, as `client` (which keeps the cookie) sees it.
async fn form_token(client: &mut AuthClient, path: &str) -> String {
    let page = client.get(path).await.unwrap();
    assert_eq!(page.status, 200, "{path}: {}", page.text);
    let at = page
        .text
        .find(r#"name="csrf" value=""#)
        .expect("a form token")
        + 19;
    let rest = &page.text[at..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Records in `failures` an answer other than `status` (and, with `message`, other than a
/// `VALIDATION_ERROR` with that message).
fn refused(
    failures: &mut Vec<String>,
    what: String,
    reply: &Reply,
    status: u16,
    message: Option<String>,
) {
    let ok = reply.status.as_u16() == status
        && message.is_none_or(|message| {
            reply.code().as_deref() == Some("VALIDATION_ERROR")
                && reply.json()["message"] == message.as_str()
        });
    if !ok {
        failures.push(format!("{what}: {} {}", reply.status, reply.text));
    }
}

/// NUL in any string that can reach the database is refused with a 400 naming where it
/// was: every body field of every endpoint that takes strings (JSON and forms, the hosted
/// pages' forms too), every query parameter, every path. Nothing is stored, and the origin
/// answers normally afterwards. Failures are collected so that one run lists them all.
async fn nul_characters_are_refused(url: &str) {
    let mut user = browser(url);
    let address = email("nul");
    expect(
        &user.sign_up("Nul", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let mut failures: Vec<String> = Vec::new();
    // Body fields, one at a time, on top of a body that is otherwise harmless.
    let mut signed_up_as = Vec::new();
    let fresh_sign_up = |tag: &str| json!({"name": "N", "email": email(tag), "password": PASSWORD});
    let mut cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "/api/auth/sign-in/email",
            json!({"email": address, "password": PASSWORD}),
            &["email", "password", "callbackURL"],
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": "t"}),
            &["token"],
        ),
        (
            "/api/auth/update-user",
            json!({"name": "Nul"}),
            &["name", "image"],
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": "not the password", "newPassword": "a brand new passphrase"}),
            &["currentPassword", "newPassword"],
        ),
        (
            "/api/auth/send-verification-email",
            json!({"email": address}),
            &["email", "callbackURL"],
        ),
        (
            "/api/auth/change-email",
            json!({"newEmail": email("nul-new")}),
            &["newEmail", "callbackURL"],
        ),
        (
            "/api/auth/request-password-reset",
            json!({"email": address}),
            &["email", "redirectTo"],
        ),
        (
            "/api/auth/reset-password",
            json!({"token": "no-such-token", "newPassword": "a brand new passphrase"}),
            &["token", "newPassword"],
        ),
        (
            "/api/auth/delete-user",
            json!({"token": "no-such-token"}),
            &["token", "password", "callbackURL"],
        ),
    ];
    for field in ["name", "email", "password", "image", "callbackURL"] {
        let base = fresh_sign_up("nul-signup");
        signed_up_as.push(base["email"].as_str().unwrap().to_string());
        let fields: &[&str] = match field {
            "name" => &["name"],
            "email" => &["email"],
            "password" => &["password"],
            "image" => &["image"],
            _ => &["callbackURL"],
        };
        cases.push(("/api/auth/sign-up/email", base, fields));
    }
    for (path, base, fields) in &cases {
        for field in *fields {
            let body = with_field(base, field, NUL);
            // Sign-in and sign-up from a fresh client: a success must not replace `user`'s
            // session.
            let reply = if path.starts_with("/api/auth/sign-") {
                browser(url).post(path, &body).await.unwrap()
            } else {
                user.post(path, &body).await.unwrap()
            };
            refused(
                &mut failures,
                format!("{path} {field}"),
                &reply,
                400,
                Some(format!(
                    "[body.{field}] Invalid input: contains a NUL character"
                )),
            );
        }
    }
    // A field name holding NUL, and a form-encoded body.
    let reply = browser(url)
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "N", "email": email("nul-key"), "password": PASSWORD, "ex\u{0}tra": 1}),
        )
        .await
        .unwrap();
    refused(
        &mut failures,
        "sign-up with a field name holding NUL".into(),
        &reply,
        400,
        Some("[body] Invalid input: a field name contains a NUL character".into()),
    );
    let form_address = email("nul-form");
    signed_up_as.push(form_address.clone());
    let form =
        format!("name=nul%00character&email={form_address}&password=correct+horse+battery+staple");
    let reply = browser(url)
        .send(
            Method::POST,
            "/api/auth/sign-up/email",
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
            &[],
        )
        .await
        .unwrap();
    refused(
        &mut failures,
        "form-encoded sign-up name".into(),
        &reply,
        400,
        Some("[body.name] Invalid input: contains a NUL character".into()),
    );

    // Query parameters, whatever the endpoint does with them.
    let query_refusal = |name: &str| {
        Some(format!(
            "[query.{name}] Invalid input: contains a NUL character"
        ))
    };
    for (method, path, name) in [
        (Method::GET, "/api/auth/verify-email?token=%00", "token"),
        (
            Method::GET,
            "/api/auth/verify-email?token=x&callbackURL=%2Fdone%00",
            "callbackURL",
        ),
        (
            Method::GET,
            "/api/auth/reset-password/abcdefghijklmnopqrstuvwx?callbackURL=%2Freset%00",
            "callbackURL",
        ),
        (
            Method::POST,
            "/api/auth/reset-password?token=ab%00cd",
            "token",
        ),
        (
            Method::GET,
            "/api/auth/delete-user/callback?token=%00",
            "token",
        ),
        (
            Method::GET,
            "/api/auth/delete-user/callback?token=t&callbackURL=%00",
            "callbackURL",
        ),
        (
            Method::GET,
            "/api/auth/get-session?disableRefresh=%00",
            "disableRefresh",
        ),
        (Method::GET, "/api/auth/error?error=%00", "error"),
        (
            Method::GET,
            "/auth/sign-in?callbackURL=%2F%00",
            "callbackURL",
        ),
        (Method::GET, "/auth/reset-password?token=%00", "token"),
        (Method::GET, "/auth/verify-email?token=%00", "token"),
    ] {
        let body = json!({"newPassword": "a brand new passphrase"}).to_string();
        let body = (method == Method::POST).then(|| ("application/json", body.into_bytes()));
        let reply = user.send(method, path, body, &[]).await.unwrap();
        refused(
            &mut failures,
            format!("query of {path}"),
            &reply,
            400,
            query_refusal(name),
        );
    }
    let reply = user.get("/api/auth/get-session?a%00=1").await.unwrap();
    refused(
        &mut failures,
        "a query parameter name holding NUL".into(),
        &reply,
        400,
        Some("[query] Invalid input: contains a NUL character".into()),
    );

    // Paths: refused as the edge refuses them, before any route.
    for path in [
        "/api/auth/reset-password/%00?callbackURL=%2Freset",
        "/api/auth/reset-password/abc%00def",
        "/api/auth/edge/session/%00",
        "/auth/sign-in%00",
    ] {
        let reply = user.get(path).await.unwrap();
        refused(&mut failures, format!("path {path}"), &reply, 400, None);
        if reply.code().as_deref() != Some("INVALID_PATH") {
            failures.push(format!("path {path}: {}", reply.text));
        }
    }

    // The hosted pages' forms.
    let mut visitor = browser(url);
    let page_address = email("nul-page");
    signed_up_as.push(page_address.clone());
    let csrf = form_token(&mut visitor, "/auth/sign-up").await;
    let form = format!(
        "csrf={csrf}&name=nul%00character&email={page_address}&password=correct+horse+battery+staple"
    );
    let reply = visitor
        .send(
            Method::POST,
            "/auth/sign-up",
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
            &[],
        )
        .await
        .unwrap();
    refused(&mut failures, "sign-up page".into(), &reply, 400, None);
    let csrf = form_token(&mut visitor, "/auth/sign-in").await;
    let form = format!("csrf={csrf}&email=nul%00{address}&password=x");
    let reply = visitor
        .send(
            Method::POST,
            "/auth/sign-in",
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
            &[],
        )
        .await
        .unwrap();
    refused(&mut failures, "sign-in page".into(), &reply, 400, None);
    let csrf = form_token(&mut user, "/auth/account").await;
    let reply = user
        .send(
            Method::POST,
            "/auth/account/name",
            Some((
                "application/x-www-form-urlencoded",
                format!("csrf={csrf}&name=nul%00character").into_bytes(),
            )),
            &[],
        )
        .await
        .unwrap();
    refused(
        &mut failures,
        "account page, name".into(),
        &reply,
        400,
        None,
    );

    assert!(
        failures.is_empty(),
        "not refused as expected:\n{}",
        failures.join("\n")
    );

    // Nothing was stored, and the origin answers as before.
    let session = user.get("/api/auth/get-session").await.unwrap();
    expect(&session, 200, None);
    assert_eq!(session.json()["user"]["name"], "Nul");
    assert_eq!(session.json()["user"]["image"], Value::Null);
    for address in &signed_up_as {
        expect(
            &browser(url).sign_in(address, PASSWORD).await.unwrap(),
            401,
            Some("INVALID_EMAIL_OR_PASSWORD"),
        );
    }
    expect(
        &browser(url).sign_in(&address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    assert_eq!(browser(url).get("/readyz").await.unwrap().status, 200);
}

/// How many rows `sql` (a `SELECT COUNT(*)`) counts in the origin's database.
async fn count(database: &str, sql: &str) -> i64 {
    if database.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(database).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(database).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

/// RFC 5321's lengths for addresses (64 octets before the `@`, 254 in all) and bounds on
/// the free-text fields (name 256 characters, image 2048): longer values are refused with a
/// 400 in zod's shape (a 3,000-character local part overflowed PostgreSQL's unique index
/// on `email`, a 500; a 60,000-character address was stored), and nothing is stored.
async fn long_inputs_are_refused(url: &str, database: &str) {
    let long_local = format!("{}@example.com", "a".repeat(3000));
    let long_address = format!("a@{}.com", "b".repeat(59_990));
    assert_eq!(long_address.len(), 59_996);
    for (tag, address) in [
        ("3,000-character local part", &long_local),
        ("60,000-character address", &long_address),
    ] {
        let reply = browser(url)
            .sign_up("Long", address, PASSWORD)
            .await
            .unwrap();
        expect(&reply, 400, Some("VALIDATION_ERROR"));
        assert_eq!(
            reply.json()["message"],
            "[body.email] Invalid email address",
            "{tag}"
        );
        expect(
            &browser(url).sign_in(address, PASSWORD).await.unwrap(),
            400,
            Some("INVALID_EMAIL"),
        );
        let reply = browser(url)
            .post(
                "/api/auth/request-password-reset",
                &json!({ "email": address }),
            )
            .await
            .unwrap();
        expect(&reply, 400, Some("VALIDATION_ERROR"));
    }
    // The bounds themselves: 64 octets before the `@` are fine, 65 are not.
    let at_most = format!("{}@example.com", "c".repeat(64));
    expect(
        &browser(url)
            .sign_up("Max", &at_most, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let over = format!("{}@example.com", "d".repeat(65));
    expect(
        &browser(url).sign_up("Over", &over, PASSWORD).await.unwrap(),
        400,
        Some("VALIDATION_ERROR"),
    );

    // Names (256 characters, counted as JavaScript counts) and images (2048).
    let too_big = |field: &str, max: usize| {
        format!("[body.{field}] Too big: expected string to have <={max} characters")
    };
    let reply = browser(url)
        .sign_up(&"n".repeat(257), &email("long-name"), PASSWORD)
        .await
        .unwrap();
    expect(&reply, 400, Some("VALIDATION_ERROR"));
    assert_eq!(reply.json()["message"], too_big("name", 256));
    let reply = browser(url)
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "I", "email": email("long-image"), "password": PASSWORD, "image": "i".repeat(2049)}),
        )
        .await
        .unwrap();
    expect(&reply, 400, Some("VALIDATION_ERROR"));
    assert_eq!(reply.json()["message"], too_big("image", 2048));
    let mut user = browser(url);
    let reply = user
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "é".repeat(256), "email": email("max-name"), "password": PASSWORD, "image": "i".repeat(2048)}),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    for (body, field, max) in [
        (json!({"name": "n".repeat(257)}), "name", 256),
        // An astral character counts twice, as in JavaScript: 129 of them are 258.
        (json!({"name": "😀".repeat(129)}), "name", 256),
        (json!({"image": "i".repeat(2049)}), "image", 2048),
    ] {
        let reply = user.post("/api/auth/update-user", &body).await.unwrap();
        expect(&reply, 400, Some("VALIDATION_ERROR"));
        assert_eq!(reply.json()["message"], too_big(field, max));
    }
    expect(
        &user
            .post("/api/auth/update-user", &json!({"name": "m".repeat(256)}))
            .await
            .unwrap(),
        200,
        None,
    );
    let reply = user
        .post("/api/auth/change-email", &json!({ "newEmail": long_local }))
        .await
        .unwrap();
    expect(&reply, 400, Some("VALIDATION_ERROR"));

    // Nothing over the bounds reached the database.
    for (what, sql) in [
        (
            "addresses",
            r#"SELECT COUNT(*) FROM "user" WHERE length("email") > 254"#,
        ),
        (
            "names",
            r#"SELECT COUNT(*) FROM "user" WHERE length("name") > 256"#,
        ),
        (
            "images",
            r#"SELECT COUNT(*) FROM "user" WHERE length("image") > 2048"#,
        ),
    ] {
        assert_eq!(
            count(database, sql).await,
            0,
            "{what} over the bound were stored"
        );
    }
    assert_eq!(browser(url).get("/readyz").await.unwrap().status, 200);
}

/// Verify-and-replace is atomic: of twenty concurrent password changes from one session,
/// each with the right current password, exactly one succeeds and the others are told
/// `INVALID_PASSWORD`, and the password that works afterwards is the one the success set.
/// The same with `revokeOtherSessions`, which also ends the other session in the same
/// transaction.
async fn concurrent_password_changes(url: &str) {
    let address = email("race-password");
    let mut owner = browser(url);
    expect(
        &owner.sign_up("P", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let changes = (0..20).map(|i| {
        let mut client = owner.clone();
        tokio::spawn(async move {
            let new = format!("new passphrase number {i}");
            let reply = client
                .post(
                    "/api/auth/change-password",
                    &json!({"currentPassword": PASSWORD, "newPassword": new}),
                )
                .await
                .unwrap();
            (new, reply)
        })
    });
    let replies = futures_join(changes).await;
    let winners: Vec<&String> = replies
        .iter()
        .filter(|(_, r)| r.status == 200)
        .map(|(new, _)| new)
        .collect();
    let other: Vec<String> = replies
        .iter()
        .filter(|(_, r)| r.status != 200)
        .filter(|(_, r)| r.status != 400 || r.code().as_deref() != Some("INVALID_PASSWORD"))
        .map(|(_, r)| format!("{} {}", r.status, r.text))
        .collect();
    assert_eq!(winners.len(), 1, "successes: {winners:?}");
    assert!(
        other.is_empty(),
        "answers other than 400 INVALID_PASSWORD: {other:?}"
    );
    for (new, _) in &replies {
        let expected = if new == winners[0] { 200 } else { 401 };
        let reply = browser(url).sign_in(&address, new).await.unwrap();
        assert_eq!(reply.status, expected, "{new}: {}", reply.text);
    }
    expect(
        &browser(url).sign_in(&address, PASSWORD).await.unwrap(),
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );

    // With revokeOtherSessions: one success, whose new session is the only one left.
    let current = winners[0].clone();
    let mut owner = browser(url);
    expect(&owner.sign_in(&address, &current).await.unwrap(), 200, None);
    let mut other_device = browser(url);
    expect(
        &other_device.sign_in(&address, &current).await.unwrap(),
        200,
        None,
    );
    let changes = (0..10).map(|i| {
        let mut client = owner.clone();
        let current = current.clone();
        tokio::spawn(async move {
            let new = format!("revoking passphrase number {i}");
            let reply = client
                .post(
                    "/api/auth/change-password",
                    &json!({"currentPassword": current, "newPassword": new, "revokeOtherSessions": true}),
                )
                .await
                .unwrap();
            (new, reply)
        })
    });
    let replies = futures_join(changes).await;
    let winners: Vec<&(String, Reply)> = replies.iter().filter(|(_, r)| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "successes: {}", winners.len());
    // A loser is refused for the password, or finds its session already ended (401).
    for (_, reply) in &replies {
        assert!(
            reply.status == 200
                || reply.status == 401
                || (reply.status == 400 && reply.code().as_deref() == Some("INVALID_PASSWORD")),
            "{} {}",
            reply.status,
            reply.text
        );
    }
    let (new, winner) = winners[0];
    let token = winner.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        other_device
            .get("/api/auth/get-session")
            .await
            .unwrap()
            .text,
        "null"
    );
    assert_eq!(
        owner.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    let sessions = AuthClient::new(url)
        .send(
            Method::GET,
            "/api/auth/list-sessions",
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await
        .unwrap();
    expect(&sessions, 200, None);
    assert_eq!(sessions.json().as_array().unwrap().len(), 1);
    expect(
        &browser(url).sign_in(&address, new).await.unwrap(),
        200,
        None,
    );
}
