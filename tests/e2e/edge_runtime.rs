//! The edge worker at run time: the real bundle under `wrangler dev` (workerd, with its KV
//! and Cache API simulated by Miniflare) in front of the real origin on a real database, with
//! an upstream application that records what reaches it. Every request is real HTTP.

use std::time::Duration;

use edgeauth_tests::fixtures::{
    browser, client_flows, email, now, origin_env, reset_token, sqlite_url, BASE_URL, PASSWORD,
    SECRET,
};
use edgeauth_tests::{AuthClient, Origin, SmtpServer, Upstream, WranglerDev};
use edgeauth_token::{ClaimsBuilder, SigningKey};
use reqwest::Method;
use serde_json::{json, Value};

const EDGE_SECRET: &str = "edge-proof-secret-edge-proof-secret-0123";

/// The stack: origin (with the edge proof), upstream, and the worker in front of both.
struct Stack {
    origin: Origin,
    upstream: Upstream,
    edge: WranglerDev,
    database_url: String,
}

impl Stack {
    async fn start(name: &str, cache_ttl: u64) -> Stack {
        let database_url = sqlite_url(name);
        let origin = start_origin_with_proof(&database_url, None);
        let upstream = Upstream::start().unwrap();
        let edge = start_edge(&origin.url, &upstream.url, cache_ttl, None).await;
        Stack {
            origin,
            upstream,
            edge,
            database_url,
        }
    }

    /// A browser talking to the edge (sending the app's Origin, as a browser would).
    fn browser(&self) -> AuthClient {
        browser(&self.edge.url)
    }

    /// The origin's count of finished `get-session` requests so far.
    fn session_lookups(&self) -> usize {
        self.origin.count_requests("/api/auth/get-session")
    }

    fn log(&self) -> String {
        format!(
            "{}\n{}",
            self.edge.process.log_tail(),
            self.origin.process.log_tail()
        )
    }
}

