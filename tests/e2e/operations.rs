//! Running the origin as an operator does: on a database Better Auth created, as two
//! processes on one PostgreSQL, through a database outage, in production mode, and with the
//! `migrate` and `keys rotate` subcommands.

use std::process::Command;
use std::time::{Duration, Instant};

use edgeauth_tests::fixtures::{
    browser, email, fetch_keys, now, sqlite_url, start_origin, BASE_URL, PASSWORD,
};
use edgeauth_tests::{edgeauth_bin, AuthClient, Origin, Postgres};
use edgeauth_token::{cookie, KeySet, Validation};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The secret the Better Auth fixture rows were written under.
const BA_SECRET: &str = "edgeauth-kat-secret-0123456789abcdef";
/// A Better Auth scrypt hash of "correct horse" (salt = the ASCII of the hex string),
/// computed by Python's hashlib.scrypt and Node's crypto.scryptSync alike.
const BA_SCRYPT: &str = "0123456789abcdef0123456789abcdef:c967f8a4438e68448871a4fbb9b41b2aacaa6d9d98bf76d9740467af6a3305c6601235ae3706eaeaafd4c037201f630b3c3670caf74d8be1d22256672828773e";
/// RFC 8037's Ed25519 key as a Better Auth `jwks` row: public JWK, and the private JWK
/// encrypted under `BA_SECRET` (XChaCha20-Poly1305, key = SHA-256(secret)) by libsodium.
const BA_PUBLIC: &str =
    r#"{"crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kty":"OKP"}"#;
const BA_PRIVATE: &str = concat!(
    "\"000102030405060708090a0b0c0d0e0f10111213141516170d1347260a9de35d357e626444753b40",
    "5cdff849d2787e0d72432b152178194b4ba12d4868b6371ae4ea1fb28ee8b10fe17ac28c60af744c23",
    "1f3591f37a4990b98cdd1bf4c05689de28b4b52540ba3d263610b51805b2430d3d6b92e4aa5fbbaaa1",
    "ad8a110cf0e82bcc05bfa869b3365f2ef19002b73236c7f1f74c7498f8645378fed898f2500233f40d",
    "df3f2ddc608c\"",
);

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

