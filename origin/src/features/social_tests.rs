//! Better Auth's built-in social providers, in-process against one stand-in server (a
//! real HTTP server on a loopback port) that plays each provider through the endpoint
//! overrides: the authorization URL each one is sent to, the token request it receives,
//! and its profile mapped into the user and account rows; `/sign-in/social`'s redirect and
//! `idToken` flows, `/link-social`, and Apple's form post.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{error_of, params, unsigned, Answer, Browser, Key, CLIENT_ID, CLIENT_SECRET};
use crate::app::test_app;
use crate::app::AppState;
use crate::clock::ManualClock;
use crate::db::AccountRow;

/// A token request as the stand-in received it.
#[derive(Clone, Debug)]
struct TokenRequest {
    path: String,
    accept: Option<String>,
    authorization: Option<String>,
    form: Vec<(String, String)>,
}

impl TokenRequest {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct StandInState {
    keys: Vec<Value>,
    /// code → (id token, PKCE challenge)
    grants: HashMap<String, (Option<String>, Option<String>)>,
    token_requests: Vec<TokenRequest>,
    /// Path → JSON answered to a bearer GET (profiles, `/user/emails`).
    profiles: HashMap<String, Value>,
    bearers: Vec<String>,
}

/// Every provider's endpoints on one loopback server, under `/<provider>/…`.
#[derive(Clone)]
struct StandIn {
    base: String,
    state: Arc<Mutex<StandInState>>,
}

async fn token(
    State(s): State<StandIn>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    let text =
        |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    let request = TokenRequest {
        path: uri.path().to_string(),
        accept: text(header::ACCEPT),
        authorization: text(header::AUTHORIZATION),
        form,
    };
    let mut state = s.state.lock().unwrap();
    state.token_requests.push(request.clone());
    let refuse = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": e })));
    if request.field("client_id") != Some(CLIENT_ID)
        || request.field("client_secret") != Some(CLIENT_SECRET)
    {
        return refuse("invalid_client");
    }
    let code = request.field("code").unwrap_or_default().to_string();
    let Some((id_token, challenge)) = state.grants.remove(&code) else {
        return refuse("invalid_grant");
    };
    if let Some(challenge) = challenge {
        let verifier = request.field("code_verifier").unwrap_or_default();
        if crate::auth::oauth::flow::code_challenge(verifier) != challenge {
            return refuse("invalid_grant");
        }
    }
    let mut answer = json!({
        "access_token": format!("access-{code}"),
        "refresh_token": format!("refresh-{code}"),
        "token_type": "Bearer",
        "expires_in": 7200,
        "scope": "read:user user:email",
    });
    if let Some(id_token) = id_token {
        answer["id_token"] = json!(id_token);
    }
    (StatusCode::OK, Json(answer))
}

async fn jwks(State(s): State<StandIn>) -> Json<Value> {
    Json(json!({ "keys": s.state.lock().unwrap().keys }))
}

async fn profile(
    State(s): State<StandIn>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut state = s.state.lock().unwrap();
    if let Some(bearer) = headers.get(header::AUTHORIZATION) {
        state.bearers.push(bearer.to_str().unwrap().to_string());
    }
    match state.profiles.get(uri.path()) {
        Some(value) => (StatusCode::OK, Json(value.clone())),
        None => (StatusCode::NOT_FOUND, Json(json!({}))),
    }
}

impl StandIn {
    async fn start(key: &Key) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stand_in = StandIn {
            base,
            state: Arc::default(),
        };
        stand_in.state.lock().unwrap().keys = vec![key.jwk()];
        let app = Router::new()
            .route("/{provider}/token", post(token))
            .route("/{provider}/jwks", get(jwks))
            .route("/{provider}/{resource}", get(profile))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    /// `EDGEAUTH_SOCIAL_PROVIDERS` with every provider pointed here.
    fn config(&self) -> String {
        let b = &self.base;
        let common = |p: &str| {
            json!({
                "clientId": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "authorizationEndpoint": format!("{b}/{p}/authorize"),
                "tokenEndpoint": format!("{b}/{p}/token"),
            })
        };
        let mut google = common("google");
        google["jwksUrl"] = json!(format!("{b}/google/jwks"));
        let mut github = common("github");
        github["userInfoEndpoint"] = json!(format!("{b}/github/user"));
        github["emailsEndpoint"] = json!(format!("{b}/github/emails"));
        let mut microsoft = common("microsoft");
        microsoft["jwksUrl"] = json!(format!("{b}/microsoft/jwks"));
        microsoft["idTokenIssuer"] = json!("https://login.example/{tenantid}/v2.0");
        let mut apple = common("apple");
        apple["jwksUrl"] = json!(format!("{b}/apple/jwks"));
        apple["appBundleIdentifier"] = json!("com.example.app");
        let mut discord = common("discord");
        discord["userInfoEndpoint"] = json!(format!("{b}/discord/me"));
        let mut gitlab = common("gitlab");
        gitlab["userInfoEndpoint"] = json!(format!("{b}/gitlab/user"));
        json!({
            "google": google, "github": github, "microsoft": microsoft,
            "apple": apple, "discord": discord, "gitlab": gitlab,
        })
        .to_string()
    }