pub(crate) fn start_origin_with_proof(database_url: &str, port: Option<u16>) -> Origin {
    let mut env = origin_env(database_url);
    env.push(("EDGEAUTH_EDGE_SECRET", EDGE_SECRET.to_string()));
    env.push((
        "EDGEAUTH_TRUSTED_IP_HEADER",
        "x-edgeauth-client-ip".to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match port {
        Some(port) => Origin::start_on(port, &env).unwrap(),
        None => Origin::start(&env).unwrap(),
    }
}

pub(crate) async fn start_edge(
    origin: &str,
    upstream: &str,
    cache_ttl: u64,
    jwks_json: Option<&str>,
) -> WranglerDev {
    let ttl = cache_ttl.to_string();
    let mut vars = vec![
        ("ORIGIN_URL", origin),
        ("UPSTREAM_URL", upstream),
        ("PROTECTED_PATHS", "/app,/api/private"),
        ("JWT_ISSUER", BASE_URL),
        ("JWT_AUDIENCE", BASE_URL),
        ("SESSION_CACHE_TTL", ttl.as_str()),
        ("SIGN_IN_URL", "/sign-in"),
    ];
    if let Some(jwks) = jwks_json {
        vars.push(("JWKS_JSON", jwks));
    }
    WranglerDev::start_with_secrets(
        &vars,
        &[("BETTER_AUTH_SECRET", SECRET), ("EDGE_SECRET", EDGE_SECRET)],
    )
    .await
    .unwrap()
}

async fn get(
    client: &mut AuthClient,
    path: &str,
    headers: &[(&str, &str)],
) -> edgeauth_tests::Reply {
    client.send(Method::GET, path, None, headers).await.unwrap()
}

async fn bearer(url: &str, path: &str, token: &str) -> edgeauth_tests::Reply {
    AuthClient::new(url)
        .send(
            Method::GET,
            path,
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await
        .unwrap()
}

/// A signed-in browser on the edge, and its JWT.
async fn signed_in(stack: &Stack) -> (AuthClient, String, String) {
    let mut client = stack.browser();
    let address = email("edge");
    let reply = client
        .sign_up("Edge User", &address, PASSWORD)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, stack.log());
    let jwt = client.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    (client, address, jwt)
}

#[track_caller]
fn assert_refused(reply: &edgeauth_tests::Reply) {
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(
        reply.code().as_deref(),
        Some("UNAUTHORIZED"),
        "{}",
        reply.text
    );
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn auth_api_passes_through_and_js_client_works() {
    let stack = Stack::start("edge-proxy", 60).await;
    let (mut client, address, _) = signed_in(&stack).await;
    // The session made through the edge is the origin's: same cookie, same answer.
    let through_edge = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(
        through_edge.json()["user"]["email"],
        address,
        "{}",
        stack.log()
    );
    let mut direct = browser(&stack.origin.url);
    direct.cookies = client.cookies.clone();
    assert_eq!(
        direct.get("/api/auth/get-session").await.unwrap().json()["user"]["email"],
        address
    );
    // Error answers pass through unchanged.
    let reply = stack
        .browser()
        .sign_in(&address, "wrong password entirely")
        .await
        .unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code().as_deref(), Some("INVALID_EMAIL_OR_PASSWORD"));
    // The origin saw the client address the edge vouched for, not a client header.
    let sessions = client
        .send(
            Method::GET,
            "/api/auth/list-sessions",
            None,
            &[("x-edgeauth-client-ip", "203.0.113.9")],
        )
        .await
        .unwrap();
    for session in sessions.json().as_array().unwrap() {
        assert_ne!(
            session["ipAddress"], "203.0.113.9",
            "a client-set address reached the origin"
        );
    }

    // Better Auth's JS client through the edge URL sees what it sees from the origin.
    let mut via_edge = client_flows(&stack.edge.url, &email("js-edge"));
    let mut direct = client_flows(&stack.origin.url, &email("js-origin"));
    for seen in [&mut via_edge, &mut direct] {
        seen["signUp"]["email"] = Value::Null;
        seen["getSession"]["email"] = Value::Null;
    }
    assert_eq!(via_edge, direct, "{}", stack.log());
    assert_eq!(via_edge["getSession"]["userIdMatches"], true);
}

#[tokio::test]
async fn jwts_are_verified_at_the_edge() {
    let stack = Stack::start("edge-jwt", 60).await;
    let (_, address, jwt) = signed_in(&stack).await;
    let url = stack.edge.url.as_str();

    let reply = bearer(url, "/app/dashboard?x=1", &jwt).await;
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, stack.log());
    let seen = stack.upstream.requests_to("/app/dashboard");
    let last = seen.last().unwrap();
    assert_eq!(last.header("x-edgeauth-user-email"), Some(address.as_str()));
    assert_eq!(last.header("x-edgeauth-auth"), Some("jwt"));
    assert!(last
        .header("x-edgeauth-user-id")
        .is_some_and(|id| id.len() == 32));
    assert_eq!(last.query.as_deref(), Some("x=1"));

    // Tampered, wrong kid, alg none, expired, and a JWT from a key the origin never had.
    let (head, rest) = jwt.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let flipped = format!(
        "{head}.{payload}.{}{}",
        if signature.starts_with('A') { "B" } else { "A" },
        &signature[1..]
    );
    let none_header = b64(br#"{"alg":"none","kid":"x"}"#);
    let stranger = SigningKey::from_seed(&[3; 32], "unknown-kid").unwrap();
    let user = json!({"id": "u", "email": "mallory@example.com"});
    let forged_kid = stranger.sign(&ClaimsBuilder::better_auth(
        user.as_object().unwrap().clone(),
        "u",
        now(),
        900,
        BASE_URL,
        &[BASE_URL],
    ));
    let origin_kid = edgeauth_token::UntrustedToken::parse(&jwt, 8192)
        .unwrap()
        .kid()
        .to_string();
    let same_kid_other_key =
        SigningKey::from_seed(&[4; 32], &origin_kid)
            .unwrap()
            .sign(&ClaimsBuilder::better_auth(
                user.as_object().unwrap().clone(),
                "u",
                now(),
                900,
                BASE_URL,
                &[BASE_URL],
            ));
    for bad in [
        flipped,
        format!("{none_header}.{payload}."),
        forged_kid,
        same_kid_other_key,
        "not.a.jwt".to_string(),
    ] {
        let reply = bearer(url, "/app/dashboard", &bad).await;
        assert_refused(&reply);
    }
    // Signed with the origin's own key, but expired (beyond the edge's leeway), or not for
    // this audience: refused.
    let key = origin_signing_key(&stack.database_url).await;
    let user = json!({"id": "u1", "email": address});
    let user = user.as_object().unwrap().clone();
    let expired = key.sign(&ClaimsBuilder::better_auth(
        user.clone(),
        "u1",
        now() - 4000,
        900,
        BASE_URL,
        &[BASE_URL],
    ));
    let elsewhere = key.sign(&ClaimsBuilder::better_auth(
        user.clone(),
        "u1",
        now(),
        900,
        BASE_URL,
        &["https://other.example"],
    ));
    for bad in [expired, elsewhere] {
        assert_refused(&bearer(url, "/app/dashboard", &bad).await);
    }
    // The same key and claims, fresh: accepted (so the refusals above were about exp/aud).
    let fresh = key.sign(&ClaimsBuilder::better_auth(
        user,
        "u1",
        now(),
        900,
        BASE_URL,
        &[BASE_URL],
    ));
    assert_eq!(bearer(url, "/app/dashboard", &fresh).await.status, 200);
    assert_eq!(stack.upstream.requests_to("/app/dashboard").len(), 2);
}

/// The origin's current signing key, read from its `jwks` table like the origin does.
pub(crate) async fn origin_signing_key(database_url: &str) -> SigningKey {
    let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
    let (id, public_key, private_key): (String, String, String) = sqlx::query_as(
        r#"SELECT "id", "publicKey", "privateKey" FROM "jwks" ORDER BY "createdAt" DESC LIMIT 1"#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let row = edgeauth_origin::keys::StoredKey {
        id,
        public_key,
        private_key,
    };
    edgeauth_origin::keys::signing_key(SECRET, &row).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(bytes)
}

#[tokio::test]
async fn session_cookies_are_checked_before_any_origin_call_and_cached() {
    let stack = Stack::start("edge-cookie", 60).await;
    let (client, address, _) = signed_in(&stack).await;
    let url = stack.edge.url.as_str();

    // A forged cookie: refused with no origin request at all.
    let before = stack.session_lookups();
    let mut forged = AuthClient::new(url);
    let token = client.cookies["better-auth.session_token"]
        .split('.')
        .next()
        .unwrap()
        .to_string();
    forged.cookies.insert(
        "better-auth.session_token".into(),
        format!("{token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"),
    );
    assert_refused(&get(&mut forged, "/app/home", &[]).await);
    let mut garbage = AuthClient::new(url);
    garbage
        .cookies
        .insert("better-auth.session_token".into(), "garbage".into());
    assert_refused(&get(&mut garbage, "/app/home", &[]).await);
    assert_eq!(
        stack.session_lookups(),
        before,
        "a forged cookie cost an origin request\n{}",
        stack.log()
    );

    // A valid cookie: one origin lookup, then served from the cache.
    let mut real = AuthClient::new(url);
    real.cookies = client.cookies.clone();
    let first = get(&mut real, "/app/home", &[]).await;
    assert_eq!(first.status, 200, "{}\n{}", first.text, stack.log());
    let after_first = stack.session_lookups();
    assert_eq!(after_first, before + 1);
    let second = get(&mut real, "/app/home", &[]).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        stack.session_lookups(),
        after_first,
        "the second request went to the origin"
    );
    let seen = stack.upstream.requests_to("/app/home");
    assert_eq!(
        seen.last().unwrap().header("x-edgeauth-user-email"),
        Some(address.as_str())
    );
    assert_eq!(
        seen.last().unwrap().header("x-edgeauth-auth"),
        Some("session")
    );

    // A browser navigation without credentials is sent to sign in; an API call gets 401.
    let reply = get(
        &mut AuthClient::new(url),
        "/app/home",
        &[("accept", "text/html,application/xhtml+xml")],
    )
    .await;
    assert_eq!(reply.status, 302, "{}", reply.text);
    let location = reply.header("location").unwrap();
    assert!(location.starts_with("/sign-in"), "{location}");
    assert!(location.contains("callbackURL=%2Fapp%2Fhome"), "{location}");
    assert_refused(
        &get(
            &mut AuthClient::new(url),
            "/app/home",
            &[("accept", "application/json")],
        )
        .await,
    );
}

#[tokio::test]
async fn sign_out_through_the_edge_revokes_cookie_and_jwt_at_once() {
    let stack = Stack::start("edge-signout", 60).await;
    let (mut client, _, jwt) = signed_in(&stack).await;
    let url = stack.edge.url.clone();
    let stolen_cookies = client.cookies.clone();
    // Warm the caches with both credentials.
    assert_eq!(get(&mut client, "/app/home", &[]).await.status, 200);
    assert_eq!(bearer(&url, "/app/home", &jwt).await.status, 200);

    assert_eq!(
        client
            .post_empty("/api/auth/sign-out")
            .await
            .unwrap()
            .status,
        200
    );
    let mut replay = AuthClient::new(&url);
    replay.cookies = stolen_cookies;
    assert_refused(&get(&mut replay, "/app/home", &[]).await);
    assert_refused(&bearer(&url, "/app/home", &jwt).await);
}

#[tokio::test]
async fn revocation_at_the_origin_reaches_the_edge_within_the_cache_ttl() {
    let ttl = 2;
    let stack = Stack::start("edge-ttl", ttl).await;
    let (client, _, jwt) = signed_in(&stack).await;
    let url = stack.edge.url.clone();
    let mut at_edge = AuthClient::new(&url);
    at_edge.cookies = client.cookies.clone();
    assert_eq!(get(&mut at_edge, "/app/home", &[]).await.status, 200);
    assert_eq!(bearer(&url, "/app/home", &jwt).await.status, 200);

    // Revoked directly at the origin, bypassing the edge.
    let mut direct = browser(&stack.origin.url);
    direct.cookies = client.cookies.clone();
    assert_eq!(
        direct
            .post_empty("/api/auth/revoke-sessions")
            .await
            .unwrap()
            .status,
        200
    );
    tokio::time::sleep(Duration::from_secs(ttl + 1)).await;
    assert_refused(&get(&mut at_edge, "/app/home", &[]).await);
    assert_refused(&bearer(&url, "/app/home", &jwt).await);
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let stack = Stack::start("edge-spoof", 60).await;
    let (mut client, address, _) = signed_in(&stack).await;
    let spoof = [
        ("x-edgeauth-user-id", "admin"),
        ("x-edgeauth-user-email", "admin@example.com"),
        ("x-edgeauth-session-id", "forged"),
        ("x-edgeauth-auth", "jwt"),
    ];
    // Public path: the spoofed headers are removed.
    assert_eq!(
        get(
            &mut AuthClient::new(&stack.edge.url),
            "/public/page",
            &spoof
        )
        .await
        .status,
        200
    );
    let public = stack.upstream.requests_to("/public/page");
    for (name, _) in spoof {
        assert_eq!(
            public.last().unwrap().header(name),
            None,
            "{name} reached the upstream"
        );
    }
    // Protected path: the verified values replace them.
    assert_eq!(get(&mut client, "/app/home", &spoof).await.status, 200);
    let protected = stack.upstream.requests_to("/app/home");
    let last = protected.last().unwrap();
    assert_eq!(last.header("x-edgeauth-user-email"), Some(address.as_str()));
    assert_ne!(last.header("x-edgeauth-user-id"), Some("admin"));
    assert_ne!(last.header("x-edgeauth-session-id"), Some("forged"));
    // Without credentials, the spoof gets a 401 and nothing reaches the upstream.
    let count = stack.upstream.requests_to("/app/home").len();
    assert_refused(&get(&mut AuthClient::new(&stack.edge.url), "/app/home", &spoof).await);
    assert_eq!(stack.upstream.requests_to("/app/home").len(), count);
}

#[tokio::test]
async fn origin_down_fails_closed_but_cached_credentials_keep_working() {
    let stack = Stack::start("edge-down", 60).await;
    let (mut client, _, jwt) = signed_in(&stack).await;
    let url = stack.edge.url.clone();
    assert_eq!(get(&mut client, "/app/home", &[]).await.status, 200);
    assert_eq!(bearer(&url, "/app/home", &jwt).await.status, 200);
    let mut other = stack.browser();
    other
        .sign_up("Other", &email("other"), PASSWORD)
        .await
        .unwrap();
    let Stack {
        origin,
        upstream,
        edge,
        ..
    } = stack;
    drop(origin);

    // Known session (cached) and a valid JWT (keys cached) still pass.
    assert_eq!(
        get(&mut client, "/app/home", &[]).await.status,
        200,
        "{}",
        edge.process.log_tail()
    );
    assert_eq!(bearer(&url, "/app/home", &jwt).await.status, 200);
    // A session the edge has never seen cannot be checked: 503, never let through.
    let reply = get(&mut other, "/app/home", &[]).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.code().as_deref(), Some("SERVICE_UNAVAILABLE"));
    drop(upstream);
}

