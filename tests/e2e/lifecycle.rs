//! The account lifecycle against a real SMTP listener: email verification, password reset,
//! email change and account deletion, each followed end to end through the link found in
//! the delivered message. Links point at the configured base URL (`BASE_URL`); the tests
//! follow them against the origin under test by keeping the path and query.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use edgeauth_origin::clock::ManualClock;
use edgeauth_tests::fixtures::{
    browser, email, expect, one_mail, origin_env, reset_token, sqlite_url, start_origin_with_mail,
    BASE_URL, PASSWORD, SECRET,
};
use edgeauth_tests::{
    AuthClient, InProcessOrigin, MailMessage, Origin, Postgres, Reply, SmtpServer, SmtpTlsMode,
};
use reqwest::Method;
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// An origin (the real binary) delivering to `smtp`, with `extra` settings.
fn start(database_url: &str, smtp: &SmtpServer, extra: &[(&str, &str)]) -> Origin {
    start_origin_with_mail(database_url, smtp, extra)
}

/// The path and query of a mailed link, which must point at the configured base URL.
fn path_of(link: &str) -> String {
    link.strip_prefix(BASE_URL)
        .unwrap_or_else(|| panic!("link not on the base URL: {link}"))
        .to_string()
}

/// A `verify-email` link's path, from the text part; the HTML part carries the same link.
fn verify_path(mail: &MailMessage) -> String {
    let link = mail.link("/api/auth/verify-email?token=").unwrap();
    assert_eq!(
        mail.html_link("/api/auth/verify-email?token=").unwrap(),
        link
    );
    path_of(&link)
}

fn query_param(path: &str, name: &str) -> String {
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {path}"))
        .to_string()
}