    fn grant(&self, code: &str, id_token: Option<String>, challenge: Option<String>) {
        self.state
            .lock()
            .unwrap()
            .grants
            .insert(code.into(), (id_token, challenge));
    }

    fn serve(&self, path: &str, value: Value) {
        self.state
            .lock()
            .unwrap()
            .profiles
            .insert(path.into(), value);
    }

    fn last_token_request(&self) -> TokenRequest {
        self.state
            .lock()
            .unwrap()
            .token_requests
            .last()
            .cloned()
            .unwrap()
    }
}

struct Social {
    state: AppState,
    app: Router,
    _clock: Arc<ManualClock>,
    stand_in: StandIn,
    key: Key,
    path: std::path::PathBuf,
}

impl Drop for Social {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// A sign-in started with `/sign-in/social`.
struct Begun {
    url: url::Url,
    params: HashMap<String, String>,
}

impl Social {
    async fn new(extra: &[&str]) -> Social {
        let key = Key::es256("s1", 9);
        let stand_in = StandIn::start(&key).await;
        let config = stand_in.config();
        let mut args = vec!["--rate-limit", "off", "--social-providers", &config];
        args.extend_from_slice(extra);
        let (state, clock, path) = test_app::state(&args).await;
        let app = crate::app::router(state.clone());
        Social {
            state,
            app,
            _clock: clock,
            stand_in,
            key,
            path,
        }
    }

    fn now(&self) -> i64 {
        self.state.now().timestamp()
    }

    async fn begin(&self, browser: &mut Browser, provider: &str) -> Begun {
        let answer = browser
            .send(
                "POST",
                "/sign-in/social",
                Some(json!({
                    "provider": provider,
                    "callbackURL": "/dashboard",
                    "newUserCallbackURL": "/welcome",
                    "errorCallbackURL": "/oops",
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["redirect"], true);
        let url = answer.body["url"].as_str().unwrap().to_string();
        // Better Auth also sets Location on the 200.
        assert_eq!(answer.location.as_deref(), Some(url.as_str()));
        Begun {
            params: params(&url),
            url: url::Url::parse(&url).unwrap(),
        }
    }

    /// The provider's redirect back (GET) with `code`.
    async fn come_back(
        &self,
        browser: &mut Browser,
        provider: &str,
        begun: &Begun,
        code: &str,
        id_token: Option<String>,
    ) -> Answer {
        self.stand_in
            .grant(code, id_token, begun.params.get("code_challenge").cloned());
        let state = &begun.params["state"];
        browser
            .send(
                "GET",
                &format!("/callback/{provider}?code={code}&state={state}"),
                None,
            )
            .await
    }

    async fn accounts_of(&self, email: &str) -> (crate::db::User, Vec<AccountRow>) {
        let user = self
            .state
            .db()
            .find_user_by_email(email)
            .await
            .unwrap()
            .expect("the user exists");
        let accounts = self.state.db().list_accounts(&user.id).await.unwrap();
        (user, accounts)
    }

    fn assert_authorization(&self, begun: &Begun, provider: &str) {
        assert_eq!(
            begun.url.origin().ascii_serialization(),
            self.stand_in.base,
            "{provider}"
        );
        assert_eq!(begun.url.path(), format!("/{provider}/authorize"));
        assert_eq!(begun.params["client_id"], CLIENT_ID);
        assert_eq!(begun.params["state"].len(), 32);
        assert_eq!(
            begun.params["redirect_uri"],
            format!("http://localhost:3000/api/auth/callback/{provider}")
        );
    }

    /// The token request: a form post with Better Auth's fields, the secret in the body.
    fn assert_token_request(&self, provider: &str, code: &str, pkce: bool) {
        let request = self.stand_in.last_token_request();
        assert_eq!(request.path, format!("/{provider}/token"));
        assert_eq!(request.accept.as_deref(), Some("application/json"));
        assert_eq!(request.authorization, None);
        assert_eq!(request.field("grant_type"), Some("authorization_code"));
        assert_eq!(request.field("code"), Some(code));
        assert_eq!(
            request.field("redirect_uri"),
            Some(format!("http://localhost:3000/api/auth/callback/{provider}").as_str())
        );
        assert_eq!(request.field("client_id"), Some(CLIENT_ID));
        assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));
        assert_eq!(request.field("code_verifier").is_some(), pkce, "{provider}");
    }

    fn google_claims(&self, nonce: Option<&str>) -> Value {
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "aud": CLIENT_ID,
            "sub": "110169484474386276334",
            "email": "Grace@Example.com",
            "email_verified": true,
            "name": "Grace Hopper",
            "picture": "https://lh3.example/grace.png",
            "iat": self.now(),
            "exp": self.now() + 3600,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        claims
    }
}

#[tokio::test]
async fn google_signs_in_through_the_redirect_flow_in_better_auths_format() {
    let s = Social::new(&[]).await;
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "google").await;
    s.assert_authorization(&begun, "google");
    let p = &begun.params;
    assert_eq!(p["response_type"], "code");
    assert_eq!(p["scope"], "email profile openid");
    assert_eq!(p["code_challenge_method"], "S256");
    assert_eq!(p["include_granted_scopes"], "true");
    assert!(p["nonce"].len() >= 32);

