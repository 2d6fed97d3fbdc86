//! Interoperability with Better Auth itself: a real Better Auth 1.4.22 server (npm, run by
//! node from `tests/js/better-auth-server.mjs`) and edgeauth share one PostgreSQL database
//! and one secret, and each accepts the other's users, sessions and JWTs. Better Auth's own
//! JS client (`tests/js/client-flows.mjs`) drives both and must see the same thing.

use std::process::Command;
use std::time::Duration;

use edgeauth_tests::{free_port, repo_root, scratch_dir, wait_for_http, Origin, Postgres, Process};
use edgeauth_token::{KeySet, Validation};
use serde_json::Value;

use crate::api::{browser, email, now, BASE_URL, SECRET};

const PASSWORD: &str = "correct horse battery staple";

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

/// Runs Better Auth's JS client flows against `base` and returns what the client saw.
pub(crate) fn client_flows(base: &str, address: &str) -> Value {
    let out = Command::new("node")
        .arg(repo_root().join("tests/js/client-flows.mjs"))
        .args([&format!("{base}/api/auth"), BASE_URL, address])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test]
async fn edgeauth_and_better_auth_share_users_sessions_and_jwts() {
    let pg = Postgres::start().await.unwrap();
    // Scrypt mode: the hashes edgeauth writes must stay readable by Better Auth.
    let edgeauth = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
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
}
