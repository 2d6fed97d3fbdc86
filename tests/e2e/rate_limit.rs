//! Rate limiting on the real binary (`EDGEAUTH_RATE_LIMIT=on`): Better Auth's per-address
//! limit of 3 sign-ins per 10 s with no path-spelling bypass, client addresses only from the
//! TCP peer or the configured header, the per-account failure limit across addresses, and
//! database storage shared by two origin processes.
//!
//! Each test runs its own origin and stays well inside one 10 s window; nothing asserts
//! wall-clock timing (the one sleep waits out a short, configured failure window).

use std::time::Duration;

use edgeauth_tests::fixtures::{browser, email, mailed_reset_token, origin_env, sqlite_url};
use edgeauth_tests::{AuthClient, Origin, Postgres, Reply, SmtpServer};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";
const LIMITED: &str = r#"{"message":"Too many requests. Please try again later."}"#;
const SIGN_IN: &str = "/api/auth/sign-in/email";
const CLIENT_IP: &str = "x-test-client-ip";

fn start(database_url: &str, extra: &[(&'static str, &str)]) -> Origin {
    let mut env = origin_env(database_url);
    env.push(("EDGEAUTH_RATE_LIMIT", "on".to_string()));
    for (name, value) in extra {
        env.push((name, value.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Origin::start(&env).unwrap()
}

/// Better Auth's 429: the exact body, `X-Retry-After` within the window.
#[track_caller]
fn assert_limited(reply: &Reply, window_secs: u64) {
    assert_eq!(reply.status.as_u16(), 429, "body: {}", reply.text);
    assert_eq!(reply.text, LIMITED);
    let retry: u64 = reply.header("x-retry-after").unwrap().parse().unwrap();
    assert!((1..=window_secs).contains(&retry), "X-Retry-After: {retry}");
    assert_eq!(reply.header("content-type").unwrap(), "application/json");
}

#[track_caller]
fn assert_admitted(reply: &Reply) {
    assert_ne!(reply.status.as_u16(), 429, "body: {}", reply.text);
}

fn credentials(address: &str, password: &str) -> Value {
    json!({ "email": address, "password": password })
}

/// `POST path` with a JSON body and extra headers, through a fresh cookie-less client.
async fn post(url: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    let mut client = AuthClient::new(url);
    client
        .send(
            Method::POST,
            path,
            Some(("application/json", body.to_string().into_bytes())),
            headers,
        )
        .await
        .unwrap()
}

/// Sign-in from client address `ip` (the trusted header).
async fn sign_in_from(url: &str, ip: &str, address: &str, password: &str) -> Reply {
    post(
        url,
        SIGN_IN,
        &credentials(address, password),
        &[(CLIENT_IP, ip)],
    )
    .await
}

/// A POST whose request target is sent exactly as given (HTTP clients resolve `.` and
/// `..` segments before sending); returns the status and body.
async fn raw_post(url: &str, target: &str, body: &Value) -> (u16, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_fourth_sign_in_is_refused_whatever_the_path_spelling() {
    let origin = start(&sqlite_url("rate-limit-paths"), &[]);
    let url = origin.url.as_str();
    let address = email("limit");
    let mut client = browser(url);
    assert_eq!(
        client
            .sign_up("L", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    // The session records the TCP peer's address.
    let session = client.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["session"]["ipAddress"], "127.0.0.1");

    // Three sign-ins (right or wrong password) from one address are admitted...
    let good = credentials(&address, PASSWORD);
    let bad = credentials(&address, "wrong password, wrong password");
    assert_eq!(post(url, SIGN_IN, &bad, &[]).await.status, 401);
    assert_eq!(post(url, SIGN_IN, &good, &[]).await.status, 200);
    assert_eq!(post(url, SIGN_IN, &bad, &[]).await.status, 401);
    // ...the fourth within 10 s is not, with Better Auth's body and X-Retry-After.
    assert_limited(&post(url, SIGN_IN, &good, &[]).await, 10);

    // Other spellings of the path spend the same budget: refused too.
    for path in [
        "//api/auth/sign-in/email",
        "/api/auth//sign-in/email",
        "/api/auth/sign-in/email/",
        "/api/auth/sign-in//email",
        "/api/auth/sign%2Din/email",
        "/api/auth/%73ign-in/email",
    ] {
        assert_limited(&post(url, path, &good, &[]).await, 10);
    }
    for target in [
        "/api/auth/./sign-in/email",
        "/api/auth/x/../sign-in/email",
        "/api/auth/%2E/sign-in/email",
    ] {
        let (status, body) = raw_post(url, target, &good).await;
        assert_eq!((status, body.as_str()), (429, LIMITED), "{target}");
    }
    // Forwarding headers are not read: no fresh budget from a spoofed address.
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.50"),
        ("x-real-ip", "203.0.113.51"),
        ("forwarded", "for=203.0.113.52"),
        ("cf-connecting-ip", "203.0.113.53"),
        ("x-test-client-ip", "203.0.113.54"),
    ] {
        assert_limited(&post(url, SIGN_IN, &good, &[(name, value)]).await, 10);
    }
    // Other endpoints have their own budget.
    assert_eq!(
        client.get("/api/auth/get-session").await.unwrap().status,
        200
    );
}

#[tokio::test]
async fn other_path_spellings_never_reach_the_handler_unlimited() {
    let origin = start(&sqlite_url("rate-limit-spellings"), &[]);
    let url = origin.url.as_str();
    let address = email("spelling");
    let good = credentials(&address, PASSWORD);
    assert_eq!(
        browser(url)
            .sign_up("S", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    // Non-canonical spellings are not routed (404), and they count against the budget of
    // the path they spell...
    assert_eq!(
        post(url, "//api/auth/sign-in/email", &good, &[])
            .await
            .status,
        404
    );
    assert_eq!(
        post(url, "/api/auth/sign-in/email/", &good, &[])
            .await
            .status,
        404
    );
    assert_eq!(
        raw_post(url, "/api/auth/./sign-in/email", &good).await.0,
        404
    );
    // ...so the canonical path is already out of budget.
    assert_limited(&post(url, SIGN_IN, &good, &[]).await, 10);
}

#[tokio::test]
async fn spoofed_forwarded_for_gets_no_new_budget() {
    let origin = start(&sqlite_url("rate-limit-xff"), &[]);
    let url = origin.url.as_str();
    let body = credentials(&email("xff"), PASSWORD);
    for n in 1..=3 {
        let spoofed = format!("198.51.100.{n}");
        let reply = post(url, SIGN_IN, &body, &[("x-forwarded-for", &spoofed)]).await;
        assert_eq!(reply.status, 401, "body: {}", reply.text);
    }
    assert_limited(
        &post(url, SIGN_IN, &body, &[("x-forwarded-for", "198.51.100.4")]).await,
        10,
    );
}

#[tokio::test]
async fn a_trusted_header_gives_each_client_its_budget() {
    let origin = start(
        &sqlite_url("rate-limit-header"),
        &[("EDGEAUTH_TRUSTED_IP_HEADER", CLIENT_IP)],
    );
    let url = origin.url.as_str();
    // A new account per attempt, so the per-account limit stays out of the way.
    let account = || email("header");
    let wrong = "wrong password, wrong password";

    for _ in 0..3 {
        assert_admitted(&sign_in_from(url, "10.0.0.1", &account(), wrong).await);
    }
    assert_limited(&sign_in_from(url, "10.0.0.1", &account(), wrong).await, 10);
    // The IPv4-mapped spelling is the same client.
    assert_limited(
        &sign_in_from(url, "::ffff:10.0.0.1", &account(), wrong).await,
        10,
    );
    // Another address has its own budget, and X-Forwarded-For still counts for nothing.
    let other = post(
        url,
        SIGN_IN,
        &credentials(&account(), wrong),
        &[(CLIENT_IP, "10.0.0.2"), ("x-forwarded-for", "10.0.0.1")],
    )
    .await;
    assert_eq!(other.status, 401);

    // IPv6: one budget per /64, whatever the spelling.
    for _ in 0..3 {
        assert_admitted(&sign_in_from(url, "2001:db8:1:1::1", &account(), wrong).await);
    }
    assert_limited(
        &sign_in_from(url, "2001:db8:1:1:ffff::2", &account(), wrong).await,
        10,
    );
    assert_limited(
        &sign_in_from(url, "2001:DB8:0001:0001:0:0:0:3", &account(), wrong).await,
        10,
    );
    assert_admitted(&sign_in_from(url, "2001:db8:1:2::1", &account(), wrong).await);

    // A missing or malformed header is "unknown": one shared budget, not a fresh one each.
    let body = || credentials(&account(), wrong);
    assert_admitted(&post(url, SIGN_IN, &body(), &[]).await);
    assert_admitted(&post(url, SIGN_IN, &body(), &[(CLIENT_IP, "not an address")]).await);
    assert_admitted(&post(url, SIGN_IN, &body(), &[(CLIENT_IP, "10.0.0.3, 10.0.0.4")]).await);
    assert_limited(
        &post(url, SIGN_IN, &body(), &[(CLIENT_IP, "10.0.0.5:443")]).await,
        10,
    );

    // Sessions record the client's full address (mapped IPv4 as IPv4).
    let user = email("header-user");
    assert_eq!(
        browser(url)
            .sign_up("H", &user, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    for (sent, stored) in [
        ("198.51.100.23", "198.51.100.23"),
        ("::ffff:198.51.100.24", "198.51.100.24"),
        ("2001:0db8:0005:0000:0000:0000:0000:0017", "2001:db8:5::17"),
    ] {
        let mut client = browser(url);
        let reply = client
            .send(
                Method::POST,
                SIGN_IN,
                Some((
                    "application/json",
                    credentials(&user, PASSWORD).to_string().into_bytes(),
                )),
                &[(CLIENT_IP, sent)],
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "body: {}", reply.text);
        let session = client.get("/api/auth/get-session").await.unwrap().json();
        assert_eq!(session["session"]["ipAddress"], stored);
    }
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_across_addresses() {
    const WINDOW_SECS: u64 = 3;
    let window = WINDOW_SECS.to_string();
    let origin = start(
        &sqlite_url("rate-limit-account"),
        &[
            ("EDGEAUTH_TRUSTED_IP_HEADER", CLIENT_IP),
            ("EDGEAUTH_SIGNIN_FAILURE_LIMIT", "3"),
            ("EDGEAUTH_SIGNIN_FAILURE_WINDOW", &window),
        ],
    );
    let url = origin.url.as_str();
    let victim = email("victim");
    let bystander = email("bystander");
    for (name, address) in [("V", &victim), ("B", &bystander)] {
        let mut client = browser(url);
        let reply = client
            .send(
                Method::POST,
                "/api/auth/sign-up/email",
                Some((
                    "application/json",
                    json!({"name": name, "email": address, "password": PASSWORD})
                        .to_string()
                        .into_bytes(),
                )),
                &[(CLIENT_IP, "10.1.0.100")],
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "body: {}", reply.text);
    }
    let wrong = "wrong password, wrong password";

    // Three failures, each from another address (so the per-address limit is not the one
    // that bites), in any letter case...
    assert_eq!(
        sign_in_from(url, "10.1.0.1", &victim, wrong).await.status,
        401
    );
    assert_eq!(
        sign_in_from(url, "10.1.0.2", &victim.to_uppercase(), wrong)
            .await
            .status,
        401
    );
    assert_eq!(
        sign_in_from(url, "10.1.0.3", &victim, wrong).await.status,
        401
    );
    // ...lock the account: even the right password from a fresh address gets 429.
    assert_limited(
        &sign_in_from(url, "10.1.0.4", &victim, PASSWORD).await,
        WINDOW_SECS,
    );
    assert_limited(
        &sign_in_from(url, "2001:db8:9::1", &victim, PASSWORD).await,
        WINDOW_SECS,
    );
    // Other accounts are not affected.
    assert_eq!(
        sign_in_from(url, "10.1.0.5", &bystander, PASSWORD)
            .await
            .status,
        200
    );
    // Unknown addresses are counted the same way (the 429 reveals nothing).
    let nobody = email("nobody");
    for n in 6..=8 {
        let ip = format!("10.1.0.{n}");
        assert_eq!(sign_in_from(url, &ip, &nobody, wrong).await.status, 401);
    }
    assert_limited(
        &sign_in_from(url, "10.1.0.9", &nobody, wrong).await,
        WINDOW_SECS,
    );

    // Once a window has passed since the last failure, the right password works.
    tokio::time::sleep(Duration::from_millis(WINDOW_SECS * 1000 + 500)).await;
    assert_eq!(
        sign_in_from(url, "10.1.0.10", &victim, PASSWORD)
            .await
            .status,
        200
    );
    // A success clears the count: two failures, a success, two failures, a success.
    for ip in ["10.1.0.11", "10.1.0.12"] {
        assert_eq!(sign_in_from(url, ip, &victim, wrong).await.status, 401);
    }
    assert_eq!(
        sign_in_from(url, "10.1.0.13", &victim, PASSWORD)
            .await
            .status,
        200
    );
    for ip in ["10.1.0.14", "10.1.0.15"] {
        assert_eq!(sign_in_from(url, ip, &victim, wrong).await.status, 401);
    }
    assert_eq!(
        sign_in_from(url, "10.1.0.16", &victim, PASSWORD)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn database_storage_is_shared_by_two_processes() {
    let pg = Postgres::start_shared().await.unwrap();
    let settings = [
        ("EDGEAUTH_RATE_LIMIT_STORAGE", "database"),
        ("EDGEAUTH_TRUSTED_IP_HEADER", CLIENT_IP),
        ("EDGEAUTH_SIGNIN_FAILURE_LIMIT", "3"),
    ];
    let first = start(&pg.url(), &settings);
    let second = start(&pg.url(), &settings);
    let origins = [first.url.as_str(), second.url.as_str()];
    let address = email("shared");
    let wrong = "wrong password, wrong password";

    // Requests alternate between the processes: the fourth is refused.
    for n in 0..3 {
        assert_eq!(
            sign_in_from(origins[n % 2], "10.2.0.1", &address, wrong)
                .await
                .status,
            401
        );
    }
    assert_limited(
        &sign_in_from(origins[1], "10.2.0.1", &address, wrong).await,
        10,
    );
    assert_limited(
        &sign_in_from(origins[0], "10.2.0.1", &address, wrong).await,
        10,
    );

    // The per-account failure count is shared too (three failures above, from one address;
    // a fresh address on either process is now refused for that account).
    let failure_window = 900; // the default EDGEAUTH_SIGNIN_FAILURE_WINDOW
    assert_limited(
        &sign_in_from(origins[0], "10.2.0.2", &address, wrong).await,
        failure_window,
    );
    assert_limited(
        &sign_in_from(origins[1], "10.2.0.3", &address, wrong).await,
        failure_window,
    );

    // A burst of concurrent requests on both processes: exactly three are admitted.
    let mut tasks = Vec::new();
    for n in 0..24 {
        let url = origins[n % 2].to_string();
        tasks.push(tokio::spawn(async move {
            post(
                &url,
                "/api/auth/sign-in/nothing",
                &json!({}),
                &[(CLIENT_IP, "10.2.0.9")],
            )
            .await
            .status
            .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    let admitted = statuses.iter().filter(|s| **s != 429).count();
    assert_eq!(admitted, 3, "{statuses:?}");
    assert!(statuses[..3].iter().all(|s| *s == 404), "{statuses:?}");

    // The counters are Better Auth's rows: `<address>|<path>`, count, lastRequest (ms).
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.url())
        .await
        .unwrap();
    let rows: Vec<(String, i32, i64)> =
        sqlx::query_as(r#"SELECT "key", "count", "lastRequest" FROM "rateLimit" ORDER BY "key""#)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let find = |key: &str| rows.iter().find(|(k, _, _)| k == key).cloned();
    let (_, count, last) = find("10.2.0.1|/sign-in/email").unwrap();
    assert_eq!(count, 3);
    assert!(
        last > 1_700_000_000_000,
        "lastRequest is epoch milliseconds: {last}"
    );
    assert_eq!(find("10.2.0.9|/sign-in/nothing").unwrap().1, 3);
    assert_eq!(find(&format!("signin-failures|{address}")).unwrap().1, 3);
}

/// A password reset lifts the per-account lock at once (the mailbox owner is back in
/// control), instead of leaving the account locked for the rest of the window.
#[tokio::test]
async fn a_password_reset_lifts_the_account_lock() {
    let smtp = SmtpServer::start().await.unwrap();
    let smtp_url = smtp.url();
    let origin = start(
        &sqlite_url("rate-limit-reset"),
        &[
            ("EDGEAUTH_TRUSTED_IP_HEADER", CLIENT_IP),
            ("EDGEAUTH_SIGNIN_FAILURE_LIMIT", "3"),
            ("EDGEAUTH_SMTP_URL", &smtp_url),
        ],
    );
    let url = origin.url.as_str();
    let victim = email("locked");
    let reply = post(
        url,
        "/api/auth/sign-up/email",
        &json!({"name": "L", "email": victim, "password": PASSWORD}),
        &[
            (CLIENT_IP, "10.2.0.100"),
            ("origin", edgeauth_tests::fixtures::BASE_URL),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    for i in 1..=3 {
        let ip = format!("10.2.0.{i}");
        assert_eq!(
            sign_in_from(url, &ip, &victim, "wrong password, wrong")
                .await
                .status,
            401
        );
    }
    assert_limited(&sign_in_from(url, "10.2.0.4", &victim, PASSWORD).await, 900);

    let reply = post(
        url,
        "/api/auth/request-password-reset",
        &json!({ "email": victim }),
        &[(CLIENT_IP, "10.2.0.5")],
    )
    .await;
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    let token = mailed_reset_token(&smtp, &victim, 1).await;
    let new_password = "the mailbox owner is back";
    let reply = post(
        url,
        "/api/auth/reset-password",
        &json!({ "token": token, "newPassword": new_password }),
        &[(CLIENT_IP, "10.2.0.6")],
    )
    .await;
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    assert_eq!(
        sign_in_from(url, "10.2.0.7", &victim, new_password)
            .await
            .status,
        200
    );
}
