//! The edge worker, end to end: the real bundle (`edge/build/`, from `bash
//! scripts/build-edge.sh`) served by `wrangler dev` (workerd) on a free loopback port, asked
//! over real HTTP.
//!
//! [`health_check_and_edge_404_need_no_configuration`] and
//! [`refusals_forwarding_and_pinned_jwts_without_an_origin`] need no origin: what they check
//! is decided at the edge alone (the origin, when named, is a closed port, so any call to it
//! would show as a 503); each runs a worker of its own. The revocation test runs the real
//! origin. (See `edge_runtime.rs` for the other cross-component flows.)
//!
//! Each `wrangler dev` gets its own inspector port from the harness, so these tests run in
//! parallel with the others.

use edgeauth_tests::fixtures::{browser, email, now, origin_env, sqlite_url, BASE_URL};
use edgeauth_tests::{free_port, AuthClient, Origin, Upstream, WranglerDev};
use edgeauth_token::{ClaimsBuilder, SigningKey};
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use serde_json::{json, Value};

const SECRET: &str = "edge-test-secret-edge-test-secret-0123456789";
const EDGE_SECRET: &str = "edge-proof-edge-proof-edge-proof-0123456789";
const ISSUER: &str = "http://localhost:3000";
const TOKEN: &str = "0YnKQty8O96CSthmLIeHvNJnuQmeit3f";

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn json_of(res: Response) -> Value {
    res.json().await.unwrap()
}

fn mint(key: &SigningKey, iat: u64, lifetime: u64) -> String {
    let user = json!({"id": "u1", "email": "ada@example.com", "name": "Ada"});
    let claims = ClaimsBuilder::better_auth(
        user.as_object().unwrap().clone(),
        "u1",
        iat,
        lifetime,
        ISSUER,
        &[ISSUER],
    )
    .insert("sid", "s1");
    key.sign(&claims)
}