    let token = s.key.sign(&s.google_claims(Some(&p["nonce"])));
    let answer = s
        .come_back(&mut browser, "google", &begun, "g1", Some(token))
        .await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    assert!(browser.has_session());
    s.assert_token_request("google", "g1", true);

    let (user, accounts) = s.accounts_of("grace@example.com").await;
    assert_eq!(user.name, "Grace Hopper");
    assert!(user.email_verified);
    assert_eq!(user.image.as_deref(), Some("https://lh3.example/grace.png"));
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].provider_id, "google");
    assert_eq!(accounts[0].account_id, "110169484474386276334");
    assert_eq!(accounts[0].scope.as_deref(), Some("read:user,user:email"));
    assert_eq!(
        accounts[0].access_token_expires_at,
        Some(s.state.now() + chrono::Duration::seconds(7200))
    );

    // account-info reads Google's profile from the stored ID token, as Better Auth.
    let info = browser
        .send("GET", "/account-info?accountId=110169484474386276334", None)
        .await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.body["user"]["name"], "Grace Hopper");
    assert_eq!(info.body["user"]["email"], "grace@example.com");
    assert_eq!(info.body["user"]["emailVerified"], true);

    // The second sign-in finds the account by provider and subject: no new user.
    let mut again = Browser::new(&s.app);
    let begun = s.begin(&mut again, "google").await;
    // Google's tokens may name the issuer without the scheme (Better Auth accepts both).
    let mut claims = s.google_claims(Some(&begun.params["nonce"]));
    claims["iss"] = json!("accounts.google.com");
    let answer = s
        .come_back(
            &mut again,
            "google",
            &begun,
            "g2",
            Some(s.key.sign(&claims)),
        )
        .await;
    assert_eq!(answer.location.as_deref(), Some("/dashboard"));
}

#[tokio::test]
async fn a_google_id_token_for_another_client_or_nonce_signs_nobody_in() {
    let s = Social::new(&[]).await;
    for (change, why) in [
        (
            (|c: &mut Value| c["aud"] = json!("someone-else")) as fn(&mut Value),
            "audience",
        ),
        (
            |c: &mut Value| c["nonce"] = json!("replayed-nonce"),
            "nonce",
        ),
        (
            |c: &mut Value| c["iss"] = json!("https://evil.example"),
            "issuer",
        ),
    ] {
        let mut browser = Browser::new(&s.app);
        let begun = s.begin(&mut browser, "google").await;
        let mut claims = s.google_claims(Some(&begun.params["nonce"]));
        change(&mut claims);
        let answer = s
            .come_back(
                &mut browser,
                "google",
                &begun,
                why,
                Some(s.key.sign(&claims)),
            )
            .await;
        assert_eq!(error_of(&answer), "invalid_id_token", "{why}");
        assert!(answer.location.unwrap().starts_with("/oops?"));
        assert!(!browser.has_session(), "{why}");
    }
}

