//! Sign-in with an OpenID Connect provider, in-process against a test provider (a real
//! HTTP server on a loopback port, reached through the origin's outgoing client) that
//! signs whatever ID token the test asks: the full flow, and each attack the issue names
//! refused with no session created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::app::test_app;
use crate::app::AppState;
use crate::clock::ManualClock;

const TRUSTED: &str = "http://localhost:3000";
const CLIENT_ID: &str = "edgeauth-client";
const CLIENT_SECRET: &str = "client-secret";
const SUBJECT: &str = "248289761001";
const EMAIL: &str = "ada@example.com";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A signing key of the test provider.
#[derive(Clone)]
enum Key {
    Es256(String, p256::ecdsa::SigningKey),
    EdDsa(String, ed25519_dalek::SigningKey),
}

impl Key {
    fn es256(kid: &str, seed: u8) -> Self {
        let key = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        Key::Es256(kid.into(), key)
    }

    fn eddsa(kid: &str, seed: u8) -> Self {
        Key::EdDsa(
            kid.into(),
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
        )
    }

    fn jwk(&self) -> Value {
        match self {
            Key::Es256(kid, key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({"kty":"EC","crv":"P-256","kid":kid,"alg":"ES256","use":"sig",
                       "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
            }
            Key::EdDsa(kid, key) => {
                json!({"kty":"OKP","crv":"Ed25519","kid":kid,"alg":"EdDSA","use":"sig",
                       "x": b64(&key.verifying_key().to_bytes())})
            }
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let (alg, kid) = match self {
            Key::Es256(kid, _) => ("ES256", kid),
            Key::EdDsa(kid, _) => ("EdDSA", kid),
        };
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match self {
            Key::Es256(_, key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
                signature.to_bytes().to_vec()
            }
            Key::EdDsa(_, key) => {
                use ed25519_dalek::Signer;
                key.sign(input.as_bytes()).to_bytes().to_vec()
            }
        };
        format!("{input}.{}", b64(&signature))
    }
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// What the token endpoint answers for one code.
struct Grant {
    id_token: Option<String>,
    challenge: Option<String>,
    used: bool,
}

#[derive(Default)]
struct ProviderState {
    keys: Vec<Value>,
    grants: HashMap<String, Grant>,
    user_info: Value,
    jwks_fetches: usize,
    token_calls: usize,
    jwks_down: bool,
    refreshes: usize,
}

/// The test provider: discovery, JWKS, token and user-info endpoints on a loopback port.
#[derive(Clone)]
struct Provider {
    base: String,
    state: Arc<Mutex<ProviderState>>,
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    let b = &p.base;
    Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "jwks_uri": format!("{b}/jwks"),
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(p): State<Provider>) -> (StatusCode, Json<Value>) {
    let mut state = p.state.lock().unwrap();
    state.jwks_fetches += 1;
    if state.jwks_down {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})));
    }
    (StatusCode::OK, Json(json!({ "keys": state.keys })))
}

async fn token(State(p): State<Provider>, body: Bytes) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    p.state.lock().unwrap().token_calls += 1;
    let refuse = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": error })));
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return refuse("invalid_client");
    }
    let mut state = p.state.lock().unwrap();
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        if !form
            .get("refresh_token")
            .is_some_and(|t| t.starts_with("refresh-"))
        {
            return refuse("invalid_grant");
        }
        state.refreshes += 1;
        let n = state.refreshes;
        return (
            StatusCode::OK,
            Json(json!({
                "access_token": format!("access-refreshed-{n}"),
                "refresh_token": format!("refresh-rotated-{n}"),
                "token_type": "Bearer",
                "expires_in": 3600,
            })),
        );
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = state.grants.get_mut(&code) else {
        return refuse("invalid_grant");
    };
    if grant.used {
        return refuse("invalid_grant");
    }
    grant.used = true;
    if let Some(challenge) = &grant.challenge {
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if crate::auth::oauth::flow::code_challenge(&verifier) != *challenge {
            return refuse("invalid_grant");
        }
    }
    let mut answer = json!({
        "access_token": format!("access-{code}"),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("refresh-{code}"),
        "scope": "openid email profile",
    });
    if let Some(id_token) = &grant.id_token {
        answer["id_token"] = json!(id_token);
    }
    (StatusCode::OK, Json(answer))
}

async fn user_info(State(p): State<Provider>) -> Json<Value> {
    Json(p.state.lock().unwrap().user_info.clone())
}

impl Provider {
    async fn start(keys: &[Key]) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let provider = Provider {
            base,
            state: Arc::default(),
        };
        provider.publish(keys);
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(user_info))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        provider
    }

    fn publish(&self, keys: &[Key]) {
        self.state.lock().unwrap().keys = keys.iter().map(Key::jwk).collect();
    }

    fn grant(&self, code: &str, id_token: Option<String>, challenge: Option<String>) {
        self.state.lock().unwrap().grants.insert(
            code.into(),
            Grant {
                id_token,
                challenge,
                used: false,
            },
        );
    }

    fn config(&self) -> String {
        json!([{
            "providerId": "corp",
            "discoveryUrl": format!("{}/.well-known/openid-configuration", self.base),
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "scopes": ["openid", "email", "profile"],
        }, {
            // A second provider (the same server, another client): for mix-up.
            "providerId": "other",
            "discoveryUrl": format!("{}/.well-known/openid-configuration", self.base),
            "clientId": "other-client",
            "clientSecret": "other-secret",
        }])
        .to_string()
    }
}

/// A browser: a cookie jar, no redirects followed.
struct Browser {
    app: Router,
    cookies: HashMap<String, String>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    headers: axum::http::HeaderMap,
    text: String,
    body: Value,
}

impl Browser {
    fn new(app: &Router) -> Self {
        Browser {
            app: app.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| ("application/json", b.to_string()));
        self.send_raw(method, path, body).await
    }

