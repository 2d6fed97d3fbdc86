//! The hosted pages in a real browser: headless Chromium (Debian's `/usr/bin/chromium`,
//! driven by npm's `playwright-core`) against the whole stack a person would use: the real
//! `edgeauth` binary, the real worker under `wrangler dev` in front of it and of the demo
//! application (`scripts/demo-upstream.mjs`), the SMTP listener the origin mails to, and a
//! real OpenID Provider (panva's `oidc-provider`, [`edgeauth_tests::OidcProvider`]) that the
//! origin offers as the `genericOAuth` provider `corp` and as the built-in `google` (through
//! its endpoint overrides), their redirect URIs on the edge.
//!
//! This test starts the stack, serves the captured mail to node as JSON
//! (`GET <MAIL_URL>/messages`), then runs the flows in `tests/browser/` with node's test
//! runner (`node tests/browser/run.mjs`: one browser for the whole suite, a context per
//! flow, one `test()` per flow), streaming its output; it fails when node fails. Without
//! Chromium it fails (never skips): `bash scripts/setup.sh` installs it. Screenshots of the
//! pages go to `target/browser-screenshots/`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use edgeauth_tests::{
    free_port, profile_dir, repo_root, scratch_dir, OidcClient, OidcProvider, Origin, Process,
    SmtpServer, WranglerDev,
};
use serde_json::{json, Value};

use edgeauth_tests::fixtures::{sqlite_url, SECRET};

const EDGE_SECRET: &str = "browser-edge-secret-browser-edge-secret-01";
/// The browser Chromium the suite drives (`EDGEAUTH_CHROMIUM` overrides it).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Seconds the edge caches a session: short, so a rename reaches the app quickly, yet
/// longer than the 1 s within which an ended session must be refused (so that refusal is
/// the edge being told, not its cache running out).
const SESSION_CACHE_TTL: &str = "5";
/// The OpenID Provider's id at the origin ("Continue with corp").
const OIDC_PROVIDER_ID: &str = "corp";
/// The whole node suite's bound (it takes well under a minute).
const SUITE_TIMEOUT: Duration = Duration::from_secs(240);

/// Every message the SMTP listener received, as the node suite reads it.
fn messages_json(smtp: &SmtpServer) -> Value {
    let messages: Vec<Value> = smtp
        .messages()
        .iter()
        .map(|m| json!({ "to": m.rcpt_to, "subject": m.subject, "text": m.text, "html": m.html }))
        .collect();
    Value::Array(messages)
}

