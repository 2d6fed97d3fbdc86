//! `edgeauth token verify`, run as an operator runs it: the real binary, a JWKS file on disk,
//! exit codes and output checked.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeauth_tests::{edgeauth_bin, scratch_dir};
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
    for word in ["serve", "migrate", "keys", "token"] {
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