/// Waits (up to 20 s) until the origin's log contains `needle`.
async fn wait_for_log(origin: &Origin, needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !origin.process.log().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "{needle:?} never logged: {}",
            origin.process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST /request-password-reset {email}` from a new browser.
async fn request_reset(url: &str, address: &str) -> Reply {
    browser(url)
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": address }),
        )
        .await
        .unwrap()
}

/// A sign-up from a new browser.
async fn sign_up_fresh(url: &str, address: &str) -> Reply {
    browser(url)
        .sign_up("New", address, PASSWORD)
        .await
        .unwrap()
}

/// A sign-in from a new browser.
async fn sign_in_fresh(url: &str, address: &str, password: &str) -> Reply {
    browser(url).sign_in(address, password).await.unwrap()
}

/// `POST /reset-password {token, newPassword}`.
async fn reset_password(client: &mut AuthClient, token: &str, password: &str) -> Reply {
    client
        .post(
            "/api/auth/reset-password",
            &json!({ "token": token, "newPassword": password }),
        )
        .await
        .unwrap()
}

/// Posts each body to `path` and asserts the answers are identical (status, body, content
/// type): what a caller learns is the same for a registered and an unknown address.
async fn same_answer(client: &mut AuthClient, path: &str, bodies: [Value; 2]) -> Reply {
    let mut replies = Vec::new();
    for body in &bodies {
        replies.push(client.post(path, body).await.unwrap());
    }
    let seen = |r: &Reply| (r.status, r.text.clone(), r.header("content-type"));
    assert_eq!(seen(&replies[0]), seen(&replies[1]), "{path}");
    replies.remove(0)
}

async fn session_user(client: &mut AuthClient) -> Value {
    client.get("/api/auth/get-session").await.unwrap().json()["user"].clone()
}

/// Email verification required: sign-up makes no session, sign-in is refused and resends,
/// forged and tampered links are refused, the genuine link verifies and signs in. The mail
/// is multipart (text and HTML), comes from the configured sender through SMTP AUTH with
/// the URL's credentials, and its link is built from the base URL even when the request
/// names another host.
#[tokio::test]
async fn email_verification_end_to_end() {
    let smtp = SmtpServer::start().await.unwrap();
    let url = format!(
        "smtp://mailer%40example.com:s3cret%2Fpass@127.0.0.1:{}",
        smtp.port()
    );
    let mut env = origin_env(&sqlite_url("verify"));
    env.push(("EDGEAUTH_SMTP_URL", url));
    env.push(("EDGEAUTH_MAIL_FROM", "Example <auth@example.com>".into()));
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(&[
        ("EDGEAUTH_REQUIRE_EMAIL_VERIFICATION", "on"),
        ("EDGEAUTH_VERIFICATION_ON_SIGN_IN", "on"),
        ("EDGEAUTH_AUTO_SIGN_IN_AFTER_VERIFICATION", "on"),
    ]);
    let origin = Origin::start(&env).unwrap();

    let address = email("verify");
    let mut client = browser(&origin.url);
    let reply = client
        .send(
            Method::POST,
            "/api/auth/sign-up/email",
            Some((
                "application/json",
                json!({"name": "Vera", "email": address, "password": PASSWORD,
                       "callbackURL": "/welcome"})
                .to_string()
                .into_bytes(),
            )),
            &[
                ("host", "evil.example"),
                ("x-forwarded-host", "evil.example"),
            ],
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json()["token"], Value::Null);
    assert!(reply.set_cookie("better-auth.session_token").is_none());
    assert_eq!(reply.json()["user"]["emailVerified"], false);

    let mail = one_mail(&smtp, &address, 1).await;
    assert_eq!(mail.mail_from, "auth@example.com");
    assert_eq!(
        mail.auth,
        Some(("mailer@example.com".into(), "s3cret/pass".into()))
    );
    assert!(mail.header("From").unwrap().contains("auth@example.com"));
    assert!(mail.subject.contains("Verify"), "{}", mail.subject);
    assert!(mail.html.is_some() && mail.text.is_some());
    let path = verify_path(&mail);
    assert!(path.ends_with("&callbackURL=%2Fwelcome"), "{path}");

    // Unverified: 403 after the password check, and the link is mailed again.
    let refused = client.sign_in(&address, PASSWORD).await.unwrap();
    expect(&refused, 403, Some("EMAIL_NOT_VERIFIED"));
    let again = one_mail(&smtp, &address, 2).await;
    assert!(verify_path(&again).contains("/verify-email?token="));
    expect(
        &client.sign_in(&address, "wrong password!").await.unwrap(),
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );

    // Forged and tampered tokens.
    let token = query_param(&path, "token");
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    assert_eq!(parts.len(), 3, "{token}");
    let signature = parts[2].clone();
    parts[2] = format!("{}A", &signature[..signature.len() - 1]);
    if parts[2] == signature {
        parts[2] = format!("{}B", &signature[..signature.len() - 1]);
    }
    let forged = parts.join(".");
    let reply = client
        .get(&format!(
            "/api/auth/verify-email?token={forged}&callbackURL=%2Fwelcome"
        ))
        .await
        .unwrap();
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location").unwrap(),
        "/welcome?error=invalid_token"
    );
    let reply = client
        .get(&format!("/api/auth/verify-email?token={forged}"))
        .await
        .unwrap();
    expect(&reply, 401, Some("INVALID_TOKEN"));
    // alg "none" over the genuine payload.
    let none = format!("eyJhbGciOiJub25lIn0.{}.", token.split('.').nth(1).unwrap());
    expect(
        &client
            .get(&format!("/api/auth/verify-email?token={none}"))
            .await
            .unwrap(),
        401,
        Some("INVALID_TOKEN"),
    );
    expect(
        &client.get("/api/auth/verify-email").await.unwrap(),
        400,
        Some("VALIDATION_ERROR"),
    );

    // The genuine link: verified, signed in (auto sign-in), redirected to the callback.
    let mut browser_tab = browser(&origin.url);
    let reply = browser_tab.get(&path).await.unwrap();
    assert_eq!(reply.status, 302, "{}", reply.text);
    assert_eq!(reply.header("location").unwrap(), "/welcome");
    assert!(reply.set_cookie("better-auth.session_token").is_some());
    let user = session_user(&mut browser_tab).await;
    assert_eq!(user["email"], address.as_str());
    assert_eq!(user["emailVerified"], true);
    // Following it again changes nothing and signs in again (the token is stateless).
    assert_eq!(browser_tab.get(&path).await.unwrap().status, 302);
    expect(
        &client.sign_in(&address, PASSWORD).await.unwrap(),
        200,
        None,
    );

    // Signed in and verified: asking again is refused; asking for another address too.
    let mut signed_in = client.clone();
    expect(
        &signed_in
            .post(
                "/api/auth/send-verification-email",
                &json!({ "email": address }),
            )
            .await
            .unwrap(),
        400,
        Some("EMAIL_IS_ALREADY_VERIFIED"),
    );
    expect(
        &signed_in
            .post(
                "/api/auth/send-verification-email",
                &json!({ "email": "someone-else@example.com" }),
            )
            .await
            .unwrap(),
        400,
        Some("EMAIL_MISMATCH"),
    );
    // Nothing secret in the log: no token, no link, no SMTP password.
    let log = origin.process.log();
    for secret in [token.as_str(), "s3cret", "verify-email?token"] {
        assert!(!log.contains(secret), "{secret} in the origin log");
    }
}

/// Signed out, `send-verification-email` answers the same for a registered unverified
/// address, a verified one and an unknown one; only the first gets mail.
#[tokio::test]
async fn verification_resend_does_not_reveal_addresses() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("resend"), &smtp, &[]);
    let known = email("resend-known");
    let mut client = browser(&origin.url);
    expect(
        &client.sign_up("K", &known, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let unknown = email("resend-unknown");
    let mut anonymous = browser(&origin.url);
    let reply = same_answer(
        &mut anonymous,
        "/api/auth/send-verification-email",
        [&known, &unknown].map(|a| json!({ "email": a, "callbackURL": "/done" })),
    )
    .await;
    assert_eq!(reply.text, r#"{"status":true}"#);
    let mail = one_mail(&smtp, &known, 1).await;
    assert!(verify_path(&mail).ends_with("callbackURL=%2Fdone"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(smtp.messages_to(&unknown).is_empty());
}

/// Password reset on SQLite: see [`reset_scenario`].
#[tokio::test]
async fn password_reset_on_sqlite() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("reset"), &smtp, &[]);
    reset_scenario(&origin, &smtp).await;
}

/// Password reset on PostgreSQL: see [`reset_scenario`].
#[tokio::test]
async fn password_reset_on_postgres() {
    let pg = Postgres::start_shared().await.unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&pg.url(), &smtp, &[]);
    reset_scenario(&origin, &smtp).await;
}

/// The same answer for known and unknown addresses; the link redirects with the token;
/// a password the policy refuses leaves the token usable; eight concurrent redemptions:
/// exactly one succeeds; the old password and every session end; the token works once.
async fn reset_scenario(origin: &Origin, smtp: &SmtpServer) {
    let address = email("reset");
    let mut owner = browser(&origin.url);
    expect(
        &owner.sign_up("R", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let mut other_device = browser(&origin.url);
    expect(
        &other_device.sign_in(&address, PASSWORD).await.unwrap(),
        200,
        None,
    );

    let mut anonymous = browser(&origin.url);
    let unknown = email("reset-unknown");
    let reply = same_answer(
        &mut anonymous,
        "/api/auth/request-password-reset",
        [&address, &unknown].map(|a| json!({ "email": a, "redirectTo": "/reset" })),
    )
    .await;
    expect(&reply, 200, None);
    assert_eq!(
        reply.json(),
        json!({"status": true,
               "message": "If this email exists in our system, check your email for the reset link"})
    );
    expect(
        &anonymous
            .post(
                "/api/auth/request-password-reset",
                &json!({ "email": address, "redirectTo": "https://evil.example/steal" }),
            )
            .await
            .unwrap(),
        403,
        Some("INVALID_REDIRECTURL"),
    );

    let mail = one_mail(smtp, &address, 1).await;
    assert!(mail.subject.contains("Reset"), "{}", mail.subject);
    let path = path_of(&mail.link("/api/auth/reset-password/").unwrap());
    let token = path
        .strip_prefix("/api/auth/reset-password/")
        .and_then(|rest| rest.split_once('?'))
        .map(|(token, _)| token.to_string())
        .unwrap();
    assert_eq!(token.len(), 24, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(path.ends_with("?callbackURL=%2Freset"), "{path}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(smtp.messages_to(&unknown).is_empty());

    // The link redirects to the app with the token.
    let reply = anonymous.get(&path).await.unwrap();
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{BASE_URL}/reset?token={token}")
    );
    let reply = anonymous
        .get("/api/auth/reset-password/notARealToken123456789?callbackURL=%2Freset")
        .await
        .unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{BASE_URL}/reset?error=INVALID_TOKEN")
    );

    // A refused password does not spend the token.
    expect(
        &reset_password(&mut anonymous, &token, "short").await,
        400,
        Some("PASSWORD_TOO_SHORT"),
    );
    expect(
        &reset_password(&mut anonymous, &"x".repeat(24), NEW_PASSWORD).await,
        400,
        Some("INVALID_TOKEN"),
    );

    // Eight concurrent redemptions, half with the token in the query: exactly one wins.
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let mut client = browser(&origin.url);
            let token = token.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    client
                        .post(
                            "/api/auth/reset-password",
                            &json!({ "token": token, "newPassword": NEW_PASSWORD }),
                        )
                        .await
                        .unwrap()
                } else {
                    client
                        .post(
                            &format!("/api/auth/reset-password?token={token}"),
                            &json!({ "newPassword": NEW_PASSWORD }),
                        )
                        .await
                        .unwrap()
                }
            })
        })
        .collect();
    let mut won = 0;
    for handle in handles {
        let reply = handle.await.unwrap();
        match reply.status.as_u16() {
            200 => {
                assert_eq!(reply.text, r#"{"status":true}"#);
                won += 1;
            }
            _ => expect(&reply, 400, Some("INVALID_TOKEN")),
        }
    }
    assert_eq!(won, 1, "exactly one redemption must succeed");

    // Every session ended (EDGEAUTH_REVOKE_SESSIONS_ON_RESET defaults on).
    for client in [&mut owner, &mut other_device] {
        assert_eq!(
            client.get("/api/auth/get-session").await.unwrap().text,
            "null"
        );
    }
    let mut fresh = browser(&origin.url);
    expect(
        &fresh.sign_in(&address, PASSWORD).await.unwrap(),
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    expect(
        &fresh.sign_in(&address, NEW_PASSWORD).await.unwrap(),
        200,
        None,
    );
    // Used: refused, and the link now says so.
    expect(
        &reset_password(&mut anonymous, &token, "yet another passphrase").await,
        400,
        Some("INVALID_TOKEN"),
    );
    let reply = anonymous.get(&path).await.unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{BASE_URL}/reset?error=INVALID_TOKEN")
    );
}

/// With `EDGEAUTH_REVOKE_SESSIONS_ON_RESET=off` a reset leaves sessions alone; a new
/// request replaces the earlier link; a link without a redirect target lands on `/error`.
#[tokio::test]
async fn reset_keeps_sessions_when_configured() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(
        &sqlite_url("reset-keep"),
        &smtp,
        &[("EDGEAUTH_REVOKE_SESSIONS_ON_RESET", "off")],
    );
    let address = email("keep");
    let mut owner = browser(&origin.url);
    expect(
        &owner.sign_up("K", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let mut anonymous = browser(&origin.url);
    let request = json!({ "email": address });
    anonymous
        .post("/api/auth/request-password-reset", &request)
        .await
        .unwrap();
    let first = path_of(
        &one_mail(&smtp, &address, 1)
            .await
            .link("/api/auth/reset-password/")
            .unwrap(),
    );
    // A second request replaces the first link: only the newest works.
    anonymous
        .post("/api/auth/request-password-reset", &request)
        .await
        .unwrap();
    let mail = one_mail(&smtp, &address, 2).await;
    let path = path_of(&mail.link("/api/auth/reset-password/").unwrap());
    assert_ne!(first, path);
    let first_token = reset_token(&first);
    expect(
        &reset_password(&mut anonymous, &first_token, NEW_PASSWORD).await,
        400,
        Some("INVALID_TOKEN"),
    );
    // No redirect target: the link lands on the error page with INVALID_TOKEN, as Better
    // Auth's does, but the token itself is still good.
    let reply = anonymous.get(&path).await.unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{BASE_URL}/api/auth/error?error=INVALID_TOKEN")
    );
    let page = anonymous
        .get("/api/auth/error?error=INVALID_TOKEN")
        .await
        .unwrap();
    assert!(page.text.contains("INVALID_TOKEN"));
    let page = anonymous
        .get("/api/auth/error?error=%3Cscript%3E")
        .await
        .unwrap();
    assert!(page.text.contains("UNKNOWN") && !page.text.contains("<script>"));
    let token = reset_token(&path);
    expect(
        &reset_password(&mut anonymous, &token, NEW_PASSWORD).await,
        200,
        None,
    );
    assert_eq!(session_user(&mut owner).await["email"], address.as_str());
}

/// Confirmed email change (the default for verified users): the current address approves,
/// then the new one verifies; the email moves, stays verified, and signs in. An unverified
/// user verifies the new address directly, and following that link signed out creates no
/// session. Someone else's session cannot complete another user's change.
#[tokio::test]
async fn email_change_flows() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(
        &sqlite_url("change-email"),
        &smtp,
        &[("EDGEAUTH_VERIFICATION_ON_SIGN_UP", "on")],
    );
    let old = email("change-old");
    let new = email("change-new");
    let mut user = browser(&origin.url);
    expect(&user.sign_up("C", &old, PASSWORD).await.unwrap(), 200, None);
    let verify = verify_path(&one_mail(&smtp, &old, 1).await);
    assert_eq!(user.get(&verify).await.unwrap().status, 302);
    assert_eq!(session_user(&mut user).await["emailVerified"], true);

    // Refusals first.
    let taken = email("change-taken");
    expect(
        &browser(&origin.url)
            .sign_up("T", &taken, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    for (body, status, code) in [
        (
            json!({ "newEmail": taken }),
            422,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        ),
        (
            json!({ "newEmail": old.to_uppercase() }),
            400,
            "EMAIL_IS_THE_SAME",
        ),
        (
            json!({ "newEmail": "not-an-address" }),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({ "newEmail": new, "callbackURL": "//evil.example" }),
            403,
            "INVALID_CALLBACKURL",
        ),
    ] {
        expect(
            &user.post("/api/auth/change-email", &body).await.unwrap(),
            status,
            Some(code),
        );
    }
    expect(
        &browser(&origin.url)
            .post("/api/auth/change-email", &json!({ "newEmail": new }))
            .await
            .unwrap(),
        401,
        None,
    );

    let reply = user
        .post(
            "/api/auth/change-email",
            &json!({ "newEmail": new, "callbackURL": "/settings" }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    // Step 1: the current address is asked, naming the new one.
    let confirm = one_mail(&smtp, &old, 2).await;
    assert!(confirm.text.as_deref().unwrap().contains(&new));
    assert!(smtp.messages_to(&new).is_empty());
    let confirm_path = verify_path(&confirm);
    // Another user's session cannot use it.
    let mut intruder = browser(&origin.url);
    expect(
        &intruder.sign_in(&taken, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let reply = intruder.get(&confirm_path).await.unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        "/settings?error=unauthorized"
    );
    let reply = user.get(&confirm_path).await.unwrap();
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location").unwrap(), "/settings");
    assert_eq!(session_user(&mut user).await["email"], old.as_str());
    // Step 2: the new address verifies; the email changes, verified.
    let verify_new = verify_path(&one_mail(&smtp, &new, 1).await);
    let reply = user.get(&verify_new).await.unwrap();
    assert_eq!(reply.status, 302);
    let now = session_user(&mut user).await;
    assert_eq!(now["email"], new.as_str());
    assert_eq!(now["emailVerified"], true);
    expect(&sign_in_fresh(&origin.url, &new, PASSWORD).await, 200, None);
    expect(
        &sign_in_fresh(&origin.url, &old, PASSWORD).await,
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    // The spent link finds no user at the old address.
    assert_eq!(
        user.get(&verify_new)
            .await
            .unwrap()
            .header("location")
            .unwrap(),
        "/settings?error=user_not_found"
    );

    // Unverified user: the new address verifies directly; signed out, no session is made.
    let plain_old = email("plain-old");
    let plain_new = email("plain-new");
    let mut plain = browser(&origin.url);
    expect(
        &plain.sign_up("P", &plain_old, PASSWORD).await.unwrap(),
        200,
        None,
    );
    one_mail(&smtp, &plain_old, 1).await;
    expect(
        &plain
            .post("/api/auth/change-email", &json!({ "newEmail": plain_new }))
            .await
            .unwrap(),
        200,
        None,
    );
    let link = verify_path(&one_mail(&smtp, &plain_new, 1).await);
    let mut signed_out = browser(&origin.url);
    let reply = signed_out
        .get(link.split("&callbackURL").next().unwrap())
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json()["user"]["email"], plain_new.as_str());
    assert_eq!(reply.json()["user"]["emailVerified"], true);
    assert!(reply.set_cookie("better-auth.session_token").is_none());
    assert_eq!(session_user(&mut plain).await["email"], plain_new.as_str());
}

/// Deletion with the password or a fresh session ends every session and the account.
#[tokio::test]
async fn delete_user_with_password_or_fresh_session() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("delete"), &smtp, &[]);
    let address = email("delete");
    let mut user = browser(&origin.url);
    expect(
        &user.sign_up("D", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let mut laptop = browser(&origin.url);
    expect(
        &laptop.sign_in(&address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    expect(
        &user
            .post(
                "/api/auth/delete-user",
                &json!({ "password": "not my password" }),
            )
            .await
            .unwrap(),
        400,
        Some("INVALID_PASSWORD"),
    );
    expect(
        &user
            .post(
                "/api/auth/delete-user",
                &json!({ "password": PASSWORD, "callbackURL": "https:evil.example" }),
            )
            .await
            .unwrap(),
        403,
        Some("INVALID_CALLBACKURL"),
    );
    expect(
        &browser(&origin.url)
            .post("/api/auth/delete-user", &json!({}))
            .await
            .unwrap(),
        401,
        None,
    );
    let reply = user
        .post("/api/auth/delete-user", &json!({ "password": PASSWORD }))
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(
        reply.json(),
        json!({ "success": true, "message": "User deleted" })
    );
    assert!(reply
        .set_cookie("better-auth.session_token")
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        laptop.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    expect(
        &sign_in_fresh(&origin.url, &address, PASSWORD).await,
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    // The address is free again.
    expect(
        &browser(&origin.url)
            .sign_up("D2", &address, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );

    // A fresh session needs no password (an empty body is fine).
    let other = email("delete-fresh");
    let mut fresh = browser(&origin.url);
    expect(
        &fresh.sign_up("F", &other, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let reply = fresh
        .send(Method::POST, "/api/auth/delete-user", None, &[])
        .await
        .unwrap();
    expect(&reply, 200, None);

    // Ten concurrent deletions of one account: exactly one deletes, the others find the
    // session gone (401); no 5xx.
    let third = email("delete-concurrent");
    let mut racer = browser(&origin.url);
    expect(
        &racer.sign_up("C", &third, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let mut client = racer.clone();
            tokio::spawn(async move {
                client
                    .post("/api/auth/delete-user", &json!({ "password": PASSWORD }))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut deleted = 0;
    for handle in handles {
        let reply = handle.await.unwrap();
        match reply.status.as_u16() {
            200 => deleted += 1,
            401 => {}
            other => panic!("{other}: {}", reply.text),
        }
    }
    assert_eq!(deleted, 1, "exactly one request deletes the account");
    expect(
        &sign_in_fresh(&origin.url, &third, PASSWORD).await,
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    assert_eq!(
        fresh.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
}

/// `EDGEAUTH_DELETE_USER=verify`: a link is mailed; it works only for its user, signed in,
/// once. `off`: 404.
#[tokio::test]
async fn delete_user_confirmed_by_mail() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(
        &sqlite_url("delete-verify"),
        &smtp,
        &[("EDGEAUTH_DELETE_USER", "verify")],
    );
    let address = email("delete-verify");
    let mut user = browser(&origin.url);
    expect(
        &user.sign_up("V", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let reply = user
        .post(
            "/api/auth/delete-user",
            &json!({ "callbackURL": "/goodbye" }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(
        reply.json(),
        json!({ "success": true, "message": "Verification email sent" })
    );
    assert_eq!(session_user(&mut user).await["email"], address.as_str());
    let mail = one_mail(&smtp, &address, 1).await;
    let path = path_of(&mail.link("/api/auth/delete-user/callback?token=").unwrap());
    assert!(path.ends_with("&callbackURL=%2Fgoodbye"), "{path}");

    expect(
        &browser(&origin.url).get(&path).await.unwrap(),
        404,
        Some("FAILED_TO_GET_USER_INFO"),
    );
    let mut someone = browser(&origin.url);
    expect(
        &someone
            .sign_up("S", &email("someone"), PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    expect(
        &someone.get(&path).await.unwrap(),
        404,
        Some("INVALID_TOKEN"),
    );
    expect(
        &user
            .get("/api/auth/delete-user/callback?token=forged&callbackURL=%2Fgoodbye")
            .await
            .unwrap(),
        404,
        Some("INVALID_TOKEN"),
    );
    let evil = path.replace("%2Fgoodbye", "%2F%2Fevil.example");
    expect(
        &user.get(&evil).await.unwrap(),
        403,
        Some("INVALID_CALLBACKURL"),
    );

    let reply = user.get(&path).await.unwrap();
    assert_eq!(reply.status, 302, "{}", reply.text);
    assert_eq!(reply.header("location").unwrap(), "/goodbye");
    assert_eq!(
        user.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    expect(
        &sign_in_fresh(&origin.url, &address, PASSWORD).await,
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    // Used once: a second use finds no session and no token.
    expect(
        &user.get(&path).await.unwrap(),
        404,
        Some("FAILED_TO_GET_USER_INFO"),
    );

    let off = start(
        &sqlite_url("delete-off"),
        &smtp,
        &[("EDGEAUTH_DELETE_USER", "off")],
    );
    let mut user = browser(&off.url);
    expect(
        &user.sign_up("O", &email("off"), PASSWORD).await.unwrap(),
        200,
        None,
    );
    let reply = user
        .post("/api/auth/delete-user", &json!({ "password": PASSWORD }))
        .await
        .unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.text, "");
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-05-01T08:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// With the origin's clock under control: verification links expire after an hour
/// (`token_expired`), reset links after an hour, and a session older than a day needs the
/// password to delete its account.
#[tokio::test]
async fn expired_links_and_stale_sessions() {
    let smtp = SmtpServer::start().await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let smtp_url = smtp.url();
    let origin = InProcessOrigin::start(
        &[
            "--database-url",
            &sqlite_url("expiry"),
            "--secret",
            SECRET,
            "--base-url",
            BASE_URL,
            "--smtp-url",
            &smtp_url,
            "--verification-on-sign-up",
            "on",
            "--hash-concurrency",
            "2",
        ],
        clock.clone(),
    )
    .await
    .unwrap();
    let address = email("expiry");
    let mut user = browser(&origin.url);
    expect(
        &user.sign_up("E", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let verify = verify_path(&one_mail(&smtp, &address, 1).await);
    let mut anonymous = browser(&origin.url);
    anonymous
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": address, "redirectTo": "/r" }),
        )
        .await
        .unwrap();
    let reset = path_of(
        &one_mail(&smtp, &address, 2)
            .await
            .link("/reset-password/")
            .unwrap(),
    );
    let token = reset_token(&reset);

    clock.advance(chrono::Duration::seconds(3600));
    let reply = anonymous.get(&verify).await.unwrap();
    assert_eq!(reply.header("location").unwrap(), "/?error=token_expired");
    let bare = verify.split("&callbackURL").next().unwrap();
    expect(
        &anonymous.get(bare).await.unwrap(),
        401,
        Some("TOKEN_EXPIRED"),
    );
    assert_eq!(
        anonymous
            .get(&reset)
            .await
            .unwrap()
            .header("location")
            .unwrap(),
        format!("{BASE_URL}/r?error=INVALID_TOKEN")
    );
    expect(
        &reset_password(&mut anonymous, &token, NEW_PASSWORD).await,
        400,
        Some("INVALID_TOKEN"),
    );

    // A session a day and a second old is not fresh: the password is needed.
    clock.advance(chrono::Duration::seconds(86400 - 3600 + 1));
    expect(
        &user
            .post("/api/auth/delete-user", &json!({}))
            .await
            .unwrap(),
        400,
        Some("SESSION_EXPIRED_REAUTHENTICATE_TO_PERFORM_THIS_ACTION"),
    );
    expect(
        &user
            .post("/api/auth/delete-user", &json!({ "password": PASSWORD }))
            .await
            .unwrap(),
        200,
        None,
    );
}

/// Sending never blocks or fails the request: a temporary SMTP refusal is retried with
/// backoff until the mail goes through; with the SMTP server gone, the request still
/// succeeds and the failure is logged without the link.
#[tokio::test]
async fn delivery_retries_and_failures() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("retries"), &smtp, &[]);
    let address = email("retry");
    expect(
        &browser(&origin.url)
            .sign_up("R", &address, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    smtp.fail_next(2);
    let mut anonymous = browser(&origin.url);
    let reply = anonymous
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": address }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    let mail = one_mail(&smtp, &address, 1).await;
    assert_eq!(smtp.refusals(), 2);
    assert!(mail.link("/reset-password/").is_ok());

    // SMTP gone: the answer is unchanged, and the log says so without the token.
    let port = smtp.port();
    drop(smtp);
    let reply = anonymous
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": address }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    wait_for_log(&origin, "mail delivery failed, will retry").await;
    let log = origin.process.log();
    assert!(!log.contains("reset-password/"), "link in the log");
    assert!(!log.contains(&format!("{port}/")), "SMTP URL in the log");
}

/// Without `EDGEAUTH_SMTP_URL`, development prints the mail and its link to the log;
/// production turns the mail flows off with Better Auth's errors.
#[tokio::test]
async fn development_log_transport_and_production_without_smtp() {
    let mut env = origin_env(&sqlite_url("devmail"));
    env.push(("EDGEAUTH_VERIFICATION_ON_SIGN_UP", "on".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dev = Origin::start(&env).unwrap();
    let address = email("devmail");
    expect(
        &browser(&dev.url)
            .sign_up("L", &address, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    wait_for_log(&dev, "/api/auth/verify-email?token=").await;
    assert!(dev.process.log().contains(&address));

    let mut env = origin_env(&sqlite_url("prodmail"));
    env.push(("EDGEAUTH_ENV", "production".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let prod = Origin::start(&env).unwrap();
    let mut client = browser(&prod.url);
    expect(
        &client
            .post(
                "/api/auth/request-password-reset",
                &json!({ "email": address }),
            )
            .await
            .unwrap(),
        400,
        Some("RESET_PASSWORD_ISNT_ENABLED"),
    );
    expect(
        &client
            .post(
                "/api/auth/send-verification-email",
                &json!({ "email": address }),
            )
            .await
            .unwrap(),
        400,
        Some("VERIFICATION_EMAIL_ISNT_ENABLED"),
    );
}

/// Every redirect target the lifecycle takes is checked against the trusted origins,
/// whatever its disguise: no open redirect, on any endpoint.
#[tokio::test]
async fn open_redirects_are_refused_everywhere() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("redirects"), &smtp, &[]);
    let address = email("redirects");
    let mut user = browser(&origin.url);
    expect(
        &user.sign_up("O", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let evil = [
        "//evil.example",
        "/\\evil.example",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "https:evil.example",
        "https://evil.example/",
        "https://localhost:3000@evil.example/",
        "http://localhost:3000.evil.example/",
        "https://evil.example#@localhost:3000",
        "javascript:alert(1)",
        "//localhost:3000@evil.example",
        "\\\\evil.example",
    ];
    for target in evil {
        let encoded = edgeauth_token::cookie::encode_uri_component(target);
        for (path, body) in [
            (
                "/api/auth/send-verification-email",
                json!({ "email": address, "callbackURL": target }),
            ),
            (
                "/api/auth/request-password-reset",
                json!({ "email": address, "redirectTo": target }),
            ),
            (
                "/api/auth/change-email",
                json!({ "newEmail": email("x"), "callbackURL": target }),
            ),
            (
                "/api/auth/delete-user",
                json!({ "password": PASSWORD, "callbackURL": target }),
            ),
            (
                "/api/auth/sign-up/email",
                json!({ "name": "x", "email": email("x"), "password": PASSWORD, "callbackURL": target }),
            ),
        ] {
            let reply = user.post(path, &body).await.unwrap();
            assert_eq!(reply.status, 403, "{path} {target}: {}", reply.text);
        }
        for path in [
            format!("/api/auth/verify-email?token=x&callbackURL={encoded}"),
            format!("/api/auth/reset-password/abc?callbackURL={encoded}"),
            format!("/api/auth/delete-user/callback?token=x&callbackURL={encoded}"),
        ] {
            let reply = user.get(&path).await.unwrap();
            assert_eq!(reply.status, 403, "{path}: {}", reply.text);
            assert!(reply.header("location").is_none());
        }
    }
    // Still signed in and present: nothing was deleted.
    assert_eq!(session_user(&mut user).await["email"], address.as_str());
    // A trusted absolute target is fine.
    let reply = user
        .get("/api/auth/reset-password/abc?callbackURL=http%3A%2F%2Fapp.localhost%3A5173%2Fr")
        .await
        .unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        "http://app.localhost:5173/r?error=INVALID_TOKEN"
    );
}

/// Operator templates replace the built-in texts file by file; a template with an unknown
/// placeholder, or SMTP credentials over plain SMTP in production, stop the server at
/// start-up with a message (and without printing the password).
#[tokio::test]
async fn operator_templates_and_refused_mail_settings() {
    let dir = edgeauth_tests::scratch_dir("templates")
        .unwrap()
        .join(format!("ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("verify-email.subject"),
        "Confirm {{ email }} for {{app_name}}\n",
    )
    .unwrap();
    std::fs::write(dir.join("verify-email.txt"), "Open {{url}} now.\n").unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let templates = dir.display().to_string();
    let origin = start(
        &sqlite_url("templates"),
        &smtp,
        &[
            ("EDGEAUTH_MAIL_TEMPLATES", &templates),
            ("EDGEAUTH_VERIFICATION_ON_SIGN_UP", "on"),
            ("EDGEAUTH_APP_NAME", "Acme"),
        ],
    );
    let address = email("templates");
    expect(
        &browser(&origin.url)
            .sign_up("T", &address, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let mail = one_mail(&smtp, &address, 1).await;
    assert_eq!(mail.subject, format!("Confirm {address} for Acme"));
    let link = mail.link("/verify-email?token=").unwrap();
    assert_eq!(
        mail.text.as_deref().unwrap().trim_end(),
        format!("Open {link} now.")
    );
    // The HTML body was not replaced: the built-in one, with the same link.
    assert!(mail
        .html
        .as_deref()
        .unwrap()
        .contains("Verify my email address"));
    assert_eq!(mail.html_link("/verify-email?token=").unwrap(), link);

    let typo = dir.with_file_name(format!("typo-{}", std::process::id()));
    std::fs::create_dir_all(&typo).unwrap();
    std::fs::write(
        typo.join("reset-password.html"),
        "<a href=\"{{ulr}}\">reset</a>",
    )
    .unwrap();
    for (settings, expected) in [
        (
            vec![("EDGEAUTH_MAIL_TEMPLATES", typo.display().to_string())],
            "ulr",
        ),
        (
            vec![
                ("EDGEAUTH_ENV", "production".to_string()),
                (
                    "EDGEAUTH_SMTP_URL",
                    "smtp://mailer:hunter2-secret@mail.example.com:587".to_string(),
                ),
            ],
            "plain SMTP",
        ),
    ] {
        let mut command = std::process::Command::new(edgeauth_tests::edgeauth_bin().unwrap());
        command
            .arg("serve")
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("DATABASE_URL", sqlite_url("refused-mail"))
            .env("EDGEAUTH_LISTEN", "127.0.0.1:0");
        for (name, value) in &settings {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {settings:?}: {stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("hunter2"), "password printed: {stderr}");
    }
}

/// Both TLS modes of `EDGEAUTH_SMTP_URL` against a listener with a certificate from a
/// private CA named in `EDGEAUTH_SMTP_CA_FILE`: STARTTLS (`smtp://...?tls=required`) and
/// implicit TLS (`smtps://`) deliver, with the credentials sent inside TLS. Without the CA
/// file the certificate is not trusted: nothing is delivered and the failure is logged.
#[tokio::test]
async fn smtp_over_starttls_and_implicit_tls() {
    let ca = SmtpServer::ca_file().display().to_string();
    for mode in [SmtpTlsMode::StartTls, SmtpTlsMode::Implicit] {
        let smtp = SmtpServer::start_tls(mode).await.unwrap();
        let url = match mode {
            SmtpTlsMode::StartTls => format!(
                "smtp://mailer:tls-secret@127.0.0.1:{}?tls=required",
                smtp.port()
            ),
            SmtpTlsMode::Implicit => format!("smtps://mailer:tls-secret@127.0.0.1:{}", smtp.port()),
        };
        for trusted in [true, false] {
            let mut env = origin_env(&sqlite_url("smtp-tls"));
            env.push(("EDGEAUTH_SMTP_URL", url.clone()));
            if trusted {
                env.push(("EDGEAUTH_SMTP_CA_FILE", ca.clone()));
            }
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let origin = Origin::start(&env).unwrap();
            let address = email("tls");
            expect(&sign_up_fresh(&origin.url, &address).await, 200, None);
            let reply = request_reset(&origin.url, &address).await;
            expect(&reply, 200, None);
            if trusted {
                let mail = one_mail(&smtp, &address, 1).await;
                assert!(mail.tls, "{mode:?}: delivered without TLS");
                assert_eq!(mail.auth, Some(("mailer".into(), "tls-secret".into())));
                assert!(mail.link("/reset-password/").is_ok());
            } else {
                wait_for_log(&origin, "mail delivery failed, will retry").await;
                assert!(smtp.messages_to(&address).is_empty(), "{mode:?}");
            }
        }
    }
}

/// Graceful shutdown keeps what is queued: a reset mail waiting out a retry when SIGTERM
/// arrives stays in the outbox while the origin exits cleanly, and the next start delivers
/// it, once.
#[tokio::test]
async fn queued_mail_survives_a_graceful_shutdown() {
    let smtp = SmtpServer::start().await.unwrap();
    let database = sqlite_url("drain");
    let mut origin = start(&database, &smtp, &[]);
    let address = email("drain");
    expect(&sign_up_fresh(&origin.url, &address).await, 200, None);
    smtp.fail_next(1);
    let reply = request_reset(&origin.url, &address).await;
    expect(&reply, 200, None);
    wait_for_log(&origin, "mail delivery failed, will retry").await;
    // The SMTP listener runs on this test's runtime: stop the origin from another thread.
    let (status, origin) = tokio::task::spawn_blocking(move || {
        let status = origin.process.terminate(Duration::from_secs(40)).unwrap();
        (status, origin)
    })
    .await
    .unwrap();
    assert!(
        status.success(),
        "{status:?}: {}",
        origin.process.log_tail()
    );
    let restarted = start(&database, &smtp, &[]);
    let mail = one_mail(&smtp, &address, 1).await;
    assert!(mail.link("/reset-password/").is_ok());
    let token = reset_token(&mail.link("/reset-password/").unwrap());
    let mut client = browser(&restarted.url);
    expect(
        &reset_password(&mut client, &token, NEW_PASSWORD).await,
        200,
        None,
    );
    assert_eq!(smtp.messages_to(&address).len(), 1);
}