/// Serves `GET /messages` (every captured message) on a free loopback port; its URL.
async fn serve_mail(smtp: Arc<SmtpServer>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/messages",
        get(move || {
            let smtp = smtp.clone();
            async move { Json(messages_json(&smtp)) }
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

/// The Chromium binary, which must exist: a missing browser fails the suite loudly.
fn chromium() -> PathBuf {
    let path = PathBuf::from(std::env::var("EDGEAUTH_CHROMIUM").unwrap_or(CHROMIUM.into()));
    assert!(
        path.is_file(),
        "{} is missing: the browser tests need Chromium (`bash scripts/setup.sh` installs \
         Debian's chromium; `apt-get install chromium`)",
        path.display()
    );
    let playwright = repo_root().join("node_modules/playwright-core/package.json");
    assert!(
        playwright.is_file(),
        "{} is missing: run `bash scripts/setup.sh` (npm ci) first",
        playwright.display()
    );
    path
}

/// `kill -KILL -- -PGID`.
fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_pages_in_a_real_browser() {
    let chromium = chromium();
    let root = repo_root();
    let started = Instant::now();

    let smtp = Arc::new(SmtpServer::start().await.unwrap());
    let (mail_url, _mail_server) = serve_mail(smtp.clone()).await;

    // The origin's public URL is the edge's, so both ports are chosen first.
    let origin_port = free_port().unwrap();
    let edge_port = free_port().unwrap();
    let demo_port = free_port().unwrap();
    let edge_url = format!("http://127.0.0.1:{edge_port}");
    // The same edge by name, for WebAuthn (tests/browser/passkeys.test.mjs): it needs a
    // secure context (http://127.0.0.1 is one too) and an RP ID that is a domain, never an
    // IP address. Cookies are per host: a page on one name does not see the other's session.
    let edge_localhost_url = format!("http://localhost:{edge_port}");
    let origin_url = format!("http://127.0.0.1:{origin_port}");
    let demo_url = format!("http://127.0.0.1:{demo_port}");

    let logs = scratch_dir("logs").unwrap();
    let mut demo_command = std::process::Command::new("node");
    demo_command
        .arg(root.join("scripts/demo-upstream.mjs"))
        .env("DEMO_UPSTREAM_PORT", demo_port.to_string())
        .current_dir(&root);
    let mut demo = Process::spawn(&format!("demo-{demo_port}"), demo_command, &logs).unwrap();

    // The browser reaches the origin through the edge, so the provider sends it back there:
    // as the genericOAuth provider, and as the built-in `google` pointed at it (the profile
    // in the ID token, as Google's).
    let redirect_uri = format!("{edge_url}/api/auth/oauth2/callback/{OIDC_PROVIDER_ID}");
    let oidc_client = OidcClient {
        id: "edgeauth",
        secret: "browser-oidc-client-secret",
        redirect_uri: &redirect_uri,
    };
    let google_redirect_uri = format!("{edge_url}/api/auth/callback/google");
    let google_client = OidcClient {
        id: "edgeauth-google",
        secret: "browser-google-client-secret",
        redirect_uri: &google_redirect_uri,
    };
    let oidc = OidcProvider::start_with_profile_in_id_token(&[oidc_client, google_client]).unwrap();
    let generic_oauth = oidc.generic_oauth(OIDC_PROVIDER_ID, &oidc_client);
    let social_providers = oidc.google(&google_client);

    let database_url = sqlite_url("browser");
    let smtp_url = smtp.url();
    let origin = Origin::start_on(
        origin_port,
        &[
            ("BETTER_AUTH_SECRET", SECRET),
            ("BETTER_AUTH_URL", &edge_url),
            ("DATABASE_URL", &database_url),
            ("EDGEAUTH_HASH_CONCURRENCY", "2"),
            ("EDGEAUTH_EDGE_SECRET", EDGE_SECRET),
            ("EDGEAUTH_TRUSTED_IP_HEADER", "x-edgeauth-client-ip"),
            ("EDGEAUTH_SMTP_URL", &smtp_url),
            // Every sign-up mails a verification link (signing in does not wait for it).
            ("EDGEAUTH_VERIFICATION_ON_SIGN_UP", "on"),
            // The two-factor step and account section (tests/browser/two-factor.test.mjs).
            ("EDGEAUTH_TWO_FACTOR", "on"),
            // Passkeys (tests/browser/passkeys.test.mjs), on the edge by name: the RP ID is
            // "localhost", the one origin ceremonies come from the edge's on localhost, which
            // the API's and the pages' origin checks trust as well.
            ("EDGEAUTH_PASSKEY", "on"),
            ("EDGEAUTH_PASSKEY_RP_ID", "localhost"),
            ("EDGEAUTH_PASSKEY_ORIGINS", &edge_localhost_url),
            ("BETTER_AUTH_TRUSTED_ORIGINS", &edge_localhost_url),
            // Sign-in with the OpenID Provider (tests/browser/oauth.test.mjs).
            ("EDGEAUTH_GENERIC_OAUTH", &generic_oauth),
            ("EDGEAUTH_SOCIAL_PROVIDERS", &social_providers),
        ],
    )
    .unwrap();
    demo.wait_for_port(demo_port, Duration::from_secs(20))
        .unwrap();
    let edge = WranglerDev::start_on(
        edge_port,
        &[
            ("ORIGIN_URL", &origin_url),
            ("UPSTREAM_URL", &demo_url),
            ("PROTECTED_PATHS", "/app"),
            ("JWT_ISSUER", &edge_url),
            ("JWT_AUDIENCE", &edge_url),
            ("SESSION_CACHE_TTL", SESSION_CACHE_TTL),
        ],
        &[("BETTER_AUTH_SECRET", SECRET), ("EDGE_SECRET", EDGE_SECRET)],
    )
    .await
    .unwrap();
    eprintln!(
        "browser suite: stack up in {:.1}s (edge {edge_url} and {edge_localhost_url}, origin \
         {origin_url}, demo {demo_url}, mail {mail_url}, OpenID Provider {})",
        started.elapsed().as_secs_f64(),
        oidc.issuer
    );

    let screenshots = profile_dir()
        .unwrap()
        .parent()
        .unwrap()
        .join("browser-screenshots");
    let mut node = tokio::process::Command::new("node");
    node.arg(root.join("tests/browser/run.mjs"))
        .current_dir(&root)
        .env("EDGE_URL", &edge_url)
        .env("EDGE_LOCALHOST_URL", &edge_localhost_url)
        .env("ORIGIN_URL", &origin_url)
        .env("DEMO_URL", &demo_url)
        .env("MAIL_URL", &mail_url)
        .env("OIDC_ISSUER", &oidc.issuer)
        .env("OIDC_PROVIDER_ID", OIDC_PROVIDER_ID)
        .env("SESSION_CACHE_TTL", SESSION_CACHE_TTL)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &screenshots)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = node.spawn().expect("starting node tests/browser/run.mjs");
    let pgid = child.id().unwrap_or(0);
    let status = match tokio::time::timeout(SUITE_TIMEOUT, child.wait()).await {
        Ok(status) => status.unwrap(),
        Err(_) => {
            kill_group(pgid);
            panic!(
                "the browser suite did not finish within {SUITE_TIMEOUT:?}\n{}\n{}",
                edge.process.log_tail(),
                origin.process.log_tail()
            );
        }
    };
    eprintln!(
        "browser suite: done in {:.1}s (screenshots in {})",
        started.elapsed().as_secs_f64(),
        screenshots.display()
    );
    assert!(
        status.success(),
        "the browser suite failed ({status}); see its output above\n{}\n{}\n{}\n{}",
        edge.process.log_tail(),
        origin.process.log_tail(),
        demo.log_tail(),
        oidc.process.log_tail()
    );
}
