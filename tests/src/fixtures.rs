//! Fixtures the end-to-end tests share: the origin's test configuration (secret, base URL,
//! databases), browser-like clients, unique addresses, the answers' checks, the JWKS and the
//! clock, the mailed links, and Better Auth's JS client. A helper one test module uses stays
//! in that module.

// Fixtures fail the test that calls them, loudly, like the test's own code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use edgeauth_token::KeySet;
use serde_json::Value;

use crate::{repo_root, scratch_dir, AuthClient, MailMessage, Origin, Reply, SmtpServer};

/// The origin's `BETTER_AUTH_SECRET` in the tests.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
/// The origin's `BETTER_AUTH_URL` in the tests: the issuer and audience of its JWTs, the
/// trusted `Origin`, and the base of mailed links.
pub const BASE_URL: &str = "http://localhost:3000";
/// The password the tests sign users up with.
pub const PASSWORD: &str = "correct horse battery staple";
/// How long to wait for a mail to arrive.
pub const MAIL_WAIT: Duration = Duration::from_secs(20);

/// A client that sends the trusted `Origin` a browser on the app would send.
pub fn browser(url: &str) -> AuthClient {
    let mut client = AuthClient::new(url);
    client.headers.insert("origin", BASE_URL.parse().unwrap());
    client
}

/// A unique address per call (tests share databases).
pub fn email(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}@example.com", std::process::id())
}

/// The origin's environment for tests: a fixed secret and base URL, `database_url`.
pub fn origin_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BETTER_AUTH_SECRET", SECRET.to_string()),
        ("BETTER_AUTH_URL", BASE_URL.to_string()),
        (
            "BETTER_AUTH_TRUSTED_ORIGINS",
            "http://app.localhost:5173".to_string(),
        ),
        ("DATABASE_URL", database_url.to_string()),
        ("EDGEAUTH_HASH_CONCURRENCY", "2".to_string()),
    ]
}

/// The real `edgeauth` binary serving [`origin_env`] on `database_url`.
pub fn start_origin(database_url: &str) -> Origin {
    let env = origin_env(database_url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Origin::start(&env).unwrap()
}

/// The real `edgeauth` binary on `database_url`, delivering mail to `smtp` (from
/// `Example <auth@example.com>`, app name `Example`), with `extra` settings.
pub fn start_origin_with_mail(
    database_url: &str,
    smtp: &crate::SmtpServer,
    extra: &[(&str, &str)],
) -> Origin {
    let mut env = origin_env(database_url);
    env.push(("EDGEAUTH_SMTP_URL", smtp.url()));
    env.push(("EDGEAUTH_MAIL_FROM", "Example <auth@example.com>".into()));
    env.push(("EDGEAUTH_APP_NAME", "Example".into()));
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    Origin::start(&env).unwrap()
}

/// A fresh SQLite database file named after `name` (and this process) in the scratch
/// directory, as a `DATABASE_URL`.
pub fn sqlite_url(name: &str) -> String {
    let path = scratch_dir("sqlite")
        .unwrap()
        .join(format!("{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Asserts an answer's status and Better Auth error code (`None`: no code).
#[track_caller]
pub fn expect(reply: &Reply, status: u16, code: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.text);
    assert_eq!(reply.code().as_deref(), code, "body: {}", reply.text);
}

/// The origin's key set, from its JWKS endpoint.
pub async fn fetch_keys(url: &str) -> KeySet {
    let reply = browser(url).get("/api/auth/jwks").await.unwrap();
    KeySet::from_jwks_json(&reply.text).unwrap()
}

/// The real time, in seconds since the epoch.
#[allow(
    clippy::disallowed_methods,
    reason = "tokens minted by the real server carry real time"
)]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The `nth` mail (from 1) to `to`, waiting up to [`MAIL_WAIT`] for it.
pub async fn one_mail(smtp: &SmtpServer, to: &str, nth: usize) -> MailMessage {
    smtp.wait_for(to, nth, MAIL_WAIT).await.unwrap()[nth - 1].clone()
}

/// The token of a reset link, whole or as a path (`.../reset-password/<token>?...`).
pub fn reset_token(link: &str) -> String {
    link.split("/reset-password/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_else(|| panic!("not a reset link: {link}"))
        .to_string()
}

/// The reset link's token in the newest mail to `to` (waiting for the `nth`).
pub async fn mailed_reset_token(smtp: &SmtpServer, to: &str, nth: usize) -> String {
    reset_token(
        &one_mail(smtp, to, nth)
            .await
            .link("/reset-password/")
            .unwrap(),
    )
}

/// Runs Better Auth's JS client flows (`tests/js/client-flows.mjs`, node) against `base`
/// and returns what the client saw.
pub fn client_flows(base: &str, address: &str) -> Value {
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

/// Runs the node script `tests/js/<script>` from the repository root with `args` and `env`,
/// and reads the one JSON object it prints; the error carries its output.
pub async fn node_json(script: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Value, String> {
    let out = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/js").join(script))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo_root())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("node {script}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{script} {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| format!("{script}: {e}: {stdout}"))
}

/// The TOTP key of an `otpauth://` URI: the 32-character string its base32 `secret=` encodes
/// (Better Auth's HMAC key is that string's bytes).
pub fn totp_key(uri: &str) -> String {
    let encoded = uri
        .split_once("secret=")
        .and_then(|(_, rest)| rest.split('&').next())
        .unwrap_or_else(|| panic!("no secret in {uri}"));
    // RFC 4648 base32, upper case, no padding.
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in encoded.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {encoded}"),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(buffer >> bits).unwrap());
            buffer &= (1 << bits) - 1;
        }
    }
    let key = String::from_utf8(out).unwrap();
    assert_eq!(key.len(), 32, "{key}");
    key
}

/// The TOTP step (30 s) the wall clock is in.
pub fn totp_step_now() -> i64 {
    edgeauth_origin::auth::two_factor::totp::step_at(i64::try_from(now()).unwrap())
}