#[tokio::test]
async fn github_uses_the_primary_verified_email_and_the_numeric_id() {
    let s = Social::new(&[]).await;
    s.stand_in.serve(
        "/github/user",
        json!({"id": 583231, "login": "octocat", "name": null, "email": null,
               "avatar_url": "https://avatars.example/u/583231"}),
    );
    s.stand_in.serve(
        "/github/emails",
        json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "Octo@Example.com", "primary": true, "verified": true},
        ]),
    );
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "github").await;
    s.assert_authorization(&begun, "github");
    assert_eq!(begun.params["scope"], "read:user user:email");
    assert_eq!(begun.params["code_challenge_method"], "S256");
    assert!(!begun.params.contains_key("nonce"));
    let answer = s
        .come_back(&mut browser, "github", &begun, "h1", None)
        .await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/welcome"),
        "{:?}",
        answer.location
    );
    s.assert_token_request("github", "h1", true);
    assert!(s
        .stand_in
        .state
        .lock()
        .unwrap()
        .bearers
        .iter()
        .all(|b| b == "Bearer access-h1"));

    let (user, accounts) = s.accounts_of("octo@example.com").await;
    assert_eq!(user.name, "octocat");
    assert!(user.email_verified);
    assert_eq!(
        user.image.as_deref(),
        Some("https://avatars.example/u/583231")
    );
    assert_eq!(accounts[0].account_id, "583231");
    assert_eq!(accounts[0].provider_id, "github");

    // account-info maps the provider's answer as the sign-in did.
    let info = browser
        .send("GET", "/account-info?accountId=583231", None)
        .await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(
        info.body["user"],
        json!({"id": "583231", "name": "octocat", "email": "octo@example.com",
               "image": "https://avatars.example/u/583231", "emailVerified": true})
    );
    assert_eq!(info.body["data"]["login"], "octocat");
}

#[tokio::test]
async fn a_github_email_that_github_does_not_call_verified_stays_unverified() {
    let s = Social::new(&[]).await;
    s.stand_in.serve(
        "/github/user",
        json!({"id": 7, "login": "l", "name": "Lin", "email": "lin@example.com"}),
    );
    s.stand_in.serve(
        "/github/emails",
        json!([{"email": "lin@example.com", "primary": true, "verified": false}]),
    );
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "github").await;
    let answer = s
        .come_back(&mut browser, "github", &begun, "h2", None)
        .await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    let (user, _) = s.accounts_of("lin@example.com").await;
    assert_eq!(user.name, "Lin");
    assert!(!user.email_verified);
}

#[tokio::test]
async fn discord_maps_its_profile_and_sends_no_pkce() {
    let s = Social::new(&[]).await;
    s.stand_in.serve(
        "/discord/me",
        json!({"id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
               "discriminator": "0", "avatar": "a_8342729096ea3675442027381ff50dfe",
               "email": "nelly@example.com", "verified": true}),
    );
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "discord").await;
    s.assert_authorization(&begun, "discord");
    assert_eq!(begun.params["scope"], "identify email");
    assert_eq!(begun.params["prompt"], "none");
    assert!(!begun.params.contains_key("code_challenge"));
    let answer = s
        .come_back(&mut browser, "discord", &begun, "d1", None)
        .await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    s.assert_token_request("discord", "d1", false);
    let (user, accounts) = s.accounts_of("nelly@example.com").await;
    assert_eq!(user.name, "Nelly");
    assert!(user.email_verified);
    assert_eq!(
        user.image.as_deref(),
        Some("https://cdn.discordapp.com/avatars/80351110224678912/a_8342729096ea3675442027381ff50dfe.gif")
    );
    assert_eq!(accounts[0].account_id, "80351110224678912");
}

#[tokio::test]
async fn discord_default_avatars_follow_better_auths_rule() {
    let s = Social::new(&[]).await;
    // A new username (discriminator "0"): (id >> 22) % 6.
    s.stand_in.serve(
        "/discord/me",
        json!({"id": "80351110224678912", "username": "nelly", "discriminator": "0",
               "avatar": null, "email": "n2@example.com", "verified": false}),
    );
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "discord").await;
    s.come_back(&mut browser, "discord", &begun, "d2", None)
        .await;
    let (user, _) = s.accounts_of("n2@example.com").await;
    let index = (80351110224678912u64 >> 22) % 6;
    assert_eq!(
        user.image,
        Some(format!(
            "https://cdn.discordapp.com/embed/avatars/{index}.png"
        ))
    );
    assert_eq!(user.name, "nelly");
    assert!(!user.email_verified);
}

#[tokio::test]
async fn gitlab_maps_its_profile_and_refuses_a_blocked_user() {
    let s = Social::new(&[]).await;
    s.stand_in.serve(
        "/gitlab/user",
        json!({"id": 1, "username": "john_smith", "name": null, "state": "active",
               "locked": false, "email": "john@example.com",
               "avatar_url": "https://gitlab.example/uploads/john.png"}),
    );
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "gitlab").await;
    s.assert_authorization(&begun, "gitlab");
    assert_eq!(begun.params["scope"], "read_user");
    assert_eq!(begun.params["code_challenge_method"], "S256");
    let answer = s
        .come_back(&mut browser, "gitlab", &begun, "l1", None)
        .await;
    assert_eq!(answer.location.as_deref(), Some("/welcome"));
    s.assert_token_request("gitlab", "l1", true);
    let (user, accounts) = s.accounts_of("john@example.com").await;
    assert_eq!(user.name, "john_smith");
    // GitLab's /user says nothing of verification: unverified, as Better Auth.
    assert!(!user.email_verified);
    assert_eq!(
        user.image.as_deref(),
        Some("https://gitlab.example/uploads/john.png")
    );
    assert_eq!(accounts[0].account_id, "1");

    s.stand_in.serve(
        "/gitlab/user",
        json!({"id": 2, "username": "blocked", "state": "blocked", "email": "b@example.com"}),
    );
    let mut other = Browser::new(&s.app);
    let begun = s.begin(&mut other, "gitlab").await;
    let answer = s.come_back(&mut other, "gitlab", &begun, "l2", None).await;
    assert_eq!(error_of(&answer), "unable_to_get_user_info");
    assert!(!other.has_session());
}

