//! Interoperability with Better Auth itself: a real Better Auth 1.4.22 server (npm, run by
//! node from `tests/js/better-auth-server.mjs`) and edgeauth share one PostgreSQL database
//! and one secret, and each accepts the other's users, sessions and JWTs. Better Auth's own
//! JS client (`tests/js/client-flows.mjs`) drives both and must see the same thing.

use std::process::Command;
use std::time::Duration;

use edgeauth_tests::fixtures::{
    browser, client_flows, email, now, reset_token, BASE_URL, PASSWORD, SECRET,
};
use edgeauth_tests::{
    free_port, repo_root, scratch_dir, wait_for_http, Origin, Postgres, Process, SmtpServer,
};
use edgeauth_token::{KeySet, Validation};
use serde_json::{json, Value};

/// A Better Auth server on a free port, sharing `database_url` and the test secret.
async fn better_auth_server(database_url: &str) -> (Process, String) {
    let root = repo_root();
    let script = root.join("tests/js/better-auth-server.mjs");
    assert!(
        root.join("node_modules/better-auth").is_dir(),
        "node_modules/better-auth is missing: run bash scripts/setup.sh (npm ci)"
    );
    let port = free_port().unwrap();
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(&root)
        .env("DATABASE_URL", database_url)
        .env("BETTER_AUTH_SECRET", SECRET)
        .env("BETTER_AUTH_URL", BASE_URL)
        .env("PORT", port.to_string());
    let mut process = Process::spawn(
        &format!("better-auth-{port}"),
        command,
        &scratch_dir("logs").unwrap(),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_for_http(
        &mut process,
        &format!("{url}/api/auth/ok"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    (process, url)
}

#[tokio::test]
async fn edgeauth_and_better_auth_share_users_sessions_and_jwts() {
    let pg = Postgres::start_shared().await.unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    // Scrypt mode: the hashes edgeauth writes must stay readable by Better Auth.
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
        ("EDGEAUTH_SMTP_URL", &smtp.url()),
    ])
    .unwrap();
    let ours = edgeauth.url.clone();
    // edgeauth migrated the schema and creates the signing key; Better Auth uses both.
    let our_jwks = browser(&ours).get("/api/auth/jwks").await.unwrap().json();
    let (better_auth, theirs) = better_auth_server(&pg.url()).await;
    let log = || {
        format!(
            "{}\n{}",
            edgeauth.process.log_tail(),
            better_auth.log_tail()
        )
    };

    // A user created by edgeauth signs in on Better Auth, and Better Auth's session is
    // accepted by edgeauth.
    let made_here = email("made-here");
    assert_eq!(
        browser(&ours)
            .sign_up("Here", &made_here, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let mut on_theirs = browser(&theirs);
    let reply = on_theirs.sign_in(&made_here, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut carried = browser(&ours);
    carried.cookies = on_theirs.cookies.clone();
    assert_eq!(
        carried.get("/api/auth/get-session").await.unwrap().json()["user"]["email"],
        made_here
    );

    // A user created by Better Auth signs in on edgeauth, and edgeauth's session is
    // accepted by Better Auth.
    let made_there = email("made-there");
    assert_eq!(
        browser(&theirs)
            .sign_up("There", &made_there, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let mut on_ours = browser(&ours);
    let reply = on_ours.sign_in(&made_there, PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}\n{}", reply.text, log());
    let mut back = browser(&theirs);
    back.cookies = on_ours.cookies.clone();
    let session = back.get("/api/auth/get-session").await.unwrap();
    assert_eq!(session.json()["user"]["email"], made_there, "{}", log());

    // Both publish the same key set, and each one's JWTs verify under the other's.
    let their_jwks = browser(&theirs).get("/api/auth/jwks").await.unwrap().json();
    assert_eq!(their_jwks, our_jwks);
    let keys = KeySet::from_jwks_json(&their_jwks.to_string()).unwrap();
    let rules = Validation::new(BASE_URL, BASE_URL);
    let their_jwt = back.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = edgeauth_token::verify(&their_jwt, &keys, &rules, now()).unwrap();
    assert_eq!(claims.get_str("email"), Some(made_there.as_str()));
    let our_jwt = on_ours.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(edgeauth_token::verify(&our_jwt, &keys, &rules, now()).is_ok());
    // Better Auth's get-session header JWT, too.
    let header_jwt = session.header("set-auth-jwt").unwrap();
    assert!(edgeauth_token::verify(&header_jwt, &keys, &rules, now()).is_ok());

    // Signing out on Better Auth ends the session for edgeauth.
    assert_eq!(
        back.post_empty("/api/auth/sign-out").await.unwrap().status,
        200
    );
    assert_eq!(
        on_ours.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    mailed_links_work_on_both(&ours, &theirs, &better_auth, &smtp).await;

    // Better Auth's JS client sees the same behaviour from both servers.
    let mut seen_ours = client_flows(&ours, &email("client-ours"));
    let mut seen_theirs = client_flows(&theirs, &email("client-theirs"));
    for seen in [&mut seen_ours, &mut seen_theirs] {
        seen["signUp"]["email"] = Value::Null;
        seen["getSession"]["email"] = Value::Null;
    }
    assert_eq!(seen_ours, seen_theirs);
    assert_eq!(seen_ours["signIn"]["gotBearer"], true);
    assert_eq!(seen_ours["getSession"]["userIdMatches"], true);
    assert_eq!(
        seen_ours["wrongPassword"]["code"],
        "INVALID_EMAIL_OR_PASSWORD"
    );
    // The lifecycle calls did what they say, on both.
    assert_eq!(
        seen_ours["requestPasswordReset"],
        seen_ours["requestPasswordResetUnknown"]
    );
    assert_eq!(seen_ours["requestPasswordReset"]["data"]["status"], true);
    assert_eq!(
        seen_ours["resetPasswordBogusToken"]["code"],
        "INVALID_TOKEN"
    );
    assert_eq!(seen_ours["changeEmail"]["data"]["status"], true);
    assert_eq!(
        seen_ours["deleteUserWrongPassword"]["code"],
        "INVALID_PASSWORD"
    );
    assert_eq!(seen_ours["deleteUser"]["data"]["message"], "User deleted");
    assert_eq!(seen_ours["afterDelete"]["data"], Value::Null);
    assert_eq!(seen_ours["signInAfterDelete"]["status"], 401);
}

/// The path and query of the newest link of `kind` Better Auth printed for `to`.
async fn better_auth_mail(server: &Process, kind: &str, to: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = server.log().lines().rev().find_map(|line| {
            let mail: Value = serde_json::from_str(line.strip_prefix("MAIL ")?).ok()?;
            (mail["kind"] == kind && mail["to"] == to)
                .then(|| mail["url"].as_str().map(str::to_string))?
        });
        if let Some(url) = found {
            return url.strip_prefix(BASE_URL).unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {kind} mail for {to}: {}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The path and query of the link in the newest mail edgeauth sent to `to`.
async fn edgeauth_mail(smtp: &SmtpServer, to: &str, fragment: &str) -> String {
    let mails = smtp.wait_for(to, 1, Duration::from_secs(20)).await.unwrap();
    let link = mails.last().unwrap().link(fragment).unwrap();
    link.strip_prefix(BASE_URL).unwrap().to_string()
}

async fn verified_on(base: &str, address: &str) -> Value {
    let mut client = browser(base);
    assert_eq!(client.sign_in(address, PASSWORD).await.unwrap().status, 200);
    client.get("/api/auth/get-session").await.unwrap().json()["user"]["emailVerified"].clone()
}

/// Verification and reset links minted by either server work on the other: the HS256
/// verification token and the `reset-password:<token>` rows are the same formats.
async fn mailed_links_work_on_both(
    ours: &str,
    theirs: &str,
    better_auth: &Process,
    smtp: &SmtpServer,
) {
    // edgeauth's verification link, followed on Better Auth.
    let a = email("verify-ours");
    assert_eq!(
        browser(ours)
            .sign_up("A", &a, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let reply = browser(ours)
        .post("/api/auth/send-verification-email", &json!({ "email": a }))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let path = edgeauth_mail(smtp, &a, "/verify-email?token=").await;
    let reply = browser(theirs).get(&path).await.unwrap();
    assert_eq!(
        reply.status,
        302,
        "{}\n{}",
        reply.text,
        better_auth.log_tail()
    );
    assert_eq!(verified_on(ours, &a).await, true);

    // Better Auth's verification link, followed on edgeauth.
    let b = email("verify-theirs");
    assert_eq!(
        browser(theirs)
            .sign_up("B", &b, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let reply = browser(theirs)
        .post("/api/auth/send-verification-email", &json!({ "email": b }))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let path = better_auth_mail(better_auth, "verify-email", &b).await;
    let reply = browser(ours).get(&path).await.unwrap();
    assert_eq!(reply.status, 302, "{}", reply.text);
    assert_eq!(verified_on(theirs, &b).await, true);

    // Better Auth's reset link, redeemed on edgeauth; the new password works on Better Auth.
    let reply = browser(theirs)
        .post(
            "/api/auth/request-password-reset",
            &json!({ "email": b, "redirectTo": "/reset" }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let token = reset_token(&better_auth_mail(better_auth, "reset-password", &b).await);
    let reply = browser(ours)
        .post(
            "/api/auth/reset-password",
            &json!({ "token": token, "newPassword": "reset by edgeauth 1" }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        browser(theirs)
            .sign_in(&b, "reset by edgeauth 1")
            .await
            .unwrap()
            .status,
        200
    );

    // edgeauth's reset link, redeemed on Better Auth; the new password works on edgeauth.
    let reply = browser(ours)
        .post("/api/auth/request-password-reset", &json!({ "email": a }))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let token = loop {
        let mails = smtp.messages_to(&a);
        if let Some(link) = mails
            .iter()
            .rev()
            .find_map(|m| m.link("/reset-password/").ok())
        {
            break reset_token(&link);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reset mail for {a}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reply = browser(theirs)
        .post(
            "/api/auth/reset-password",
            &json!({ "token": token, "newPassword": "reset by better auth 2" }),
        )
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}\n{}",
        reply.text,
        better_auth.log_tail()
    );
    assert_eq!(
        browser(ours)
            .sign_in(&a, "reset by better auth 2")
            .await
            .unwrap()
            .status,
        200
    );
}