async fn columns(pool: &PgPool) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
         FROM information_schema.columns WHERE table_schema = 'public'
           AND table_name IN ('user','session','account','verification','jwks','rateLimit')
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A database Better Auth created and filled: edgeauth starts on it without altering its
/// tables, accepts Better Auth's session cookie, signs with Better Auth's key, verifies
/// Better Auth's scrypt hash and upgrades it to argon2id.
#[tokio::test]
async fn runs_on_a_database_better_auth_created() {
    let pg = Postgres::start_shared().await.unwrap();
    let db = pool(&pg.url()).await;
    let schema = include_str!("../fixtures/better-auth-1.4-postgres.sql");
    db.execute(schema).await.unwrap();
    let before = columns(&db).await;
    db.execute(
        format!(
            r#"INSERT INTO "user" VALUES ('BaUser0000000000000000000000001', 'Ada', 'ada@example.com', false, NULL, now(), now());
               INSERT INTO "account" ("id","accountId","providerId","userId","password","createdAt","updatedAt")
                 VALUES ('BaAccount00000000000000000000001', 'BaUser0000000000000000000000001', 'credential', 'BaUser0000000000000000000000001', '{BA_SCRYPT}', now(), now());
               INSERT INTO "session" VALUES ('BaSession00000000000000000000001', now() + interval '7 days', 'BaToken000000000000000000000001', now(), now(), '', 'node', 'BaUser0000000000000000000000001');
               INSERT INTO "jwks" VALUES ('kat-key', '{BA_PUBLIC}', '{BA_PRIVATE}', now() - interval '1 day', NULL);"#
        )
        .as_str(),
    )
    .await
    .unwrap();

    let origin = Origin::start(&[
        ("BETTER_AUTH_SECRET", BA_SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
    ])
    .unwrap();
    let url = origin.url.as_str();
    assert_eq!(
        columns(&db).await,
        before,
        "Better Auth's tables were altered"
    );

    // Better Auth's own session cookie.
    let mut ba_browser = browser(url);
    ba_browser.cookies.insert(
        "better-auth.session_token".into(),
        cookie::sign_value(BA_SECRET.as_bytes(), "BaToken000000000000000000000001").unwrap(),
    );
    let session = ba_browser.get("/api/auth/get-session").await.unwrap();
    assert_eq!(
        session.json()["user"]["email"],
        "ada@example.com",
        "{}",
        origin.process.log_tail()
    );

    // Better Auth's signing key keeps signing; /jwks serves it in Better Auth's shape.
    let jwks = browser(url).get("/api/auth/jwks").await.unwrap().json();
    assert_eq!(
        jwks,
        json!({"keys": [{"alg": "EdDSA", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kty": "OKP", "kid": "kat-key"}]})
    );
    let jwt = ba_browser.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = KeySet::from_jwks_json(&jwks.to_string()).unwrap();
    let claims =
        edgeauth_token::verify(&jwt, &keys, &Validation::new(BASE_URL, BASE_URL), now()).unwrap();
    assert_eq!(claims.key_id(), "kat-key");

    // Better Auth's scrypt hash verifies, and is upgraded to argon2id on success.
    let mut signing_in = browser(url);
    assert_eq!(
        signing_in
            .sign_in("ada@example.com", "correct horse")
            .await
            .unwrap()
            .status,
        200
    );
    let stored: String = sqlx::query_scalar(
        r#"SELECT "password" FROM "account" WHERE "id" = 'BaAccount00000000000000000000001'"#,
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        signing_in
            .sign_in("ada@example.com", "correct horse")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        signing_in
            .sign_in("ada@example.com", "wrong horse")
            .await
            .unwrap()
            .status,
        401
    );
    db.close().await;
}

/// `EDGEAUTH_PASSWORD_HASH=scrypt` writes Better Auth's format, which Better Auth can read,
/// and leaves scrypt hashes as they are.
#[tokio::test]
async fn scrypt_mode_writes_better_auth_hashes() {
    let pg = Postgres::start_shared().await.unwrap();
    let origin = Origin::start(&[
        ("BETTER_AUTH_SECRET", BA_SECRET),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &pg.url()),
        ("EDGEAUTH_PASSWORD_HASH", "scrypt"),
    ])
    .unwrap();
    let address = email("scrypt");
    let mut client = browser(&origin.url);
    assert_eq!(
        client
            .sign_up("S", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        client.sign_in(&address, PASSWORD).await.unwrap().status,
        200
    );
    let db = pool(&pg.url()).await;
    let stored: String = sqlx::query_scalar(
        r#"SELECT a."password" FROM "account" a JOIN "user" u ON u."id" = a."userId" WHERE u."email" = $1"#,
    )
    .bind(&address)
    .fetch_one(&db)
    .await
    .unwrap();
    let (salt, key) = stored.split_once(':').unwrap();
    assert_eq!((salt.len(), key.len()), (32, 128), "{stored}");
    assert!(stored
        .bytes()
        .all(|b| b == b':' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    db.close().await;
}

/// Two origin processes on one database: a session made on one is valid on the other, a
/// sign-out on one ends it on both, and both serve the same key set.
#[tokio::test]
async fn two_processes_share_one_postgres() {
    let pg = Postgres::start_shared().await.unwrap();
    let a = start_origin(&pg.url());
    let b = start_origin(&pg.url());
    let address = email("shared");
    let mut on_a = browser(&a.url);
    assert_eq!(
        on_a.sign_up("Two", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let mut on_b = browser(&b.url);
    on_b.cookies = on_a.cookies.clone();
    assert_eq!(
        on_b.get("/api/auth/get-session").await.unwrap().json()["user"]["email"],
        address
    );
    assert_eq!(fetch_keys(&a.url).await, fetch_keys(&b.url).await);
    assert_eq!(
        on_b.post_empty("/api/auth/sign-out").await.unwrap().status,
        200
    );
    assert_eq!(
        on_a.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
}

/// The database stops mid-run: database-backed endpoints answer 503 (never a hang, never a
/// crash), `/readyz` within a readiness probe's budget (a probe with a 1 s timeout sees the
/// 503, not a timeout) with the same body, API requests after the first that meets the
/// outage as fast, liveness stays up, and everything works again once the database is back,
/// without a restart of the origin.
#[tokio::test]
async fn database_outage_is_a_fast_503_and_recovers() {
    // A private cluster: this test stops and restarts the server.
    let pg = Postgres::start().await.unwrap();
    let origin = start_origin(&pg.url());
    let url = origin.url.as_str();
    let mut client = browser(url);
    let address = email("probe");
    assert_eq!(
        client
            .sign_up("P", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(client.get("/readyz").await.unwrap().status, 200);

    pg.stop().unwrap();
    // Readiness first, before any request has met the outage.
    for _ in 0..3 {
        let started = Instant::now();
        let reply = browser(url).get("/readyz").await.unwrap();
        let took = started.elapsed();
        assert_eq!(reply.status, 503, "{}", reply.text);
        assert_eq!(
            reply.json(),
            json!({"code": "SERVICE_UNAVAILABLE", "message": "Service temporarily unavailable, try again"})
        );
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
    }
    // The first API request to meet the outage may wait out the pool's acquire timeout;
    // those after it answer at once.
    let reply = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(reply.status, 503, "{}", reply.text);
    for _ in 0..3 {
        let started = Instant::now();
        let reply = client.get("/api/auth/get-session").await.unwrap();
        assert_eq!(reply.status, 503, "{}", reply.text);
        assert_eq!(reply.code().as_deref(), Some("SERVICE_UNAVAILABLE"));
        let reply = browser(url).sign_in(&address, PASSWORD).await.unwrap();
        assert_eq!(reply.status, 503, "{}", reply.text);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "two requests took {took:?}");
        let started = Instant::now();
        assert_eq!(browser(url).get("/readyz").await.unwrap().status, 503);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    assert_eq!(client.get("/healthz").await.unwrap().status, 200);
    assert_eq!(client.get("/api/auth/ok").await.unwrap().status, 200);

    pg.restart().unwrap();
    let back = Instant::now();
    loop {
        let reply = browser(url).get("/readyz").await.unwrap();
        if reply.status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not ready {:?} after the restart\n{}",
            back.elapsed(),
            origin.process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(
        reply.json()["user"]["email"],
        address,
        "{}",
        origin.process.log_tail()
    );
    assert_eq!(
        browser(url)
            .sign_in(&address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
}

/// Two origins started together on one empty database, each asked for tokens and keys by
/// many clients at once: one signing key is created, not one per process, and the JWTs of
/// both verify under its one kid. Three rounds, each on a fresh database.
#[tokio::test]
async fn origins_started_together_create_one_signing_key() {
    for round in 0..3 {
        let pg = Postgres::start_shared().await.unwrap();
        let url = pg.url();
        let (a, b) = {
            let (url_a, url_b) = (url.clone(), url.clone());
            let a = std::thread::spawn(move || start_origin(&url_a));
            let b = std::thread::spawn(move || start_origin(&url_b));
            (a.join().unwrap(), b.join().unwrap())
        };
        // A user to mint tokens for (sign-up mints no JWT: the table stays empty).
        let mut on_a = browser(&a.url);
        let reply = on_a.sign_up("K", &email("onekey"), PASSWORD).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text);
        let mut on_b = browser(&b.url);
        on_b.cookies = on_a.cookies.clone();

        // Every first call at once, on both origins.
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(32));
        let mut calls = Vec::new();
        for i in 0..32 {
            let mut client = if i % 2 == 0 {
                on_a.clone()
            } else {
                on_b.clone()
            };
            let start = start.clone();
            calls.push(tokio::spawn(async move {
                start.wait().await;
                let path = match i % 4 {
                    0 | 1 => "/api/auth/token",
                    2 => "/api/auth/jwks",
                    _ => "/api/auth/get-session",
                };
                client.get(path).await.unwrap()
            }));
        }
        for call in calls {
            let reply = call.await.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.text);
        }

        let db = pool(&url).await;
        let rows: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM "jwks""#)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(rows, 1, "round {round}: {rows} signing keys created");
        db.close().await;

        let keys = fetch_keys(&a.url).await;
        assert_eq!(keys, fetch_keys(&b.url).await);
        let rules = Validation::new(BASE_URL, BASE_URL);
        let mut kids = Vec::new();
        for client in [&mut on_a, &mut on_b] {
            let jwt = client.get("/api/auth/token").await.unwrap().json()["token"]
                .as_str()
                .unwrap()
                .to_string();
            let claims = edgeauth_token::verify(&jwt, &keys, &rules, now()).unwrap();
            kids.push(claims.key_id().to_string());
        }
        assert_eq!(kids[0], kids[1]);
    }
}

/// What one slow client does: every second, one more byte of a request line that never
/// ends (`trickle`), or nothing; its first byte after `phase`, so that the slow clients'
/// bytes are spread over the second rather than sent in one burst. Returns when the server
/// closes the connection (`Some`), or `None` if it is still open at `deadline`.
async fn hold_slowly(
    mut stream: TcpStream,
    trickle: bool,
    phase: Duration,
    deadline: Instant,
) -> Option<Instant> {
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + phase, Duration::from_secs(1));
    let mut buffer = [0u8; 512];
    let mut sent = 0;
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return Some(Instant::now()),
                Ok(_) => {}
            },
            _ = ticks.tick() => {
                if Instant::now() > deadline {
                    return None;
                }
                // The first time, the start of a request line; then a byte a second.
                let bytes: &[u8] = if sent == 0 { b"POST /api/auth/sign-in/em" } else { b"x" };
                sent += 1;
                if trickle && stream.write_all(bytes).await.is_err() {
                    return Some(Instant::now());
                }
            }
        }
    }
}

/// Slow clients cannot take the origin down: with 2,000 connections open that send a
/// partial request line and then a byte a second, or nothing, to an origin started under an
/// open-files soft limit of 1024 (a common default, which it raises), sign-ins on new
/// connections answer within a second, and the header timeout (10 s) closes every slow
/// connection, trickling or silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_take_the_origin_down() {
    const SLOW: usize = 2_000;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    // This process holds the 2,000 client sockets.
    let open_files = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(
        open_files >= SLOW as u64 + 1_000,
        "this test needs an open-files hard limit of at least {} (it is {open_files})",
        SLOW + 1_000
    );
    let env = edgeauth_tests::fixtures::origin_env(&sqlite_url("slow-clients"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start_with_open_files(1024, &env).unwrap();
    let address = format!("127.0.0.1:{}", origin.port());
    let user = email("slow");
    let reply = browser(&origin.url)
        .sign_up("S", &user, PASSWORD)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Opened 100 at a time: thousands of handshakes at once on loopback make the kernel
    // drop some, and a dropped one costs a second.
    let mut slow = tokio::task::JoinSet::new();
    let mut last_opened = Instant::now();
    let mut unconnected = 0;
    for batch in 0..SLOW / 100 {
        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let address = address.clone();
            connecting.spawn(async move {
                let stream =
                    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&address))
                        .await;
                (stream, Instant::now())
            });
        }
        let mut n = 0;
        while let Some(connected) = connecting.join_next().await {
            let (Ok(Ok(stream)), opened) = connected.unwrap() else {
                unconnected += 1;
                continue;
            };
            let trickle = n % 2 == 0;
            let phase = Duration::from_millis(((batch * 100 + n) * 37 % 1000) as u64);
            n += 1;
            last_opened = opened;
            let deadline = opened + HEADER_TIMEOUT + Duration::from_secs(60);
            slow.spawn(async move {
                let closed = hold_slowly(stream, trickle, phase, deadline).await;
                (opened, closed)
            });
        }
    }

    // Every slow connection is open: sign-ins on new connections still answer at once.
    for _ in 0..5 {
        let started = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            browser(&origin.url).sign_in(&user, PASSWORD),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "a sign-in got no answer within 5 s\n{}",
                origin.process.log_tail()
            )
        })
        .unwrap();
        let took = started.elapsed();
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(took < Duration::from_secs(1), "a sign-in took {took:?}");
    }

    assert_eq!(
        unconnected, 0,
        "the origin did not accept {unconnected} slow connections within 5 s"
    );

    // And the header timeout closes every one of them, trickling or not: none before it,
    // all within a few seconds after the last was opened.
    let mut earliest = Duration::MAX;
    let closing = tokio::time::timeout_at(
        (last_opened + HEADER_TIMEOUT + Duration::from_secs(5)).into(),
        async {
            while let Some(held) = slow.join_next().await {
                let (opened, closed) = held.unwrap();
                earliest = earliest.min(closed.unwrap() - opened);
            }
        },
    )
    .await;
    assert!(
        closing.is_ok(),
        "{} of {SLOW} slow connections still open {:?} after the last was opened",
        slow.len(),
        HEADER_TIMEOUT + Duration::from_secs(5)
    );
    assert!(
        earliest >= HEADER_TIMEOUT - Duration::from_millis(500),
        "a slow connection was closed after only {earliest:?}"
    );
    assert!(!origin.process.log().contains("accept failed"));
}

/// Production refuses to start without a real secret, and uses secure cookies.
#[tokio::test]
async fn production_requires_a_real_secret_and_secure_cookies() {
    let database = sqlite_url("production");
    for (secret, why) in [
        (None, "BETTER_AUTH_SECRET is required"),
        (
            Some("better-auth-secret-12345678901234567890"),
            "public default",
        ),
        (Some("too-short"), "at least 32 bytes"),
    ] {
        let mut command = Command::new(edgeauth_bin().unwrap());
        command
            .arg("serve")
            .env_remove("BETTER_AUTH_SECRET")
            .env("EDGEAUTH_ENV", "production")
            .env("DATABASE_URL", &database)
            .env("EDGEAUTH_LISTEN", "127.0.0.1:0");
        if let Some(secret) = secret {
            command.env("BETTER_AUTH_SECRET", secret);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            !stderr.contains("too-short"),
            "the secret was logged: {stderr}"
        );
    }
    let strong = "0123456789abcdef0123456789abcdef-production";
    let origin = Origin::start(&[
        ("EDGEAUTH_ENV", "production"),
        ("BETTER_AUTH_SECRET", strong),
        ("BETTER_AUTH_URL", BASE_URL),
        ("DATABASE_URL", &database),
    ])
    .unwrap();
    let mut client = browser(&origin.url);
    let reply = client.sign_up("P", &email("prod"), PASSWORD).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let set = reply
        .set_cookie("__Secure-better-auth.session_token")
        .unwrap();
    assert!(
        set.ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax"),
        "{set}"
    );
    assert!(
        !origin.process.log_tail().contains(strong),
        "the secret was logged"
    );
}

/// `edgeauth migrate` creates the schema and is idempotent; `edgeauth keys rotate` adds a
/// signing key while the old public key stays published, so its tokens still verify.
#[tokio::test]
async fn migrate_and_rotate_keys() {
    let database = sqlite_url("rotate");
    let secret = edgeauth_tests::fixtures::SECRET;
    for _ in 0..2 {
        let out = Command::new(edgeauth_bin().unwrap())
            .arg("migrate")
            .env("DATABASE_URL", &database)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let first = start_origin(&database);
    let mut client = browser(&first.url);
    assert_eq!(
        client
            .sign_up("K", &email("keys"), PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let old_jwt = client.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let old_kid = edgeauth_token::UntrustedToken::parse(&old_jwt, 8192)
        .unwrap()
        .kid()
        .to_string();

    let out = Command::new(edgeauth_bin().unwrap())
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &database)
        .env("BETTER_AUTH_SECRET", secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_kid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(new_kid.len(), 32);
    assert_ne!(new_kid, old_kid);

    // A wrong secret cannot rotate (it could not open the keys it would retire).
    let out = Command::new(edgeauth_bin().unwrap())
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &database)
        .env(
            "BETTER_AUTH_SECRET",
            "a-different-secret-a-different-secret",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong BETTER_AUTH_SECRET"));

    // A process started after the rotation (others pick it up within the key cache TTL).
    drop(first);
    let second = start_origin(&database);
    let keys = fetch_keys(&second.url).await;
    assert!(keys.get(&old_kid).is_some() && keys.get(&new_kid).is_some());
    let mut client2 = AuthClient::new(&second.url);
    client2.cookies = client.cookies.clone();
    let new_jwt = client2.get("/api/auth/token").await.unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let rules = Validation::new(BASE_URL, BASE_URL);
    assert_eq!(
        edgeauth_token::verify(&new_jwt, &keys, &rules, now())
            .unwrap()
            .key_id(),
        new_kid
    );
    assert_eq!(
        edgeauth_token::verify(&old_jwt, &keys, &rules, now())
            .unwrap()
            .key_id(),
        old_kid
    );
}

/// `edgeauth doctor` with `env`: exit code and output.
pub(crate) fn doctor(env: &[(&str, &str)], json: bool) -> (i32, String) {
    let mut command = Command::new(edgeauth_bin().unwrap());
    command.arg("doctor");
    if json {
        command.arg("--json");
    }
    let out = command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The doctor on three databases: Better Auth's own schema (fine, changes nothing), one a
/// Drizzle-style project made (timestamps without time zone, read as UTC; an application
/// column `NOT NULL` without a default, a missing column), and one it cannot reach. `serve`
/// refuses the second with the same report instead of failing on its first request. An
/// invalid `EDGEAUTH_SCHEMA` stops both, naming the field.
#[tokio::test]
async fn doctor_reports_every_mismatch_and_serve_refuses_them() {
    let pg = Postgres::start_shared().await.unwrap();
    let db = pool(&pg.url()).await;
    db.execute(include_str!("../fixtures/better-auth-1.4-postgres.sql"))
        .await
        .unwrap();
    let before = columns(&db).await;
    let env = [
        ("DATABASE_URL", pg.url()),
        ("BETTER_AUTH_SECRET", BA_SECRET.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out) = doctor(&env, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("edgeauth can run on this database"), "{out}");
    assert!(
        out.contains(r#"ok        "emailVerified" boolean"#),
        "{out}"
    );
    assert_eq!(
        columns(&db).await,
        before,
        "the doctor changed the database"
    );

    db.execute(
        r#"ALTER TABLE "session" ALTER COLUMN "expiresAt" TYPE timestamp USING "expiresAt" AT TIME ZONE 'UTC';
           ALTER TABLE "user" ADD COLUMN "tenantId" text NOT NULL;
           ALTER TABLE "user" ADD COLUMN "plan" text;
           ALTER TABLE "account" DROP COLUMN "scope";"#,
    )
    .await
    .unwrap();
    let (code, out) = doctor(&env, false);
    assert_eq!(code, 1, "{out}");
    for expected in [
        r#"ok        "expiresAt" timestamp without time zone: read and written (as UTC)"#,
        r#"NOT NULL  "tenantId" text"#,
        r#"ALTER TABLE "user" ALTER COLUMN "tenantId" DROP NOT NULL"#,
        r#"other     "plan" text: not edgeauth's, left alone"#,
        r#"MISSING   "scope""#,
        r#"ALTER TABLE "account" ADD COLUMN "scope" text"#,
        "edgeauth cannot run on this database as it is",
    ] {
        assert!(out.contains(expected), "{expected}\n{out}");
    }
    let (code, json) = doctor(&env, true);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["ok"], false);
    let session = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "account")
        .unwrap();
    assert_eq!(session["mismatch"], true);

    // serve refuses to start, with the same report, and leaves the tables as they were.
    let before = columns(&db).await;
    let serve = Command::new(edgeauth_bin().unwrap())
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .env("EDGEAUTH_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{err}");
    assert!(
        err.contains("does not have the schema edgeauth needs"),
        "{err}"
    );
    assert!(err.contains(r#""tenantId""#), "{err}");
    assert_eq!(columns(&db).await, before, "serve altered the tables");

    // An invalid EDGEAUTH_SCHEMA: exit 3 naming the field; serve refuses to start.
    let mut invalid = env.clone();
    invalid.push((
        "EDGEAUTH_SCHEMA",
        r#"{"user": {"fields": {"emial": "mail"}}}"#,
    ));
    let (code, out) = doctor(&invalid, false);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("EDGEAUTH_SCHEMA.user.fields.emial"), "{out}");
    let serve = Command::new(edgeauth_bin().unwrap())
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(invalid.iter().copied())
        .env("EDGEAUTH_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{err}");
    assert!(err.contains("EDGEAUTH_SCHEMA.user.fields.emial"), "{err}");

    // A database it cannot reach: exit 3, not a report.
    let (code, out) = doctor(
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
        false,
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("cannot examine the database"), "{out}");
}