#[tokio::test]
async fn microsoft_checks_the_tokens_own_tenant_and_reads_verified_addresses() {
    let s = Social::new(&[]).await;
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "microsoft").await;
    s.assert_authorization(&begun, "microsoft");
    assert_eq!(
        begun.params["scope"],
        "openid profile email User.Read offline_access"
    );
    assert_eq!(begun.params["code_challenge_method"], "S256");
    let claims = |tid: &str, iss: &str| {
        json!({
            "iss": iss, "tid": tid, "aud": CLIENT_ID, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "email": "alex@contoso.example", "name": "Alex Wilber",
            "verified_primary_email": ["alex@contoso.example"],
            "iat": s.now(), "exp": s.now() + 3600, "nonce": begun.params["nonce"],
        })
    };
    // Signed by one tenant, claiming another's issuer: refused.
    let forged = s.key.sign(&claims(
        "9188040d-6c67-4c5b-b112-36a304b66dad",
        "https://login.example/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    ));
    let answer = s
        .come_back(&mut browser, "microsoft", &begun, "m0", Some(forged))
        .await;
    assert_eq!(error_of(&answer), "invalid_id_token");

    let begun = s.begin(&mut browser, "microsoft").await;
    let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let mut good = claims(tid, &format!("https://login.example/{tid}/v2.0"));
    good["nonce"] = json!(begun.params["nonce"]);
    let answer = s
        .come_back(
            &mut browser,
            "microsoft",
            &begun,
            "m1",
            Some(s.key.sign(&good)),
        )
        .await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/welcome"),
        "{:?}",
        answer.location
    );
    s.assert_token_request("microsoft", "m1", true);
    let (user, accounts) = s.accounts_of("alex@contoso.example").await;
    assert_eq!(user.name, "Alex Wilber");
    assert!(user.email_verified);
    assert_eq!(
        accounts[0].account_id,
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"
    );

    // A refresh asks Microsoft for the scopes again, as Better Auth's does.
    browser
        .send(
            "POST",
            "/refresh-token",
            Some(json!({"providerId": "microsoft"})),
        )
        .await;
    let request = s.stand_in.last_token_request();
    assert_eq!(request.field("grant_type"), Some("refresh_token"));
    assert_eq!(request.field("refresh_token"), Some("refresh-m1"));
    assert_eq!(
        request.field("scope"),
        Some("openid profile email User.Read offline_access")
    );
}