#[tokio::test]
async fn jwks_rotation_and_pinned_keys() {
    let stack = Stack::start("edge-rotate", 60).await;
    let (mut client, _, old_jwt) = signed_in(&stack).await;
    let url = stack.edge.url.clone();
    assert_eq!(bearer(&url, "/app/home", &old_jwt).await.status, 200);
    let pinned = AuthClient::new(&stack.origin.url)
        .get("/api/auth/jwks")
        .await
        .unwrap()
        .text;

    // Rotate, and restart the origin on the same port so it signs with the new key at once.
    let out = std::process::Command::new(edgeauth_tests::edgeauth_bin().unwrap())
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &stack.database_url)
        .env("BETTER_AUTH_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let Stack {
        origin,
        upstream,
        edge,
        database_url,
    } = stack;
    let port = origin.port();
    drop(origin);
    let origin = start_origin_with_proof(&database_url, Some(port));
    let new_jwt = client.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        edgeauth_tests_kid(&new_jwt),
        edgeauth_tests_kid(&old_jwt),
        "the origin still signs with the old key"
    );
    // The edge meets an unknown kid, refetches the key set once, and accepts both tokens.
    assert_eq!(
        bearer(&url, "/app/home", &new_jwt).await.status,
        200,
        "{}",
        edge.process.log_tail()
    );
    assert_eq!(bearer(&url, "/app/home", &old_jwt).await.status, 200);

    // A worker pinned to the old key set (JWKS_JSON) never fetches: the new key is unknown.
    let pinned_edge = start_edge(&origin.url, &upstream.url, 60, Some(&pinned)).await;
    let jwks_fetches = origin.count_requests("/api/auth/jwks");
    assert_eq!(
        bearer(&pinned_edge.url, "/app/home", &old_jwt).await.status,
        200
    );
    assert_refused(&bearer(&pinned_edge.url, "/app/home", &new_jwt).await);
    assert_eq!(origin.count_requests("/api/auth/jwks"), jwks_fetches);
    drop(edge);
}

