//! The operator CLI run as an operator runs it: `edgeauth token verify` (the real binary, a
//! JWKS file on disk) and `edgeauth users` (against an origin's database), exit codes and
//! output checked.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeauth_tests::fixtures::{browser, email, expect, sqlite_url, start_origin, PASSWORD};
use edgeauth_tests::{edgeauth_bin, scratch_dir, AuthClient, Origin};
use edgeauth_token::{ClaimsBuilder, SigningKey};
use serde_json::{json, Value};

const ISS: &str = "https://auth.example.com";
const KID: &str = "cli-key-1";
const T0: u64 = 1_800_000_000;

fn key() -> SigningKey {
    SigningKey::from_seed(&[9; 32], KID).unwrap()
}

/// A fresh JWKS file with the test key, in the origin's `/jwks` shape (one file per call:
/// tests run in parallel).
fn jwks_file() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = scratch_dir("cli")
        .unwrap()
        .join(format!("jwks-{}-{n}.json", std::process::id()));
    let jwks = json!({ "keys": [key().public_jwk()] });
    std::fs::write(&path, jwks.to_string()).unwrap();
    path
}

fn token_at(iat: u64) -> String {
    let user = json!({"name": "Ada", "email": "ada@example.com", "id": "u1"});
    key().sign(&ClaimsBuilder::better_auth(
        user.as_object().unwrap().clone(),
        "u1",
        iat,
        900,
        ISS,
        &[ISS],
    ))
}

fn verify_cmd(extra: &[&str], token: &str) -> Command {
    let mut command = Command::new(edgeauth_bin().unwrap());
    let jwks = jwks_file();
    command
        .args(["token", "verify", "--jwks"])
        .arg(jwks)
        .args(["--issuer", ISS, "--audience", ISS])
        .args(extra)
        .arg(token);
    command
}

fn run(extra: &[&str], token: &str) -> Output {
    verify_cmd(extra, token).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_valid_token_prints_its_claims_and_exits_0() {
    let token = token_at(T0);
    let out = run(&["--now", &(T0 + 60).to_string()], &token);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let claims: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["exp"], T0 + 900);
    assert_eq!(claims["iss"], ISS);
}

#[test]
fn rejections_say_why_and_exit_1() {
    let token = token_at(T0);
    let late = (T0 + 900 + 31).to_string();
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (vec!["--now", &late], token.clone(), "expired"),
        (
            vec!["--now", "1800000100"],
            tamper(&token),
            "invalid signature",
        ),
        (
            vec!["--now", "1800000100", "--typ", "at+jwt"],
            token.clone(),
            "typ",
        ),
        (vec!["--now", "1800000100"], "not.a.jwt".into(), "malformed"),
        (
            vec!["--now", "1800000100"],
            format!("{token}."),
            "malformed",
        ),
    ];
    for (args, token, why) in cases {
        let out = run(&args, &token);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
        assert!(
            stderr(&out).to_lowercase().contains(why),
            "{args:?}: expected {why:?} in {:?}",
            stderr(&out)
        );
    }
    // Issuer and audience are compared exactly.
    for (issuer, audience, why) in [
        ("https://auth.example.com/", ISS, "issuer"),
        (ISS, "https://auth.example.com.evil", "audience"),
    ] {
        let out = Command::new(edgeauth_bin().unwrap())
            .args(["token", "verify", "--jwks"])
            .arg(jwks_file())
            .args([
                "--issuer",
                issuer,
                "--audience",
                audience,
                "--now",
                "1800000100",
                &token,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}

fn tamper(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    format!("{rest}.{flipped}{}", &sig[1..])
}

#[test]
fn leeway_is_applied() {
    let token = token_at(T0);
    let after_exp = (T0 + 900 + 10).to_string();
    assert_eq!(run(&["--now", &after_exp], &token).status.code(), Some(0));
    assert_eq!(
        run(&["--now", &after_exp, "--leeway", "0"], &token)
            .status
            .code(),
        Some(1)
    );
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "checks that --now defaults to the real clock"
)]
fn now_defaults_to_the_current_time() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(run(&[], &token_at(now)).status.code(), Some(0));
    // A token that expired an hour ago is refused without --now.
    let stale = token_at(now - 3600);
    let out = run(&[], &stale);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("expired"));
}