#[tokio::test]
async fn apple_posts_back_and_gives_the_name_only_in_the_form() {
    let s = Social::new(&[]).await;
    let mut browser = Browser::new(&s.app);
    let begun = s.begin(&mut browser, "apple").await;
    s.assert_authorization(&begun, "apple");
    let p = &begun.params;
    assert_eq!(p["response_type"], "code id_token");
    assert_eq!(p["response_mode"], "form_post");
    assert_eq!(p["scope"], "email name");
    assert!(!p.contains_key("code_challenge"));

    let claims = json!({
        "iss": "https://appleid.apple.com", "aud": CLIENT_ID, "sub": "001234.abcdef.1234",
        "email": "tim@privaterelay.appleid.com", "email_verified": "true",
        "is_private_email": "true",
        "iat": s.now(), "exp": s.now() + 600, "nonce": p["nonce"],
    });
    s.stand_in
        .grant("apple-code-1", Some(s.key.sign(&claims)), None);
    // Apple's cross-site form post: no cookies, Apple's origin.
    let mut apple = Browser::new(&s.app);
    let user =
        r#"{"name":{"firstName":"Tim","lastName":"Apple"},"email":"tim@privaterelay.appleid.com"}"#;
    let posted = apple
        .post_form(
            "/callback/apple",
            &[
                ("code", "apple-code-1"),
                ("state", &p["state"]),
                ("user", user),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FOUND);
    let location = posted.location.unwrap();
    assert!(
        location.starts_with("http://localhost:3000/api/auth/callback/apple?form_post="),
        "{location}"
    );
    // The code never appears in a URL.
    assert!(!location.contains("apple-code-1"), "{location}");
    assert!(!location.contains("code="), "{location}");
    assert!(!apple.has_session());

    // The browser follows: a top-level GET that carries the state cookie.
    let path = location.trim_start_matches("http://localhost:3000/api/auth");
    let answer = browser.send("GET", path, None).await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/welcome"),
        "{:?}",
        answer.location
    );
    assert!(browser.has_session());
    s.assert_token_request("apple", "apple-code-1", false);
    let (user, accounts) = s.accounts_of("tim@privaterelay.appleid.com").await;
    assert_eq!(user.name, "Tim Apple");
    assert!(user.email_verified);
    assert_eq!(accounts[0].account_id, "001234.abcdef.1234");

    // The parameters work once: the name replayed names nothing.
    let mut replay = Browser::new(&s.app);
    let answer = replay.send("GET", path, None).await;
    assert!(
        answer
            .location
            .as_deref()
            .unwrap()
            .ends_with("?state=state_not_found"),
        "{:?}",
        answer.location
    );
    assert!(!replay.has_session());

    // A post without a state keeps nothing.
    let posted = Browser::new(&s.app)
        .post_form("/callback/apple", &[("code", "x")])
        .await;
    assert_eq!(
        posted.location.as_deref(),
        Some("http://localhost:3000/api/auth/callback/apple")
    );

    // Posted parameters fetched by another browser (no state cookie): refused.
    let begun = s.begin(&mut browser, "apple").await;
    let mut claims = claims.clone();
    claims["nonce"] = json!(begun.params["nonce"]);
    s.stand_in.grant("a2", Some(s.key.sign(&claims)), None);
    let posted = Browser::new(&s.app)
        .post_form(
            "/callback/apple",
            &[("code", "a2"), ("state", &begun.params["state"])],
        )
        .await;
    let location = posted.location.unwrap();
    let path = location.trim_start_matches("http://localhost:3000/api/auth");
    let mut attacker = Browser::new(&s.app);
    let answer = attacker.send("GET", path, None).await;
    assert_eq!(error_of(&answer), "state_mismatch");
    assert!(!attacker.has_session());
}