fn edgeauth_tests_kid(jwt: &str) -> String {
    edgeauth_token::UntrustedToken::parse(jwt, 8192)
        .unwrap()
        .kid()
        .to_string()
}

/// Password reset and account deletion through the edge end every session of the user at
/// the edge at once, not after `SESSION_CACHE_TTL` (60 s here): the origin names the user in
/// `x-edgeauth-revoked-user`, which only the edge sees. Neither call carries a credential
/// the edge could have resolved for the reset: the header is what tells it.
#[tokio::test]
async fn reset_and_deletion_through_the_edge_end_sessions_at_once() {
    let smtp = SmtpServer::start().await.unwrap();
    let database_url = sqlite_url("edge-lifecycle");
    let mut env = origin_env(&database_url);
    env.push(("EDGEAUTH_EDGE_SECRET", EDGE_SECRET.to_string()));
    env.push((
        "EDGEAUTH_TRUSTED_IP_HEADER",
        "x-edgeauth-client-ip".to_string(),
    ));
    env.push(("EDGEAUTH_SMTP_URL", smtp.url()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start(&env).unwrap();
    let upstream = Upstream::start().unwrap();
    let edge = start_edge(&origin.url, &upstream.url, 60, None).await;
    let stack = Stack {
        origin,
        upstream,
        edge,
        database_url,
    };
    let url = stack.edge.url.clone();

    // Reset: two devices and a JWT, all cached at the edge.
    let (mut phone, address, jwt) = signed_in(&stack).await;
    let mut laptop = stack.browser();
    assert_eq!(
        laptop.sign_in(&address, PASSWORD).await.unwrap().status,
        200
    );
    assert_eq!(get(&mut phone, "/app/home", &[]).await.status, 200);
    assert_eq!(get(&mut laptop, "/app/home", &[]).await.status, 200);
    assert_eq!(bearer(&url, "/app/home", &jwt).await.status, 200);

    let mut anonymous = stack.browser();
    let reply = anonymous
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": address }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mail = smtp
        .wait_for(&address, 1, Duration::from_secs(20))
        .await
        .unwrap()
        .remove(0);
    let token = reset_token(&mail.link("/reset-password/").unwrap());
    let reply = anonymous
        .post(
            "/api/auth/reset-password",
            &json!({ "token": token, "newPassword": "a brand new passphrase 42" }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, stack.log());
    assert_eq!(reply.header("x-edgeauth-revoked-user"), None);
    assert_refused(&get(&mut phone, "/app/home", &[]).await);
    assert_refused(&get(&mut laptop, "/app/home", &[]).await);
    assert_refused(&bearer(&url, "/app/home", &jwt).await);

    // The header is never given to a caller without the edge's proof.
    let mut direct = browser(&stack.origin.url);
    direct
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": address }),
        )
        .await
        .unwrap();
    let mail = smtp
        .wait_for(&address, 2, Duration::from_secs(20))
        .await
        .unwrap()
        .remove(1);
    let reply = direct
        .post(
            "/api/auth/reset-password",
            &json!({ "token": reset_token(&mail.link("/reset-password/").unwrap()), "newPassword": "and another passphrase 7" }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("x-edgeauth-revoked-user"), None);

    // Deletion: the cookie and the JWT of the deleted user are refused at once.
    let (mut doomed, _, doomed_jwt) = signed_in(&stack).await;
    let stolen = doomed.cookies.clone();
    assert_eq!(get(&mut doomed, "/app/home", &[]).await.status, 200);
    assert_eq!(bearer(&url, "/app/home", &doomed_jwt).await.status, 200);
    let reply = doomed
        .post("/api/auth/delete-user", &json!({ "password": PASSWORD }))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut replay = AuthClient::new(&url);
    replay.cookies = stolen;
    assert_refused(&get(&mut replay, "/app/home", &[]).await);
    assert_refused(&bearer(&url, "/app/home", &doomed_jwt).await);
}