    /// A hosted page's form post (`path` under `/auth`).
    async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send_raw(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body)),
        )
        .await
    }

    /// `path` under `/api/auth`, or a page's (`/auth/...`) as it is.
    async fn send_raw(&mut self, method: &str, path: &str, body: Option<(&str, String)>) -> Answer {
        let uri = if path.starts_with("/auth/") {
            path.to_string()
        } else {
            format!("/api/auth{path}")
        };
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ORIGIN, TRUSTED);
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        let body = match body {
            Some((content_type, body)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Body::from(body)
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
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        let mut set_cookies = Vec::new();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            set_cookies.push(set.to_string());
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Answer {
            status,
            location,
            set_cookies,
            headers,
            // minijinja escapes `/` in attributes as `&#x2f;`, which a browser reads as `/`.
            text: String::from_utf8_lossy(&bytes).replace("&#x2f;", "/"),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    fn has_session(&self) -> bool {
        self.cookies.contains_key("better-auth.session_token")
    }
}

/// The parameters of an authorization URL.
fn params(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

struct Harness {
    state: AppState,
    app: Router,
    clock: Arc<ManualClock>,
    provider: Provider,
    key: Key,
    path: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// A sign-in started by `browser`: the authorization URL's parameters.
struct Started {
    params: HashMap<String, String>,
}

impl Harness {
    async fn new(extra: &[&str]) -> Harness {
        let key = Key::es256("k1", 7);
        let provider = Provider::start(std::slice::from_ref(&key)).await;
        let config = provider.config();
        let mut args = vec!["--rate-limit", "off", "--generic-oauth", &config];
        args.extend_from_slice(extra);
        let (state, clock, path) = test_app::state(&args).await;
        let app = crate::app::router(state.clone());
        provider.state.lock().unwrap().user_info = json!({"sub": SUBJECT, "email": EMAIL});
        Harness {
            state,
            app,
            clock,
            provider,
            key,
            path,
        }
    }

    fn now(&self) -> i64 {
        self.state.now().timestamp()
    }

    /// The claims a genuine ID token for this sign-in carries.
    fn claims(&self, started: &Started) -> Value {
        json!({
            "iss": self.provider.base,
            "aud": CLIENT_ID,
            "sub": SUBJECT,
            "email": EMAIL,
            "email_verified": true,
            "name": "Ada Lovelace",
            "picture": "https://img.example/ada.png",
            "iat": self.now(),
            "exp": self.now() + 600,
            "nonce": started.params["nonce"],
        })
    }

    async fn start(&self, browser: &mut Browser) -> Started {
        let answer = browser
            .send(
                "POST",
                "/sign-in/oauth2",
                Some(json!({
                    "providerId": "corp",
                    "callbackURL": "/dashboard",
                    "newUserCallbackURL": "/welcome",
                    "errorCallbackURL": "/oops",
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["redirect"], true);
        Started {
            params: params(answer.body["url"].as_str().unwrap()),
        }
    }

    /// The provider's redirect back with `code` (granted with `id_token`).
    async fn callback(
        &self,
        browser: &mut Browser,
        started: &Started,
        code: &str,
        id_token: Option<String>,
    ) -> Answer {
        self.provider.grant(
            code,
            id_token,
            started.params.get("code_challenge").cloned(),
        );
        let state = &started.params["state"];
        browser
            .send(
                "GET",
                &format!("/oauth2/callback/corp?code={code}&state={state}"),
                None,
            )
            .await
    }

    async fn sign_in(&self, browser: &mut Browser, code: &str) -> Answer {
        let started = self.start(browser).await;
        let token = self.key.sign(&self.claims(&started));
        self.callback(browser, &started, code, Some(token)).await
    }

    /// Ada's password account at [`EMAIL`], its address verified.
    async fn verified_password_account(&self) {
        let mut owner = Browser::new(&self.app);
        let answer = owner
            .send(
                "POST",
                "/sign-up/email",
                Some(json!({"name": "Ada", "email": EMAIL, "password": "a long passphrase"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        self.state
            .db()
            .mark_email_verified(EMAIL, self.state.now())
            .await
            .unwrap();
    }

    async fn user_count(&self) -> usize {
        usize::from(
            self.state
                .db()
                .find_user_by_email(EMAIL)
                .await
                .unwrap()
                .is_some(),
        )
    }
}

fn error_of(answer: &Answer) -> String {
    let location = answer.location.clone().unwrap_or_default();
    params(&format!("http://x{location}"))
        .get("error")
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_oidc_sign_in_creates_the_user_and_its_account_in_better_auths_format() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let p = &started.params;
    assert_eq!(p["response_type"], "code");
    assert_eq!(p["client_id"], CLIENT_ID);
    assert_eq!(p["scope"], "openid email profile");
    assert_eq!(
        p["redirect_uri"],
        "http://localhost:3000/api/auth/oauth2/callback/corp"
    );
    assert_eq!(p["code_challenge_method"], "S256");
    assert_eq!(p["state"].len(), 32);
    assert!(p["nonce"].len() >= 32);
    assert!(browser.cookies.contains_key("better-auth.state"));

    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut browser, &started, "c1", Some(token)).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    assert!(browser.has_session());
    assert!(!browser.cookies.contains_key("better-auth.state"));
    let session = browser.send("GET", "/get-session", None).await;
    assert_eq!(session.body["user"]["email"], EMAIL);
    assert_eq!(session.body["user"]["emailVerified"], true);
    assert_eq!(session.body["user"]["name"], "Ada Lovelace");

    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    let accounts = h.state.db().list_accounts(&user.id).await.unwrap();
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account.provider_id, "corp");
    assert_eq!(account.account_id, SUBJECT);
    assert_eq!(account.scope.as_deref(), Some("openid,email,profile"));
    assert_eq!(
        account.access_token_expires_at,
        Some(h.state.now() + chrono::Duration::seconds(3600))
    );
    // Sealed at rest in Better Auth's format; the ID token as received.
    let secret = &h.state.config().secret;
    let sealed = account.access_token.as_deref().unwrap();
    assert_ne!(sealed, "access-c1");
    assert_eq!(crate::crypto::open(secret, sealed).unwrap(), "access-c1");
    let refresh = account.refresh_token.as_deref().unwrap();
    assert_eq!(crate::crypto::open(secret, refresh).unwrap(), "refresh-c1");
    assert!(account.id_token.is_some());

    // Signing in again: the same user and account, to the callback URL this time.
    let mut again = Browser::new(&h.app);
    let answer = h.sign_in(&mut again, "c2").await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
    assert!(again.has_session());
    let accounts = h.state.db().list_accounts(&user.id).await.unwrap();
    assert_eq!(accounts.len(), 1);
    let stored = accounts[0].access_token.as_deref().unwrap();
    assert_eq!(crate::crypto::open(secret, stored).unwrap(), "access-c2");
}

#[tokio::test]
async fn tokens_are_stored_in_the_clear_when_encryption_is_off() {
    let h = Harness::new(&["--encrypt-oauth-tokens", "off"]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "c1").await;
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    let accounts = h.state.db().list_accounts(&user.id).await.unwrap();
    assert_eq!(accounts[0].access_token.as_deref(), Some("access-c1"));
    assert_eq!(accounts[0].refresh_token.as_deref(), Some("refresh-c1"));
}

#[tokio::test]
async fn an_eddsa_signed_id_token_verifies() {
    let h = Harness::new(&[]).await;
    let ed = Key::eddsa("ed1", 9);
    h.provider.publish(&[h.key.clone(), ed.clone()]);
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let token = ed.sign(&h.claims(&started));
    let answer = h.callback(&mut browser, &started, "c1", Some(token)).await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    assert!(browser.has_session());
}

#[tokio::test]
async fn id_tokens_that_do_not_verify_are_refused_with_no_session() {
    let h = Harness::new(&[]).await;
    let stranger = Key::es256("k1", 8); // the provider's kid, another key
    let unknown = Key::es256("elsewhere", 9);
    type Case = (&'static str, fn(&mut Value));
    let cases: [Case; 7] = [
        ("wrong audience", |c| c["aud"] = json!("another-client")),
        ("wrong azp", |c| c["azp"] = json!("another-client")),
        ("several audiences without azp", |c| {
            c["aud"] = json!([CLIENT_ID, "another-client"])
        }),
        ("expired", |c| {
            c["exp"] = json!(c["iat"].as_i64().unwrap() - 3600)
        }),
        ("wrong nonce", |c| c["nonce"] = json!("not-the-nonce")),
        ("no nonce", |c| {
            c.as_object_mut().unwrap().remove("nonce");
        }),
        ("wrong issuer", |c| c["iss"] = json!("https://evil.example")),
    ];
    let mut n = 0;
    for (what, change) in cases {
        n += 1;
        let mut browser = Browser::new(&h.app);
        let started = h.start(&mut browser).await;
        let mut claims = h.claims(&started);
        change(&mut claims);
        let answer = h
            .callback(
                &mut browser,
                &started,
                &format!("c{n}"),
                Some(h.key.sign(&claims)),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FOUND, "{what}");
        assert_eq!(error_of(&answer), "invalid_id_token", "{what}");
        assert!(answer.location.unwrap().starts_with("/oops?"), "{what}");
        assert!(!browser.has_session(), "{what}");
    }
    for (what, token) in [
        ("unsigned", None),
        (
            "signed by another key under the provider's kid",
            Some(&stranger),
        ),
        ("signed by an unknown key", Some(&unknown)),
    ] {
        n += 1;
        let mut browser = Browser::new(&h.app);
        let started = h.start(&mut browser).await;
        let claims = h.claims(&started);
        let token = match token {
            None => unsigned(&claims),
            Some(key) => key.sign(&claims),
        };
        let answer = h
            .callback(&mut browser, &started, &format!("c{n}"), Some(token))
            .await;
        assert_eq!(error_of(&answer), "invalid_id_token", "{what}");
        assert!(!browser.has_session(), "{what}");
    }
    assert_eq!(h.user_count().await, 0);
}

#[tokio::test]
async fn state_must_be_this_browsers_and_works_once() {
    let h = Harness::new(&[]).await;

    // Missing state.
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    h.provider
        .grant("m1", Some(h.key.sign(&h.claims(&started))), None);
    let answer = browser
        .send("GET", "/oauth2/callback/corp?code=m1", None)
        .await;
    assert_eq!(error_of(&answer), "state_mismatch");
    assert!(answer
        .location
        .unwrap()
        .starts_with("http://localhost:3000/api/auth/error?"));
    assert!(!browser.has_session());

    // Tampered state parameter.
    let mut browser = Browser::new(&h.app);
    let mut started = h.start(&mut browser).await;
    let genuine = started.params["state"].clone();
    let mut tampered = genuine.clone();
    tampered.replace_range(0..1, if genuine.starts_with('A') { "B" } else { "A" });
    started.params.insert("state".into(), tampered);
    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut browser, &started, "t1", Some(token)).await;
    assert_eq!(error_of(&answer), "state_mismatch");
    assert!(!browser.has_session());

    // Tampered cookie.
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let cookie = browser.cookies["better-auth.state"].clone();
    browser
        .cookies
        .insert("better-auth.state".into(), cookie.replacen('.', "x.", 1));
    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut browser, &started, "t2", Some(token)).await;
    assert_eq!(error_of(&answer), "state_mismatch");
    assert!(!browser.has_session());

    // Cross-browser: the victim's browser completes the attacker's flow (login CSRF).
    let mut attacker = Browser::new(&h.app);
    let started = h.start(&mut attacker).await;
    let mut victim = Browser::new(&h.app);
    h.start(&mut victim).await; // the victim has a state cookie of their own
    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut victim, &started, "x1", Some(token)).await;
    assert_eq!(error_of(&answer), "state_mismatch");
    assert!(!victim.has_session());
    let mut no_cookie = Browser::new(&h.app);
    let answer = h.callback(&mut no_cookie, &started, "x2", None).await;
    assert_eq!(error_of(&answer), "state_mismatch");

    // Replayed: the genuine callback works once; the same state again is refused, even with
    // the cookie put back and a fresh code.
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let cookie = browser.cookies["better-auth.state"].clone();
    let answer = h.sign_in_with(&mut browser, &started, "r1").await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    let mut replay = Browser::new(&h.app);
    replay.cookies.insert("better-auth.state".into(), cookie);
    let answer = h.sign_in_with(&mut replay, &started, "r2").await;
    assert_eq!(error_of(&answer), "please_restart_the_process");
    assert!(!replay.has_session());

    // Expired: ten minutes later the state is gone.
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    h.clock.advance(chrono::Duration::seconds(601));
    let answer = h.sign_in_with(&mut browser, &started, "e1").await;
    assert_eq!(error_of(&answer), "please_restart_the_process");
    assert!(!browser.has_session());
}

impl Harness {
    async fn sign_in_with(&self, browser: &mut Browser, started: &Started, code: &str) -> Answer {
        let token = self.key.sign(&self.claims(started));
        self.callback(browser, started, code, Some(token)).await
    }
}

#[tokio::test]
async fn a_replayed_authorization_code_is_refused() {
    let h = Harness::new(&[]).await;
    let mut first = Browser::new(&h.app);
    let answer = h.sign_in(&mut first, "once").await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    // An attacker who saw the code starts a flow of their own and replays it.
    let mut attacker = Browser::new(&h.app);
    let started = h.start(&mut attacker).await;
    let state = &started.params["state"];
    let answer = attacker
        .send(
            "GET",
            &format!("/oauth2/callback/corp?code=once&state={state}"),
            None,
        )
        .await;
    assert_eq!(error_of(&answer), "oauth_code_verification_failed");
    assert!(!attacker.has_session());
}

#[tokio::test]
async fn a_code_without_the_pkce_verifier_is_refused_by_the_provider() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    let mut started = h.start(&mut browser).await;
    // The provider expects another verifier's challenge: the exchange fails.
    started
        .params
        .insert("code_challenge".into(), "another-challenge".into());
    let answer = h.sign_in_with(&mut browser, &started, "p1").await;
    assert_eq!(error_of(&answer), "oauth_code_verification_failed");
    assert!(!browser.has_session());
}

/// Pre-account takeover: an attacker signs up with the victim's address without proving
/// it; the victim then signs in with the provider. Better Auth 1.4.22 links the identity to
/// the attacker's account (and marks it verified); here the sign-in is refused, and the
/// attacker's account gets nothing.
#[tokio::test]
async fn an_unverified_local_account_is_never_linked() {
    let h = Harness::new(&[]).await;
    let mut attacker = Browser::new(&h.app);
    let answer = attacker
        .send(
            "POST",
            "/sign-up/email",
            Some(json!({"name": "Mallory", "email": EMAIL, "password": "attacker's password"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    let mut victim = Browser::new(&h.app);
    let answer = h.sign_in(&mut victim, "v1").await;
    assert_eq!(error_of(&answer), "account_not_linked");
    assert!(answer.location.unwrap().starts_with("/oops?"));
    assert!(!victim.has_session());
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert!(!user.email_verified);
    let accounts = h.state.db().list_accounts(&user.id).await.unwrap();
    assert!(accounts.iter().all(|a| a.provider_id == "credential"));

    // Nor with the provider trusted.
    let h = Harness::new(&["--trusted-providers", "corp"]).await;
    let mut attacker = Browser::new(&h.app);
    attacker
        .send(
            "POST",
            "/sign-up/email",
            Some(json!({"name": "Mallory", "email": EMAIL, "password": "attacker's password"})),
        )
        .await;
    let mut victim = Browser::new(&h.app);
    let answer = h.sign_in(&mut victim, "v1").await;
    assert_eq!(error_of(&answer), "account_not_linked");
    assert!(!victim.has_session());
}

#[tokio::test]
async fn a_verified_local_account_is_linked_only_on_a_verified_provider_email() {
    let h = Harness::new(&[]).await;
    h.verified_password_account().await;

    // The provider does not assert the address: not linked.
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let mut claims = h.claims(&started);
    claims["email_verified"] = json!(false);
    let answer = h
        .callback(&mut browser, &started, "u1", Some(h.key.sign(&claims)))
        .await;
    assert_eq!(error_of(&answer), "account_not_linked");
    assert!(!browser.has_session());

    // It does: linked, and the sign-in lands on the callback URL (not a new user).
    let mut browser = Browser::new(&h.app);
    let answer = h.sign_in(&mut browser, "u2").await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
    assert!(browser.has_session());
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    let mut providers: Vec<String> = h
        .state
        .db()
        .list_accounts(&user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.provider_id)
        .collect();
    providers.sort();
    assert_eq!(providers, ["corp", "credential"]);

    // With linking off, never.
    let h = Harness::new(&["--account-linking", "off"]).await;
    h.verified_password_account().await;
    let mut browser = Browser::new(&h.app);
    let answer = h.sign_in(&mut browser, "u3").await;
    assert_eq!(error_of(&answer), "account_not_linked");
}

/// Three callbacks for one identity at once (a double click, two tabs) end as one user
/// with one account of the provider, every browser signed in as that user: for a new user,
/// and when linking a verified password account. Better Auth's `account` table has no
/// unique index on provider and subject: checked, then written, two callbacks would add
/// two accounts, and the loser of the user's email would get `unable_to_create_user`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callbacks_for_one_identity_make_one_user_and_one_account() {
    for linking in [false, true] {
        let h = Harness::new(&[]).await;
        if linking {
            h.verified_password_account().await;
        }
        let mut browsers = [
            Browser::new(&h.app),
            Browser::new(&h.app),
            Browser::new(&h.app),
        ];
        let mut started = Vec::new();
        for browser in &mut browsers {
            started.push(h.start(browser).await);
        }
        let tokens: Vec<String> = started.iter().map(|s| h.key.sign(&h.claims(s))).collect();
        let [a, b, c] = &mut browsers;
        let answers = tokio::join!(
            h.callback(a, &started[0], "c0", Some(tokens[0].clone())),
            h.callback(b, &started[1], "c1", Some(tokens[1].clone())),
            h.callback(c, &started[2], "c2", Some(tokens[2].clone())),
        );
        for answer in [&answers.0, &answers.1, &answers.2] {
            assert!(
                matches!(answer.location.as_deref(), Some("/welcome" | "/dashboard")),
                "linking {linking}: {:?} {}",
                answer.location,
                answer.text
            );
        }
        assert!(browsers.iter().all(Browser::has_session));
        let user = h
            .state
            .db()
            .find_user_by_email(EMAIL)
            .await
            .unwrap()
            .unwrap();
        let mut providers: Vec<String> = h
            .state
            .db()
            .list_accounts(&user.id)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.provider_id)
            .collect();
        providers.sort();
        let expected: &[&str] = if linking {
            &["corp", "credential"]
        } else {
            &["corp"]
        };
        assert_eq!(providers, expected, "linking {linking}");
    }
}

/// A sign-in by `browser` whose genuine ID token `change` alters first.
async fn sign_in_claiming(
    h: &Harness,
    browser: &mut Browser,
    code: &str,
    change: impl Fn(&mut Value),
) -> Answer {
    let started = h.start(browser).await;
    let mut claims = h.claims(&started);
    change(&mut claims);
    h.callback(browser, &started, code, Some(h.key.sign(&claims)))
        .await
}

/// The verification mails queued for `email`.
async fn verification_mails(h: &Harness, email: &str) -> usize {
    h.state
        .db()
        .list_mail()
        .await
        .unwrap()
        .iter()
        .filter(|m| m.kind == "verify-email" && m.recipient == email)
        .count()
}

#[tokio::test]
async fn a_new_provider_user_with_an_address_not_vouched_for_is_mailed_the_link() {
    let h = Harness::new(&["--verification-on-sign-up", "on"]).await;
    let mut browser = Browser::new(&h.app);
    let answer = sign_in_claiming(&h, &mut browser, "n1", |c| {
        c["email_verified"] = json!(false);
    })
    .await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert!(!user.email_verified);
    assert_eq!(verification_mails(&h, EMAIL).await, 1);

    // Vouched for: verified at once, and no mail.
    let h = Harness::new(&["--verification-on-sign-up", "on"]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "n2").await;
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert!(user.email_verified);
    assert_eq!(verification_mails(&h, EMAIL).await, 0);

    // Without verification mail on sign-up (the default unless verification is required).
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    sign_in_claiming(&h, &mut browser, "n3", |c| {
        c["email_verified"] = json!(false)
    })
    .await;
    assert_eq!(verification_mails(&h, EMAIL).await, 0);
}

#[tokio::test]
async fn a_linked_provider_vouching_for_the_users_own_address_verifies_it() {
    let h = Harness::new(&[]).await;
    let unverified = |c: &mut Value| c["email_verified"] = json!(false);
    let mut browser = Browser::new(&h.app);
    sign_in_claiming(&h, &mut browser, "p1", unverified).await;
    let verified = || async {
        let user = h
            .state
            .db()
            .find_user_by_email(EMAIL)
            .await
            .unwrap()
            .unwrap();
        user.email_verified
    };
    assert!(!verified().await);

    // Vouching for another address proves nothing about this one.
    let mut browser = Browser::new(&h.app);
    let answer = sign_in_claiming(&h, &mut browser, "p2", |c| {
        c["email"] = json!("someone.else@example.com");
    })
    .await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
    assert!(!verified().await);

    // The same address, vouched for (in another case): verified, as in Better Auth.
    let mut browser = Browser::new(&h.app);
    sign_in_claiming(&h, &mut browser, "p3", |c| {
        c["email"] = json!(EMAIL.to_uppercase());
    })
    .await;
    assert!(verified().await);
}

#[tokio::test]
async fn every_callback_url_is_validated() {
    let h = Harness::new(&[]).await;
    for field in ["callbackURL", "errorCallbackURL", "newUserCallbackURL"] {
        for evil in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
        ] {
            let mut browser = Browser::new(&h.app);
            let answer = browser
                .send(
                    "POST",
                    "/sign-in/oauth2",
                    Some(json!({ "providerId": "corp", field: evil })),
                )
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{field} {evil}");
            assert_eq!(answer.body["message"], format!("Invalid {field}"));
            assert!(!browser.cookies.contains_key("better-auth.state"));
        }
    }
    let mut browser = Browser::new(&h.app);
    let answer = browser
        .send(
            "POST",
            "/sign-in/oauth2",
            Some(json!({ "providerId": "nope" })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["message"], "No config found for provider nope");
}

#[tokio::test]
async fn a_provider_error_is_reflected_encoded() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let state = &started.params["state"];
    let answer = browser
        .send(
            "GET",
            &format!(
                "/oauth2/callback/corp?state={state}&error=access_denied%26next%3Dhttps%3A%2F%2Fevil.example&error_description=%3Cscript%3E"
            ),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let location = answer.location.unwrap();
    assert_eq!(
        location,
        "/oops?error=access_denied%26next%3Dhttps%3A%2F%2Fevil.example&error_description=%3Cscript%3E"
    );
    let p = params(&format!("http://x{location}"));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(!browser.has_session());
}

#[tokio::test]
async fn second_factor_after_an_oidc_sign_in() {
    let h = Harness::new(&["--two-factor", "on"]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "f1").await;
    assert!(browser.has_session());
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    let secret = &h.state.config().secret;
    let db = h.state.db();
    db.replace_two_factor(
        &user.id,
        &crate::crypto::seal(secret, "JBSWY3DPEHPK3PXP"),
        &crate::crypto::seal(secret, "[]"),
    )
    .await
    .unwrap();
    assert!(db
        .set_two_factor_enabled(&user.id, true, h.state.now())
        .await
        .unwrap());

    // With the hosted pages (the default), the second factor is asked on their page.
    let mut browser = Browser::new(&h.app);
    let answer = h.sign_in(&mut browser, "f2").await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(
        answer.location.as_deref(),
        Some("/auth/two-factor?callbackURL=%2Fdashboard")
    );
    assert!(!browser.has_session());
    assert!(answer
        .set_cookies
        .iter()
        .any(|c| c.starts_with("better-auth.two_factor=")));
    // The pending sign-in is real: the TOTP step completes it.
    use crate::auth::two_factor::totp;
    let code = totp::code_at("JBSWY3DPEHPK3PXP", totp::step_at(h.state.now().timestamp()));
    let answer = browser
        .send(
            "POST",
            "/two-factor/verify-totp",
            Some(json!({ "code": code })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(browser.has_session());
}

#[tokio::test]
async fn second_factor_after_an_oidc_sign_in_without_the_pages() {
    let h = Harness::new(&["--two-factor", "on", "--pages", "off"]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "f1").await;
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert!(h
        .state
        .db()
        .set_two_factor_enabled(&user.id, true, h.state.now())
        .await
        .unwrap());
    let mut browser = Browser::new(&h.app);
    let answer = h.sign_in(&mut browser, "f2").await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/dashboard?twoFactorRedirect=true")
    );
    assert!(!browser.has_session());
    assert!(browser.cookies.contains_key("better-auth.two_factor"));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_again_after_the_cooldown() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "k1").await;
    assert!(browser.has_session());
    assert_eq!(h.provider.state.lock().unwrap().jwks_fetches, 1);

    let rotated = Key::eddsa("k2", 3);
    h.provider.publish(std::slice::from_ref(&rotated));
    // Within the cooldown the unknown key is not looked up again: refused.
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let answer = h
        .callback(
            &mut browser,
            &started,
            "k2",
            Some(rotated.sign(&h.claims(&started))),
        )
        .await;
    assert_eq!(error_of(&answer), "invalid_id_token");
    assert_eq!(h.provider.state.lock().unwrap().jwks_fetches, 1);

    // After it, the JWKS is fetched again and the new key verifies.
    h.clock.advance(chrono::Duration::seconds(61));
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let answer = h
        .callback(
            &mut browser,
            &started,
            "k3",
            Some(rotated.sign(&h.claims(&started))),
        )
        .await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
    assert_eq!(h.provider.state.lock().unwrap().jwks_fetches, 2);
}

#[tokio::test]
async fn without_providers_the_endpoints_are_not_served() {
    let (app, _clock, path) = test_app::app(&["--rate-limit", "off"]).await;
    let mut browser = Browser::new(&app);
    let answer = browser
        .send(
            "POST",
            "/sign-in/oauth2",
            Some(json!({ "providerId": "corp" })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let _ = std::fs::remove_file(path);
}

impl Harness {
    /// Starts a link flow for the signed-in `browser`.
    async fn start_link(&self, browser: &mut Browser) -> Started {
        let answer = browser
            .send(
                "POST",
                "/oauth2/link",
                Some(json!({
                    "providerId": "corp",
                    "callbackURL": "/settings",
                    "errorCallbackURL": "/settings/error",
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["redirect"], true);
        Started {
            params: params(answer.body["url"].as_str().unwrap()),
        }
    }

    /// Completes a link flow with an ID token for `claims` changed by `change`.
    async fn link(&self, browser: &mut Browser, code: &str, change: fn(&mut Value)) -> Answer {
        let started = self.start_link(browser).await;
        let mut claims = self.claims(&started);
        change(&mut claims);
        let token = self.key.sign(&claims);
        self.callback(browser, &started, code, Some(token)).await
    }

    /// A browser signed in with a password as a new, unverified user `email`.
    async fn password_user(&self, email: &str) -> Browser {
        let mut browser = Browser::new(&self.app);
        let answer = browser
            .send(
                "POST",
                "/sign-up/email",
                Some(json!({"name": "Ada", "email": email, "password": "a long passphrase"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(browser.has_session());
        browser
    }

    async fn providers_of(&self, browser: &mut Browser) -> Vec<String> {
        let answer = browser.send("GET", "/list-accounts", None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        // Sorted: rows created at the same instant of the test clock list in any order.
        let mut providers: Vec<String> = answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["providerId"].as_str().unwrap().to_string())
            .collect();
        providers.sort();
        providers
    }
}

#[tokio::test]
async fn a_signed_in_user_links_a_provider_under_the_core_rules() {
    let h = Harness::new(&[]).await;
    let mut anonymous = Browser::new(&h.app);
    let answer = anonymous
        .send(
            "POST",
            "/oauth2/link",
            Some(json!({"providerId": "corp", "callbackURL": "/settings"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let mut ada = h.password_user(EMAIL).await;
    let before = ada.cookies["better-auth.session_token"].clone();

    // The provider does not say the address is verified, and is not trusted: refused.
    let answer = h
        .link(&mut ada, "l1", |c| c["email_verified"] = json!(false))
        .await;
    assert_eq!(error_of(&answer), "unable_to_link_account");
    assert!(answer.location.unwrap().starts_with("/settings/error?"));
    // Another address: refused.
    let answer = h
        .link(&mut ada, "l2", |c| {
            c["email"] = json!("someone@example.com")
        })
        .await;
    assert_eq!(error_of(&answer), "email_doesn't_match");
    assert_eq!(h.providers_of(&mut ada).await, ["credential"]);

    // The same verified address: linked, the session unchanged.
    let answer = h.link(&mut ada, "l3", |_| {}).await;
    assert_eq!(answer.location.as_deref(), Some("/settings"));
    assert_eq!(ada.cookies["better-auth.session_token"], before);
    assert_eq!(h.providers_of(&mut ada).await, ["corp", "credential"]);
    let listed = ada.send("GET", "/list-accounts", None).await;
    let corp = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["providerId"] == "corp")
        .unwrap();
    assert_eq!(corp["accountId"], SUBJECT);
    assert_eq!(corp["scopes"], json!(["openid", "email", "profile"]));
    let keys: Vec<&String> = corp.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "providerId",
            "accountId",
            "userId",
            "createdAt",
            "updatedAt",
            "scopes"
        ]
    );

    // The identity now signs in as Ada.
    let mut elsewhere = Browser::new(&h.app);
    let answer = h.sign_in(&mut elsewhere, "l4").await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
    let session = elsewhere.send("GET", "/get-session", None).await;
    assert_eq!(session.body["user"]["email"], EMAIL);

    // Linking the same identity to another user is refused.
    let mut grace = h.password_user("grace@example.com").await;
    let answer = h
        .link(&mut grace, "l5", |c| {
            c["email"] = json!("grace@example.com")
        })
        .await;
    assert_eq!(
        error_of(&answer),
        "account_already_linked_to_different_user"
    );
    assert_eq!(h.providers_of(&mut grace).await, ["credential"]);
}

#[tokio::test]
async fn better_auths_linking_options_are_applied() {
    // disableImplicitLinking: a verified local account is not linked by a sign-in...
    let options = r#"{"disableImplicitLinking":true}"#;
    let h = Harness::new(&["--account-linking", options]).await;
    let mut ada = h.password_user(EMAIL).await;
    h.state
        .db()
        .mark_email_verified(EMAIL, h.state.now())
        .await
        .unwrap();
    let mut browser = Browser::new(&h.app);
    let answer = h.sign_in(&mut browser, "i1").await;
    assert_eq!(error_of(&answer), "account_not_linked");
    assert!(!browser.has_session());
    // ... but its owner still links from the account.
    let answer = h.link(&mut ada, "i2", |_| {}).await;
    assert_eq!(answer.location.as_deref(), Some("/settings"));
    assert_eq!(h.providers_of(&mut ada).await, ["corp", "credential"]);

    // allowDifferentEmails and updateUserInfoOnLink: the signed-in owner links an identity
    // with another address, and takes its name and picture.
    let options = r#"{"allowDifferentEmails":true,"updateUserInfoOnLink":true}"#;
    let h = Harness::new(&["--account-linking", options]).await;
    let mut ada = h.password_user(EMAIL).await;
    let answer = h
        .link(&mut ada, "d1", |c| c["email"] = json!("ada@work.example"))
        .await;
    assert_eq!(answer.location.as_deref(), Some("/settings"));
    assert_eq!(h.providers_of(&mut ada).await, ["corp", "credential"]);
    let session = ada.send("GET", "/get-session", None).await;
    assert_eq!(
        session.body["user"]["email"], EMAIL,
        "the address is the user's own still"
    );
    assert_eq!(session.body["user"]["name"], "Ada Lovelace");
    assert_eq!(session.body["user"]["image"], "https://img.example/ada.png");

    // Without them (the default), neither.
    let h = Harness::new(&[]).await;
    let mut ada = h.password_user(EMAIL).await;
    h.link(&mut ada, "d2", |_| {}).await;
    let session = ada.send("GET", "/get-session", None).await;
    assert_eq!(session.body["user"]["name"], "Ada");
}

#[tokio::test]
async fn a_trusted_provider_links_without_asserting_the_address() {
    let h = Harness::new(&["--trusted-providers", "corp"]).await;
    let mut ada = h.password_user(EMAIL).await;
    let answer = h
        .link(&mut ada, "t1", |c| c["email_verified"] = json!(false))
        .await;
    assert_eq!(answer.location.as_deref(), Some("/settings"));
    assert_eq!(h.providers_of(&mut ada).await, ["corp", "credential"]);
}

#[tokio::test]
async fn unlinking_the_last_way_to_sign_in_is_refused() {
    let h = Harness::new(&[]).await;
    // A user with only the provider.
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "u1").await;
    let answer = browser
        .send(
            "POST",
            "/unlink-account",
            Some(json!({"providerId": "corp"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["message"], "You can't unlink your last account");
    let answer = browser
        .send(
            "POST",
            "/unlink-account",
            Some(json!({"providerId": "github"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["code"], "ACCOUNT_NOT_FOUND");
    assert_eq!(h.providers_of(&mut browser).await, ["corp"]);

    // A user with a password and the provider: one may go, then not the other.
    let mut grace = h.password_user("grace@example.com").await;
    let answer = h
        .link(&mut grace, "u2", |c| {
            c["email"] = json!("grace@example.com");
            c["sub"] = json!("grace-subject");
        })
        .await;
    assert_eq!(answer.location.as_deref(), Some("/settings"));
    let answer = grace
        .send(
            "POST",
            "/unlink-account",
            Some(json!({"providerId": "corp", "accountId": "another-subject"})),
        )
        .await;
    assert_eq!(answer.body["code"], "ACCOUNT_NOT_FOUND");
    let answer = grace
        .send(
            "POST",
            "/unlink-account",
            Some(json!({"providerId": "corp", "accountId": "grace-subject"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"status": true}));
    assert_eq!(h.providers_of(&mut grace).await, ["credential"]);
    let answer = grace
        .send(
            "POST",
            "/unlink-account",
            Some(json!({"providerId": "credential"})),
        )
        .await;
    assert_eq!(answer.body["message"], "You can't unlink your last account");
    assert_eq!(h.providers_of(&mut grace).await, ["credential"]);
}

/// Provider mix-up: a flow started with one provider whose answer is delivered to another
/// provider's callback. Its code is never sent to that provider.
#[tokio::test]
async fn a_state_answered_at_another_providers_callback_is_refused() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    let started = h.start(&mut browser).await;
    let token = h.key.sign(&h.claims(&started));
    h.provider.grant("m1", Some(token), None);
    let state = &started.params["state"];
    let answer = browser
        .send(
            "GET",
            &format!("/oauth2/callback/other?code=m1&state={state}"),
            None,
        )
        .await;
    assert_eq!(error_of(&answer), "state_mismatch");
    assert!(!browser.has_session());
    assert_eq!(h.provider.state.lock().unwrap().token_calls, 0);
    assert_eq!(h.user_count().await, 0);
}

/// The form token of a hosted page.
fn csrf_of(page: &Answer) -> String {
    let at = page.text.find("name=\"csrf\" value=\"").unwrap() + 19;
    let rest = &page.text[at..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_plain_oauth2_provider_is_read_through_its_user_info_mapping() {
    let provider = Provider::start(&[]).await;
    let b = &provider.base;
    let config = json!([{
        "providerId": "plain",
        "displayName": "Acme Accounts",
        "authorizationUrl": format!("{b}/authorize"),
        "tokenUrl": format!("{b}/token"),
        "userInfoUrl": format!("{b}/userinfo"),
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "pkce": true,
        "userInfoMapping": {
            "id": "data.user_id",
            "email": "data.attributes.mail",
            "emailVerified": "data.attributes.mail_confirmed",
            "name": "data.attributes.display",
            "image": "data.avatar",
        },
    }])
    .to_string();
    let (state, _clock, path) =
        test_app::state(&["--rate-limit", "off", "--generic-oauth", &config]).await;
    let app = crate::app::router(state.clone());
    // No OpenID Connect names at all: only the mapping finds the user.
    provider.state.lock().unwrap().user_info = json!({"data": {
        "user_id": 90125,
        "attributes": {"mail": "Ada@Example.com", "mail_confirmed": "true", "display": "Ada L."},
        "avatar": "https://img.example/a.png",
    }});
    let mut browser = Browser::new(&app);
    let page = browser.send("GET", "/auth/sign-in", None).await;
    assert!(
        page.text.contains("Continue with Acme Accounts"),
        "{}",
        page.text
    );
    let answer = browser
        .send(
            "POST",
            "/sign-in/oauth2",
            Some(json!({"providerId": "plain", "callbackURL": "/dashboard"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let started = params(answer.body["url"].as_str().unwrap());
    provider.grant("m1", None, started.get("code_challenge").cloned());
    let answer = browser
        .send(
            "GET",
            &format!("/oauth2/callback/plain?code=m1&state={}", started["state"]),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text);
    assert!(browser.has_session());
    let user = state
        .db()
        .find_user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.name, "Ada L.");
    assert!(user.email_verified);
    assert_eq!(user.image.as_deref(), Some("https://img.example/a.png"));
    let accounts = state.db().list_accounts(&user.id).await.unwrap();
    assert_eq!(accounts[0].provider_id, "plain");
    assert_eq!(accounts[0].account_id, "90125");

    // A mapping that leads nowhere for the subject: nobody signs in.
    provider.state.lock().unwrap().user_info =
        json!({"data": {"attributes": {"mail": "x@example.com"}}});
    let mut browser = Browser::new(&app);
    let answer = browser
        .send(
            "POST",
            "/sign-in/oauth2",
            Some(json!({"providerId": "plain"})),
        )
        .await;
    let started = params(answer.body["url"].as_str().unwrap());
    provider.grant("m2", None, started.get("code_challenge").cloned());
    let answer = browser
        .send(
            "GET",
            &format!("/oauth2/callback/plain?code=m2&state={}", started["state"]),
            None,
        )
        .await;
    assert_eq!(error_of(&answer), "user_info_is_missing");
    assert!(!browser.has_session());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn the_hosted_pages_continue_with_each_provider() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    let page = browser
        .send("GET", "/auth/sign-in?callbackURL=%2Fdashboard", None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Continue with corp"), "{}", page.text);
    assert!(page.text.contains("Continue with other"));
    let sign_up = browser.send("GET", "/auth/sign-up", None).await;
    assert!(sign_up.text.contains("Continue with corp"));

    // Without the page's form token: refused, no flow started.
    let answer = browser
        .post_form("/auth/sign-in/provider", &[("providerId", "corp")])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("better-auth.state"));

    let csrf = csrf_of(&page);
    let answer = browser
        .post_form(
            "/auth/sign-in/provider",
            &[
                ("csrf", &csrf),
                ("providerId", "corp"),
                ("callbackURL", "/dashboard"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let location = answer.location.clone().unwrap();
    assert!(
        location.starts_with(&format!("{}/authorize?", h.provider.base)),
        "{location}"
    );
    // The redirect after the form post is allowed by the page's form-action.
    let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains(&h.provider.base), "{csp}");
    assert!(browser.cookies.contains_key("better-auth.state"));
    let started = Started {
        params: params(&location),
    };
    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut browser, &started, "p1", Some(token)).await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
    assert!(browser.has_session());
}

#[tokio::test]
async fn a_refused_provider_sign_in_lands_on_the_sign_in_page_saying_why() {
    let h = Harness::new(&[]).await;
    let mut squatter = Browser::new(&h.app);
    squatter
        .send(
            "POST",
            "/sign-up/email",
            Some(json!({"name": "Mallory", "email": EMAIL, "password": "attacker's password"})),
        )
        .await;
    let mut browser = Browser::new(&h.app);
    let page = browser
        .send("GET", "/auth/sign-in?callbackURL=%2Fdashboard", None)
        .await;
    let csrf = csrf_of(&page);
    let answer = browser
        .post_form(
            "/auth/sign-in/provider",
            &[
                ("csrf", &csrf),
                ("providerId", "corp"),
                ("callbackURL", "/dashboard"),
            ],
        )
        .await;
    let started = Started {
        params: params(answer.location.as_deref().unwrap()),
    };
    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut browser, &started, "p1", Some(token)).await;
    let location = answer.location.unwrap();
    assert_eq!(
        location,
        "/auth/sign-in?callbackURL=%2Fdashboard&error=account_not_linked"
    );
    assert!(!browser.has_session());
    let page = browser.send("GET", &location, None).await;
    assert!(
        page.text
            .contains("An account already uses this email address. Sign in to it another way"),
        "{}",
        page.text
    );
    // The URL's own text is never shown.
    let page = browser
        .send("GET", "/auth/sign-in?error=%3Cb%3Egotcha%3C%2Fb%3E", None)
        .await;
    assert!(!page.text.contains("gotcha"));
    assert!(page.text.contains("did not succeed"));
}

#[tokio::test]
async fn the_account_page_links_and_unlinks_providers() {
    let h = Harness::new(&[]).await;
    let mut ada = h.password_user(EMAIL).await;
    let page = ada.send("GET", "/auth/account", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Sign-in methods"), "{}", page.text);
    assert!(page.text.contains("Link corp"));

    // A refused link comes back to the account page saying why.
    let csrf = csrf_of(&page);
    let answer = ada
        .post_form(
            "/auth/account/providers/link",
            &[("csrf", &csrf), ("providerId", "corp")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let started = Started {
        params: params(answer.location.as_deref().unwrap()),
    };
    let mut claims = h.claims(&started);
    claims["email"] = json!("someone-else@example.com");
    let answer = h
        .callback(&mut ada, &started, "a1", Some(h.key.sign(&claims)))
        .await;
    let location = answer.location.unwrap();
    assert!(
        location.starts_with("/auth/account?error=email_doesn"),
        "{location}"
    );
    let page = ada.send("GET", &location, None).await;
    assert!(page.text.contains("is not this account"), "{}", page.text);

    // Linked.
    let csrf = csrf_of(&page);
    let answer = ada
        .post_form(
            "/auth/account/providers/link",
            &[("csrf", &csrf), ("providerId", "corp")],
        )
        .await;
    let started = Started {
        params: params(answer.location.as_deref().unwrap()),
    };
    let token = h.key.sign(&h.claims(&started));
    let answer = h.callback(&mut ada, &started, "a2", Some(token)).await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/auth/account?notice=provider-linked")
    );
    let page = ada
        .send("GET", "/auth/account?notice=provider-linked", None)
        .await;
    assert!(page.text.contains("The provider is linked"));
    assert!(page.text.contains("aria-label=\"Unlink corp\""));
    assert_eq!(h.providers_of(&mut ada).await, ["corp", "credential"]);

    // Unlinked.
    let csrf = csrf_of(&page);
    let answer = ada
        .post_form(
            "/auth/account/providers/unlink",
            &[
                ("csrf", &csrf),
                ("providerId", "corp"),
                ("accountId", SUBJECT),
            ],
        )
        .await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/auth/account?notice=provider-unlinked")
    );
    assert_eq!(h.providers_of(&mut ada).await, ["credential"]);
}

#[tokio::test]
async fn the_account_page_keeps_the_last_way_to_sign_in() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "o1").await;
    let page = browser.send("GET", "/auth/account", None).await;
    assert!(page.text.contains("cannot be unlinked"), "{}", page.text);
    let csrf = csrf_of(&page);
    let answer = browser
        .post_form(
            "/auth/account/providers/unlink",
            &[
                ("csrf", &csrf),
                ("providerId", "corp"),
                ("accountId", SUBJECT),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.text.contains("unlink your last account"),
        "{}",
        answer.text
    );
    assert_eq!(h.providers_of(&mut browser).await, ["corp"]);
}

#[tokio::test]
async fn a_provider_whose_keys_cannot_be_fetched_signs_nobody_in() {
    let h = Harness::new(&[]).await;
    h.provider.state.lock().unwrap().jwks_down = true;
    let mut browser = Browser::new(&h.app);
    let answer = h.sign_in(&mut browser, "d1").await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(error_of(&answer), "provider_unavailable");
    assert!(answer.location.unwrap().starts_with("/oops?"));
    assert!(!browser.has_session());
    assert_eq!(h.user_count().await, 0);
}

#[tokio::test]
async fn provider_tokens_are_handed_out_and_refreshed() {
    let h = Harness::new(&[]).await;
    let mut anonymous = Browser::new(&h.app);
    let answer = anonymous
        .send(
            "POST",
            "/get-access-token",
            Some(json!({"providerId": "corp"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "c1").await;
    let answer = browser
        .send(
            "POST",
            "/get-access-token",
            Some(json!({"providerId": "corp"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["accessToken"], "access-c1");
    assert_eq!(answer.body["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(
        answer.body["accessTokenExpiresAt"],
        crate::db::js_date(&(h.state.now() + chrono::Duration::seconds(3600)))
    );
    assert!(answer.body["idToken"].is_string());
    let answer = browser
        .send(
            "POST",
            "/get-access-token",
            Some(json!({"providerId": "github"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["message"], "Provider github is not supported.");
    let answer = browser
        .send(
            "POST",
            "/get-access-token",
            Some(json!({"providerId": "other"})),
        )
        .await;
    assert_eq!(answer.body["code"], "ACCOUNT_NOT_FOUND");

    // An explicit refresh: the new tokens, stored sealed.
    let answer = browser
        .send(
            "POST",
            "/refresh-token",
            Some(json!({"providerId": "corp"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["accessToken"], "access-refreshed-1");
    assert_eq!(answer.body["refreshToken"], "refresh-rotated-1");
    assert_eq!(answer.body["accountId"], SUBJECT);
    assert_eq!(answer.body["scope"], "openid,email,profile");
    let user = h
        .state
        .db()
        .find_user_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    let account = &h.state.db().list_accounts(&user.id).await.unwrap()[0];
    let secret = &h.state.config().secret;
    let stored = account.refresh_token.as_deref().unwrap();
    assert_eq!(
        crate::crypto::open(secret, stored).unwrap(),
        "refresh-rotated-1"
    );

    // An access token about to expire is refreshed before it is handed out.
    h.clock.advance(chrono::Duration::seconds(3598));
    let answer = browser
        .send(
            "POST",
            "/get-access-token",
            Some(json!({"providerId": "corp"})),
        )
        .await;
    assert_eq!(answer.body["accessToken"], "access-refreshed-2");
    assert_eq!(h.provider.state.lock().unwrap().refreshes, 2);
}

#[tokio::test]
async fn account_info_asks_the_provider_about_the_users_own_account() {
    let h = Harness::new(&[]).await;
    let mut browser = Browser::new(&h.app);
    h.sign_in(&mut browser, "i1").await;
    let answer = browser
        .send("GET", &format!("/account-info?accountId={SUBJECT}"), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["user"]["id"], SUBJECT);
    assert_eq!(answer.body["user"]["email"], EMAIL);
    assert_eq!(answer.body["data"], json!({"sub": SUBJECT, "email": EMAIL}));
    // Another subject, or none: not this user's.
    let mut grace = h.password_user("grace@example.com").await;
    let answer = grace
        .send("GET", &format!("/account-info?accountId={SUBJECT}"), None)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["code"], "ACCOUNT_NOT_FOUND");
    let answer = browser.send("GET", "/account-info", None).await;
    assert_eq!(answer.body["code"], "ACCOUNT_NOT_FOUND");
}

#[path = "social_tests.rs"]
mod social;