#[tokio::test]
async fn the_id_token_flow_signs_in_with_a_verified_token_only() {
    let s = Social::new(&[]).await;
    async fn post(browser: &mut Browser, body: Value) -> Answer {
        browser.send("POST", "/sign-in/social", Some(body)).await
    }
    let id_token = |token: String, nonce: Option<&str>| {
        let mut id_token = json!({ "token": token, "accessToken": "native-access" });
        if let Some(nonce) = nonce {
            id_token["nonce"] = json!(nonce);
        }
        id_token
    };

    // Refusals first: no session, no user.
    let mut browser = Browser::new(&s.app);
    let mut wrong_aud = s.google_claims(Some("n-1"));
    wrong_aud["aud"] = json!("another-client");
    for (token, nonce, why) in [
        (s.key.sign(&wrong_aud), Some("n-1"), "audience"),
        (
            s.key.sign(&s.google_claims(Some("n-1"))),
            Some("n-2"),
            "nonce",
        ),
        (unsigned(&s.google_claims(None)), None, "unsigned"),
        (
            Key::es256("s1", 10).sign(&s.google_claims(None)),
            None,
            "another key",
        ),
    ] {
        let answer = post(
            &mut browser,
            json!({"provider": "google", "idToken": id_token(token, nonce)}),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(answer.body["code"], "INVALID_TOKEN", "{why}");
        assert!(!browser.has_session(), "{why}");
    }
    assert!(s
        .state
        .db()
        .find_user_by_email("grace@example.com")
        .await
        .unwrap()
        .is_none());
    // GitHub has no ID tokens.
    let answer = post(
        &mut browser,
        json!({"provider": "github", "idToken": {"token": "x.y.z"}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["code"], "ID_TOKEN_NOT_SUPPORTED");

    // A genuine token, with its nonce: signed in, Better Auth's answer.
    let token = s.key.sign(&s.google_claims(Some("n-3")));
    let answer = post(
        &mut browser,
        json!({"provider": "google", "idToken": id_token(token, Some("n-3"))}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["redirect"], false);
    assert!(answer.body["token"].is_string());
    assert_eq!(answer.body["user"]["email"], "grace@example.com");
    assert!(answer.body.get("url").is_none());
    assert!(browser.has_session());
    let (_, accounts) = s.accounts_of("grace@example.com").await;
    assert_eq!(accounts[0].account_id, "110169484474386276334");
    // Only the access token is kept (as Better Auth), sealed.
    let sealed = accounts[0].access_token.as_deref().unwrap();
    assert_eq!(
        crate::crypto::open(&s.state.config().secret, sealed).unwrap(),
        "native-access"
    );
    assert_eq!(accounts[0].id_token, None);

    // Apple's tokens name the app's bundle id.
    let apple = json!({
        "iss": "https://appleid.apple.com", "aud": "com.example.app", "sub": "000999.x",
        "email": "ios@example.com", "email_verified": true,
        "iat": s.now(), "exp": s.now() + 600,
    });
    let mut phone = Browser::new(&s.app);
    let answer = post(
        &mut phone,
        json!({"provider": "apple", "idToken": {"token": s.key.sign(&apple)}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // An hour-old token is refused (Better Auth's maxTokenAge).
    let mut old = apple.clone();
    old["iat"] = json!(s.now() - 3700);
    old["exp"] = json!(s.now() + 600);
    let answer = post(
        &mut Browser::new(&s.app),
        json!({"provider": "apple", "idToken": {"token": s.key.sign(&old)}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// A browser signed up with a password as `email`.
async fn password_user(app: &Router, email: &str) -> Browser {
    let mut browser = Browser::new(app);
    let answer = browser
        .send(
            "POST",
            "/sign-up/email",
            Some(json!({"name": "Ada", "email": email, "password": "a long passphrase"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    browser
}

#[tokio::test]
async fn link_social_finds_accounts_by_provider_and_subject_together() {
    let s = Social::new(&[]).await;
    // Someone signs up through GitHub, whose id is 42.
    s.stand_in.serve(
        "/github/user",
        json!({"id": 42, "login": "b", "email": "b@example.com"}),
    );
    s.stand_in.serve(
        "/github/emails",
        json!([{"email": "b@example.com", "primary": true, "verified": true}]),
    );
    let mut b = Browser::new(&s.app);
    let begun = s.begin(&mut b, "github").await;
    s.come_back(&mut b, "github", &begun, "h42", None).await;
    assert!(b.has_session());

    // Ada links her Discord account, whose id is also "42". Better Auth 1.4 looks the
    // account up by "42" alone, finds the GitHub row and refuses
    // (account_already_linked_to_different_user); a different provider's subject is
    // another identity.
    let mut ada = password_user(&s.app, "ada@example.com").await;
    s.stand_in.serve(
        "/discord/me",
        json!({"id": "42", "username": "ada", "email": "ada@example.com", "verified": true}),
    );
    let answer = ada
        .send(
            "POST",
            "/link-social",
            Some(json!({"provider": "discord", "callbackURL": "/settings",
                        "errorCallbackURL": "/settings/error"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["redirect"], true);
    let url = answer.body["url"].as_str().unwrap().to_string();
    let begun = Begun {
        params: params(&url),
        url: url::Url::parse(&url).unwrap(),
    };
    let answer = s.come_back(&mut ada, "discord", &begun, "d42", None).await;
    assert_eq!(
        answer.location.as_deref(),
        Some("/settings"),
        "{:?}",
        answer.location
    );
    let (_, accounts) = s.accounts_of("ada@example.com").await;
    let mut providers: Vec<(&str, &str)> = accounts
        .iter()
        .map(|a| (a.provider_id.as_str(), a.account_id.as_str()))
        .filter(|(p, _)| *p != "credential")
        .collect();
    providers.sort();
    assert_eq!(providers, [("discord", "42")]);
    let (_, b_accounts) = s.accounts_of("b@example.com").await;
    assert_eq!(b_accounts[0].provider_id, "github");

    // The same GitHub identity cannot be linked to Ada: it is B's.
    s.stand_in.serve(
        "/github/emails",
        json!([{"email": "ada@example.com", "primary": true, "verified": true}]),
    );
    s.stand_in.serve(
        "/github/user",
        json!({"id": 42, "login": "b", "email": "ada@example.com"}),
    );
    let answer = ada
        .send(
            "POST",
            "/link-social",
            Some(json!({"provider": "github", "callbackURL": "/settings",
                        "errorCallbackURL": "/settings/error"})),
        )
        .await;
    let url = answer.body["url"].as_str().unwrap().to_string();
    let begun = Begun {
        params: params(&url),
        url: url::Url::parse(&url).unwrap(),
    };
    let answer = s.come_back(&mut ada, "github", &begun, "h43", None).await;
    assert_eq!(
        error_of(&answer),
        "account_already_linked_to_different_user"
    );
}

#[tokio::test]
async fn link_social_with_an_id_token_follows_the_core_rules() {
    let s = Social::new(&[]).await;
    let mut ada = password_user(&s.app, "grace@example.com").await;
    // Unverified at the provider and not trusted: refused.
    let mut claims = s.google_claims(None);
    claims["email_verified"] = json!(false);
    let answer = ada
        .send(
            "POST",
            "/link-social",
            Some(json!({"provider": "google", "idToken": {"token": s.key.sign(&claims)}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.body["message"],
        "Account not linked - linking not allowed"
    );
    // Another address: refused.
    let mut claims = s.google_claims(None);
    claims["email"] = json!("someone@example.com");
    let answer = ada
        .send(
            "POST",
            "/link-social",
            Some(json!({"provider": "google", "idToken": {"token": s.key.sign(&claims)}})),
        )
        .await;
    assert_eq!(
        answer.body["message"],
        "Account not linked - different emails not allowed"
    );
    let answer = ada
        .send(
            "POST",
            "/link-social",
            Some(json!({"provider": "google", "idToken": {"token": s.key.sign(&s.google_claims(None))}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"url": "", "status": true, "redirect": false})
    );
    let (_, accounts) = s.accounts_of("grace@example.com").await;
    assert!(accounts.iter().any(|a| a.provider_id == "google"));
}

#[tokio::test]
async fn the_pages_offer_each_social_provider_without_javascript() {
    let s = Social::new(&[]).await;
    let mut browser = Browser::new(&s.app);
    let page = browser.send("GET", "/auth/sign-in", None).await;
    for name in [
        "Google",
        "GitHub",
        "Microsoft",
        "Apple",
        "Discord",
        "GitLab",
    ] {
        assert!(
            page.text
                .contains(&format!("Continue with {name}</button>")),
            "{name}"
        );
    }
    assert!(page.text.contains(r#"name="providerId" value="github""#));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains(&s.stand_in.base), "{csp}");
    let sign_up = browser.send("GET", "/auth/sign-up", None).await;
    assert!(sign_up.text.contains("Continue with GitLab</button>"));

    let csrf = super::csrf_of(&page);
    let answer = browser
        .post_form(
            "/auth/sign-in/provider",
            &[
                ("csrf", &csrf),
                ("providerId", "github"),
                ("callbackURL", "/dashboard"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let location = answer.location.unwrap();
    assert!(
        location.starts_with(&format!("{}/github/authorize?", s.stand_in.base)),
        "{location}"
    );

    // The account page lists the providers to link, by name.
    let mut ada = password_user(&s.app, "ada@example.com").await;
    let account = ada.send("GET", "/auth/account", None).await;
    assert!(account.text.contains("Microsoft"), "{}", account.text);
    assert!(account
        .text
        .contains(r#"name="providerId" value="microsoft""#));
}

#[tokio::test]
async fn unknown_providers_and_untrusted_callbacks_are_refused() {
    let s = Social::new(&[]).await;
    let mut browser = Browser::new(&s.app);
    let answer = browser
        .send(
            "POST",
            "/sign-in/social",
            Some(json!({"provider": "twitter"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["code"], "PROVIDER_NOT_FOUND");
    for field in ["callbackURL", "errorCallbackURL", "newUserCallbackURL"] {
        let answer = browser
            .send(
                "POST",
                "/sign-in/social",
                Some(json!({"provider": "github", field: "https://evil.example/"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{field}");
    }
    assert!(!browser.cookies.contains_key("better-auth.state"));
    // A callback without state: Better Auth's `state=state_not_found`.
    let answer = browser.send("GET", "/callback/github?code=c", None).await;
    assert_eq!(
        answer.location.as_deref(),
        Some("http://localhost:3000/api/auth/error?state=state_not_found")
    );
    // disableRedirect: the URL without Location.
    let answer = browser
        .send(
            "POST",
            "/sign-in/social",
            Some(json!({"provider": "github", "disableRedirect": true, "loginHint": "o@example.com"})),
        )
        .await;
    assert_eq!(answer.body["redirect"], false);
    assert!(answer.location.is_none());
    assert_eq!(
        params(answer.body["url"].as_str().unwrap())["login_hint"],
        "o@example.com"
    );
}

#[tokio::test]
async fn the_id_token_flow_still_asks_the_second_factor() {
    let s = Social::new(&["--two-factor", "on"]).await;
    let sign_in = |s: &Social| json!({"provider": "google", "idToken": {"token": s.key.sign(&s.google_claims(None))}});
    let mut first = Browser::new(&s.app);
    let answer = first
        .send("POST", "/sign-in/social", Some(sign_in(&s)))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (user, _) = s.accounts_of("grace@example.com").await;
    assert!(s
        .state
        .db()
        .set_two_factor_enabled(&user.id, true, s.state.now())
        .await
        .unwrap());
    // Better Auth 1.4's two-factor plugin does not hook /sign-in/social: it would sign in.
    let mut again = Browser::new(&s.app);
    let answer = again
        .send("POST", "/sign-in/social", Some(sign_in(&s)))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"twoFactorRedirect": true}));
    assert!(!again.has_session());
    assert!(again.cookies.contains_key("better-auth.two_factor"));
}