#[tokio::test]
async fn health_check_and_edge_404_need_no_configuration() {
    let wrangler = WranglerDev::start(&[]).await.unwrap();
    let log = || wrangler.process.log_tail();

    let res = client()
        .get(format!("{}/__edge/ok", wrangler.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", log());
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        json_of(res).await,
        json!({ "ok": true, "service": "edgeauth-edge" })
    );

    let res = client()
        .get(format!("{}/__edge/no/such/path?x=1", wrangler.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "{}", log());
    assert_eq!(
        json_of(res).await,
        json!({ "code": "NOT_FOUND", "message": "Not Found" })
    );

    // Without its secrets the edge refuses everything else, naming the variable.
    let res = client()
        .get(format!("{}/app", wrangler.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500, "{}", log());
    assert_eq!(
        json_of(res).await,
        json!({
            "code": "EDGE_MISCONFIGURED",
            "message": "Edge configuration error: BETTER_AUTH_SECRET is not set"
        })
    );
}

#[tokio::test]
async fn refusals_forwarding_and_pinned_jwts_without_an_origin() {
    let upstream = Upstream::start().unwrap();
    let key = SigningKey::from_seed(&[9; 32], "test-key").unwrap();
    let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
    let dead_origin = format!("http://127.0.0.1:{}", free_port().unwrap());
    let wrangler = WranglerDev::start_with_secrets(
        &[
            ("ORIGIN_URL", &dead_origin),
            ("UPSTREAM_URL", &upstream.url),
            ("PROTECTED_PATHS", "/app,/api/private"),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", ISSUER),
            ("JWKS_JSON", &jwks),
            ("SIGN_IN_URL", "/sign-in"),
        ],
        &[("BETTER_AUTH_SECRET", SECRET), ("EDGE_SECRET", EDGE_SECRET)],
    )
    .await
    .unwrap();
    let log = || wrangler.process.log_tail();
    let url = |path: &str| format!("{}{path}", wrangler.url);
    let http = client();

    // Public paths reach the upstream, minus any client-sent x-edgeauth-* header.
    let res = http
        .post(url("/public/page?q=1"))
        .header("x-edgeauth-user-id", "admin")
        .header("X-EdgeAuth-Auth", "jwt")
        .header("content-type", "text/plain")
        .body("hello upstream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", log());
    let seen = upstream.requests_to("/public/page");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].query.as_deref(), Some("q=1"));
    assert_eq!(seen[0].body, "hello upstream");
    assert!(
        seen[0]
            .headers
            .keys()
            .all(|h| !h.starts_with("x-edgeauth-")),
        "{:?}",
        seen[0].headers
    );

    // No credential: 401 for an API client, a redirect to sign in for a browser.
    let res = http
        .get(url("/app/page"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "{}", log());
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"edgeauth\""
    );
    assert_eq!(
        json_of(res).await,
        json!({"code": "UNAUTHORIZED", "message": "Authentication required"})
    );
    let res = http
        .get(url("/app/page?tab=2"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{}", log());
    assert_eq!(
        res.headers()["location"],
        "/sign-in?callbackURL=%2Fapp%2Fpage%3Ftab%3D2"
    );

    // Path tricks do not dodge the prefix; ambiguous paths are refused.
    for path in ["//app/page", "/public/../app", "/%61pp", "/APP", "/app;x=1"] {
        let res = http.get(url(path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}: {}", log());
    }
    let res = http.get(url("/app%2Fpage")).send().await.unwrap();
    assert_eq!(res.status(), 400, "{}", log());
    assert!(upstream.requests().iter().all(|r| !r.path.contains("app")));

    // A forged cookie is refused at the edge: no origin call (it would have been a 503).
    let forged =
        edgeauth_token::cookie::sign_value(b"not-the-secret-not-the-secret-000", TOKEN).unwrap();
    let res = http
        .get(url("/app/page"))
        .header("cookie", format!("better-auth.session_token={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "{}", log());
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"edgeauth\", error=\"invalid_token\""
    );
    assert_eq!(
        json_of(res).await,
        json!({"code": "UNAUTHORIZED", "message": "Invalid or expired credentials"})
    );

    // A genuine cookie needs the origin, which is down: 503, never a pass.
    let genuine = edgeauth_token::cookie::sign_value(SECRET.as_bytes(), TOKEN).unwrap();
    let res = http
        .get(url("/app/page"))
        .header("cookie", format!("better-auth.session_token={genuine}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "{}", log());
    assert_eq!(json_of(res).await["code"], "SERVICE_UNAVAILABLE");

    // The auth API is proxied: with the origin down, a 502.
    let res = http.get(url("/api/auth/get-session")).send().await.unwrap();
    assert_eq!(res.status(), 502, "{}", log());
    assert_eq!(
        json_of(res).await,
        json!({"code": "BAD_GATEWAY", "message": "The origin is unreachable"})
    );

    // A JWT under the pinned key: forwarded with the verified identity, twice (memo).
    let jwt = mint(&key, now(), 900);
    for _ in 0..2 {
        upstream.clear();
        let res = http
            .get(url("/api/private/data"))
            .bearer_auth(&jwt)
            .header("x-edgeauth-user-id", "admin")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", log());
        let seen = upstream.requests_to("/api/private/data");
        assert_eq!(seen.len(), 1);
        let h = |name: &str| seen[0].header(name).map(str::to_owned);
        assert_eq!(h("x-edgeauth-user-id").as_deref(), Some("u1"));
        assert_eq!(
            h("x-edgeauth-user-email").as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(h("x-edgeauth-session-id").as_deref(), Some("s1"));
        assert_eq!(h("x-edgeauth-auth").as_deref(), Some("jwt"));
    }

    // Expired, unknown key, alg none, tampered: refused.
    let other = SigningKey::from_seed(&[8; 32], "other-key").unwrap();
    let header_none = "eyJhbGciOiJub25lIiwia2lkIjoidGVzdC1rZXkifQ";
    let payload = jwt.split('.').nth(1).unwrap();
    let mut tampered = jwt.clone();
    let flipped = if jwt.as_bytes()[jwt.len() - 5] == b'A' {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(jwt.len() - 5..jwt.len() - 4, flipped);
    for bad in [
        mint(&key, now() - 2000, 900),
        mint(&other, now(), 900),
        format!("{header_none}.{payload}."),
        tampered,
    ] {
        let res = http
            .get(url("/app/page"))
            .bearer_auth(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{bad}: {}", log());
    }
}

/// `GET /app/home` with `cookies`, then with `jwt` as a bearer: the two statuses.
async fn statuses(edge: &str, cookies: &AuthClient, jwt: &str) -> (u16, u16) {
    let mut with_cookie = AuthClient::new(edge);
    with_cookie.cookies = cookies.cookies.clone();
    let by_cookie = with_cookie.get("/app/home").await.unwrap().status.as_u16();
    let by_jwt = AuthClient::new(edge)
        .send(
            reqwest::Method::GET,
            "/app/home",
            None,
            &[("authorization", &format!("Bearer {jwt}"))],
        )
        .await
        .unwrap()
        .status
        .as_u16();
    (by_cookie, by_jwt)
}

async fn token(client: &mut AuthClient) -> String {
    let reply = client.get("/api/auth/token").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["token"].as_str().unwrap().to_string()
}

fn raw_token(client: &AuthClient) -> String {
    client.cookies["better-auth.session_token"]
        .split('.')
        .next()
        .unwrap()
        .to_string()
}

/// Every revoking call that passes through the edge takes effect at the edge at once, well
/// within the 60 s session cache: cookies and JWTs of the revoked sessions are refused, the
/// sessions spared keep working.
#[tokio::test]
async fn revocations_through_the_edge_act_at_once() {
    const PASSWORD: &str = "correct horse battery staple";
    const NEW_PASSWORD: &str = "a different horse entirely 42";
    let mut env = origin_env(&sqlite_url("edge-revocations"));
    env.push(("EDGEAUTH_EDGE_SECRET", EDGE_SECRET.to_string()));
    env.push((
        "EDGEAUTH_TRUSTED_IP_HEADER",
        "x-edgeauth-client-ip".to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start(&env).unwrap();
    let upstream = Upstream::start().unwrap();
    let edge = WranglerDev::start_with_secrets(
        &[
            ("ORIGIN_URL", &origin.url),
            ("UPSTREAM_URL", &upstream.url),
            ("PROTECTED_PATHS", "/app"),
            ("JWT_ISSUER", BASE_URL),
            ("JWT_AUDIENCE", BASE_URL),
            ("SESSION_CACHE_TTL", "60"),
        ],
        &[
            ("BETTER_AUTH_SECRET", edgeauth_tests::fixtures::SECRET),
            ("EDGE_SECRET", EDGE_SECRET),
        ],
    )
    .await
    .unwrap();
    let log = || format!("{}\n{}", edge.process.log_tail(), origin.process.log_tail());
    let url = edge.url.as_str();

    // One user in three browsers, each with a session and a JWT, all cached at the edge.
    let address = email("revoker");
    let mut a = browser(url);
    let reply = a.sign_up("Rev", &address, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut b = browser(url);
    assert_eq!(b.sign_in(&address, PASSWORD).await.unwrap().status, 200);
    let mut c = browser(url);
    assert_eq!(c.sign_in(&address, PASSWORD).await.unwrap().status, 200);
    let (jwt_a, jwt_b, jwt_c) = (
        token(&mut a).await,
        token(&mut b).await,
        token(&mut c).await,
    );
    for (client, jwt) in [(&a, &jwt_a), (&b, &jwt_b), (&c, &jwt_c)] {
        assert_eq!(statuses(url, client, jwt).await, (200, 200), "{}", log());
    }

    // revoke-session {token}: b's session ends; a and c are untouched.
    let reply = a
        .post(
            "/api/auth/revoke-session",
            &json!({ "token": raw_token(&b) }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(statuses(url, &b, &jwt_b).await, (401, 401), "{}", log());
    assert_eq!(statuses(url, &a, &jwt_a).await, (200, 200));
    assert_eq!(statuses(url, &c, &jwt_c).await, (200, 200));

    // revoke-other-sessions: c's session ends, the caller's is spared.
    let reply = a
        .post_empty("/api/auth/revoke-other-sessions")
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(statuses(url, &c, &jwt_c).await, (401, 401), "{}", log());
    assert_eq!(statuses(url, &a, &jwt_a).await, (200, 200), "{}", log());

    // change-password {revokeOtherSessions: true}: every session ends and a new one replaces
    // the caller's; the old cookie and JWT are refused, the new ones accepted.
    let mut old_a = AuthClient::new(url);
    old_a.cookies = a.cookies.clone();
    let reply = a
        .post(
            "/api/auth/change-password",
            &json!({
                "currentPassword": PASSWORD,
                "newPassword": NEW_PASSWORD,
                "revokeOtherSessions": true
            }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_ne!(raw_token(&a), raw_token(&old_a));
    assert_eq!(statuses(url, &old_a, &jwt_a).await, (401, 401), "{}", log());
    let new_jwt_a = token(&mut a).await;
    assert_eq!(statuses(url, &a, &new_jwt_a).await, (200, 200), "{}", log());

    // revoke-sessions: all of them, JWTs included; a new sign-in works at once.
    let mut before = AuthClient::new(url);
    before.cookies = a.cookies.clone();
    let reply = a.post_empty("/api/auth/revoke-sessions").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        statuses(url, &before, &new_jwt_a).await,
        (401, 401),
        "{}",
        log()
    );
    let mut d = browser(url);
    assert_eq!(d.sign_in(&address, NEW_PASSWORD).await.unwrap().status, 200);
    let jwt_d = token(&mut d).await;
    assert_eq!(statuses(url, &d, &jwt_d).await, (200, 200), "{}", log());

    // Sign-out through the edge: every Set-Cookie of the origin reaches the client.
    let reply = d.post_empty("/api/auth/sign-out").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.set_cookies().len(), 3, "{:?}", reply.set_cookies());
    drop(upstream);
}