#[test]
fn the_token_can_come_from_stdin() {
    let mut child = verify_cmd(&["--now", "1800000100"], "-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", token_at(T0)).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"sub\": \"u1\""));
}

#[test]
fn unusable_key_sets_exit_2() {
    let token = token_at(T0);
    let missing = Command::new(edgeauth_bin().unwrap())
        .args([
            "token",
            "verify",
            "--jwks",
            "/nonexistent/jwks.json",
            "--issuer",
            ISS,
        ])
        .args(["--audience", ISS, &token])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read"));

    let bad = scratch_dir("cli").unwrap().join("bad.json");
    let mut private = serde_json::to_value(key().public_jwk()).unwrap();
    private["d"] = json!(key().private_jwk().d);
    std::fs::write(&bad, json!({ "keys": [private] }).to_string()).unwrap();
    let out = Command::new(edgeauth_bin().unwrap())
        .args(["token", "verify", "--jwks"])
        .arg(&bad)
        .args(["--issuer", ISS, "--audience", ISS, &token])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("private key material"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_explains_every_subcommand() {
    let help = Command::new(edgeauth_bin().unwrap())
        .arg("--help")
        .output()
        .unwrap();
    let text = stdout(&help);
    assert!(help.status.success());
    for word in ["serve", "migrate", "keys", "token", "users"] {
        assert!(text.contains(word), "{text}");
    }
    let verify = Command::new(edgeauth_bin().unwrap())
        .args(["token", "verify", "--help"])
        .output()
        .unwrap();
    let text = stdout(&verify);
    for flag in [
        "--jwks",
        "--issuer",
        "--audience",
        "--typ",
        "--leeway",
        "--now",
        "TOKEN",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

/// `edgeauth users ARGS...` on `database_url`.
fn users(database_url: &str, args: &[&str]) -> Output {
    Command::new(edgeauth_bin().unwrap())
        .arg("users")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The JSON an `edgeauth users ... --json` printed.
fn json_out(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

/// An origin on a fresh SQLite database with one user signed in (`sessions` times); the
/// database URL, the origin, the user's address and id, and a client holding the last session.
async fn with_user(name: &str, sessions: usize) -> (String, Origin, String, String, AuthClient) {
    let database_url = sqlite_url(name);
    let origin = start_origin(&database_url);
    let address = email(name);
    let mut client = browser(&origin.url);
    let reply = client.sign_up("Ada", &address, PASSWORD).await.unwrap();
    expect(&reply, 200, None);
    let id = reply.json()["user"]["id"].as_str().unwrap().to_string();
    for _ in 1..sessions {
        client = browser(&origin.url);
        expect(
            &client.sign_in(&address, PASSWORD).await.unwrap(),
            200,
            None,
        );
    }
    (database_url, origin, address, id, client)
}

/// The not-found and bad-id answers every command naming a user by id gives.
fn refuses_unknown_and_bad_ids(database_url: &str, command: &str) {
    let out = users(database_url, &[command, "NoSuchUser0000000000000000000000"]);
    assert_eq!(out.status.code(), Some(1), "{command}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("no user with id NoSuchUser"),
        "{}",
        stderr(&out)
    );
    let out = users(
        database_url,
        &[command, "--json", "NoSuchUser0000000000000000000000"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"], "not_found");
    for bad in ["has space", "", "tab\tid", &"x".repeat(256)] {
        let out = users(database_url, &[command, "--", bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command} {bad:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("invalid user id"), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn users_find_shows_the_user_by_address() {
    let (database_url, _origin, address, id, _client) = with_user("cli-find", 2).await;
    let out = users(&database_url, &["find", &address.to_uppercase()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        format!("id:         {id}"),
        format!("email:      {address} (not verified)"),
        "name:       Ada".to_string(),
        "sessions:   2 live".to_string(),
        "accounts:   credential".to_string(),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
    let json = json_out(&users(&database_url, &["find", "--json", &address]));
    assert_eq!(json["user"]["id"], id.as_str());
    assert_eq!(json["user"]["email"], address.as_str());
    assert_eq!(json["user"]["emailVerified"], false);
    assert_eq!(json["liveSessions"], 2);
    assert_eq!(json["accounts"], json!(["credential"]));

    let out = users(&database_url, &["find", "nobody@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("no user with email nobody@example.com"));
    let out = users(&database_url, &["find", "not an address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid email address"));
}

#[tokio::test]
async fn users_revoke_sessions_ends_every_session() {
    let (database_url, origin, address, id, mut client) = with_user("cli-revoke", 3).await;
    let session = client.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["id"], id.as_str());
    let out = users(&database_url, &["revoke-sessions", "--json", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = json_out(&out);
    assert_eq!(json["userId"], id.as_str());
    assert_eq!(json["sessionsEnded"], 3);
    assert!(json["edge"].as_str().unwrap().contains("SESSION_CACHE_TTL"));
    let session = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(session.json(), Value::Null, "{}", session.text);
    // Signing in again still works: only the sessions ended.
    expect(
        &browser(&origin.url)
            .sign_in(&address, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let out = users(&database_url, &["revoke-sessions", &id]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with(&format!("ended 1 session(s) of {id}")));
    refuses_unknown_and_bad_ids(&database_url, "revoke-sessions");
}

#[tokio::test]
async fn users_delete_removes_the_account_in_one_go() {
    let (database_url, origin, address, id, mut client) = with_user("cli-delete", 2).await;
    let out = users(&database_url, &["delete", "--json", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json = json_out(&out);
    assert_eq!(json["deleted"], true);
    assert_eq!(json["email"], address.as_str());
    assert_eq!(json["sessionsEnded"], 2);
    let session = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(session.json(), Value::Null);
    expect(
        &browser(&origin.url)
            .sign_in(&address, PASSWORD)
            .await
            .unwrap(),
        401,
        Some("INVALID_EMAIL_OR_PASSWORD"),
    );
    assert_eq!(
        users(&database_url, &["find", &address]).status.code(),
        Some(1)
    );
    // The address is free again.
    expect(
        &browser(&origin.url)
            .sign_up("Ada", &address, PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let out = users(&database_url, &["delete", &id]);
    assert_eq!(out.status.code(), Some(1), "deleted twice");
    refuses_unknown_and_bad_ids(&database_url, "delete");
}

#[tokio::test]
async fn users_verify_email_marks_the_address_verified() {
    let (database_url, _origin, _address, id, mut client) = with_user("cli-verify", 1).await;
    let out = users(&database_url, &["verify-email", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("marked {id} (")),
        "{}",
        stdout(&out)
    );
    let session = client.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["emailVerified"], true);
    let json = json_out(&users(&database_url, &["verify-email", "--json", &id]));
    assert_eq!(json["emailVerified"], true);
    assert_eq!(json["alreadyVerified"], true);
    refuses_unknown_and_bad_ids(&database_url, "verify-email");
}

/// A database edgeauth did not migrate, or one a newer edgeauth migrated: every users command
/// refuses to run (exit 3), and changes nothing.
#[tokio::test]
async fn users_commands_refuse_a_schema_they_do_not_know() {
    let empty = sqlite_url("cli-empty");
    for args in [
        vec!["find", "ada@example.com"],
        vec!["revoke-sessions", "SomeUser"],
        vec!["delete", "SomeUser"],
        vec!["verify-email", "SomeUser"],
    ] {
        let out = users(&empty, &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("refusing to run") && stderr(&out).contains("edgeauth migrate"),
            "{}",
            stderr(&out)
        );
    }

    let (database_url, _origin, address, id, _client) = with_user("cli-newer", 1).await;
    let pool = sqlx::SqlitePool::connect(&database_url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000001, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let out = users(&database_url, &["delete", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("99991231000001"), "{}", stderr(&out));
    let count: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "user" WHERE "email" = $1"#)
        .bind(&address)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "the user was deleted on a refused schema");
    pool.close().await;
}
