//! Two-factor authentication (Better Auth's `twoFactor` plugin, `EDGEAUTH_TWO_FACTOR=on`) on
//! the real `edgeauth` binary, end to end: enrolment, sign-in through each factor (TOTP,
//! emailed code, backup code), trusted devices and turning it off, with mail delivered to a
//! real SMTP listener. Scenarios about single use under concurrency run on PostgreSQL.
//!
//! Tests marked **[BA]** check a rule Better Auth 1.4.22 breaks (see
//! `/work/shared/docs/better-auth-plugins.md` §2.9): each would fail against it.
//!
//! TOTP codes are computed here with the origin's own functions from the secret in the
//! `totpURI`. A step is accepted once per user and the server accepts one step either side
//! of the current one, so a test gets two fresh codes without waiting: the current step's
//! and the next one's ([`Totp::next`]).

use std::str::FromStr;
use std::time::Duration;

use edgeauth_origin::auth::two_factor::totp::code_at;
use edgeauth_tests::fixtures::{
    browser, email, expect, now, sqlite_url, start_origin, start_origin_with_mail, totp_key,
    totp_step_now, BASE_URL, PASSWORD,
};
use edgeauth_tests::{AuthClient, MailMessage, Origin, Postgres, Reply, SmtpServer};
use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

const TWO_FACTOR_COOKIE: &str = "better-auth.two_factor";
const TRUST_COOKIE: &str = "better-auth.trust_device";
const SESSION_COOKIE: &str = "better-auth.session_token";

const SUBJECT_ON: &str = "Two-factor authentication is on";
const SUBJECT_OFF: &str = "Two-factor authentication is off";
const SUBJECT_CODE: &str = "sign-in code";

/// An origin (the real binary) with two-factor on, delivering mail to `smtp`, rate limiting
/// off (Better Auth's 3 requests per 10 s on `/two-factor/*` would hide the rules tested
/// here), with `extra` settings.
fn start(database_url: &str, smtp: &SmtpServer, extra: &[(&str, &str)]) -> Origin {
    let mut settings = vec![
        ("EDGEAUTH_TWO_FACTOR", "on"),
        ("EDGEAUTH_RATE_LIMIT", "off"),
    ];
    settings.extend_from_slice(extra);
    start_origin_with_mail(database_url, smtp, &settings)
}

/// A user's authenticator app.
struct Totp {
    /// The 32-character secret (the HMAC key is its bytes, as in Better Auth).
    secret: String,
    /// The last step this app gave a code for.
    last: Option<i64>,
}

impl Totp {
    /// The app that scanned `uri` (`otpauth://...?secret=<base32>&...`).
    fn from_uri(uri: &str) -> Totp {
        Totp {
            secret: totp_key(uri),
            last: None,
        }
    }

    /// A code of a step never given before: the current step's, else the next one's (the
    /// server accepts one step ahead). Panics rather than wait for a third.
    fn next(&mut self) -> String {
        let now = totp_step_now();
        let step = match self.last {
            Some(last) if last >= now => last + 1,
            _ => now,
        };
        assert!(step <= now + 1, "no fresh TOTP step left without waiting");
        self.last = Some(step);
        code_at(&self.secret, step)
    }

    /// Six digits that are not the code of any step the server might accept now.
    fn wrong(&self) -> String {
        let now = totp_step_now();
        let near: Vec<String> = (now - 2..=now + 2)
            .map(|s| code_at(&self.secret, s))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 137_731) % 1_000_000))
            .find(|c| !near.contains(c))
            .unwrap()
    }
}

/// A user signed up in `client`, with two-factor set up and confirmed (`enable` then a
/// first `verify-totp` with the session).
struct Enrolled {
    address: String,
    client: AuthClient,
    totp: Totp,
    backup_codes: Vec<String>,
}

async fn enrol(url: &str, tag: &str) -> Enrolled {
    let address = email(tag);
    let mut client = browser(url);
    expect(
        &client.sign_up("Tess", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    let reply = client
        .post(
            "/api/auth/two-factor/enable",
            &json!({ "password": PASSWORD }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    let mut totp = Totp::from_uri(reply.json()["totpURI"].as_str().unwrap());
    let backup_codes: Vec<String> = reply.json()["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let code = totp.next();
    expect(&verify(&mut client, "totp", &code, false).await, 200, None);
    assert_eq!(session(&mut client).await["user"]["twoFactorEnabled"], true);
    Enrolled {
        address,
        client,
        totp,
        backup_codes,
    }
}

/// `POST /two-factor/verify-<kind> {code, trustDevice}`.
async fn verify(client: &mut AuthClient, kind: &str, code: &str, trust: bool) -> Reply {
    client
        .post(
            &format!("/api/auth/two-factor/verify-{kind}"),
            &json!({ "code": code, "trustDevice": trust }),
        )
        .await
        .unwrap()
}

async fn session(client: &mut AuthClient) -> Value {
    let reply = client.get("/api/auth/get-session").await.unwrap();
    expect(&reply, 200, None);
    reply.json()
}

/// A sign-in from a new browser that stops at the second factor: `{"twoFactorRedirect":
/// true}`, the pending sign-in's cookie, no session.
async fn pending(url: &str, address: &str) -> AuthClient {
    let mut client = browser(url);
    let reply = client.sign_in(address, PASSWORD).await.unwrap();
    assert_second_factor(&reply);
    assert!(client.cookies.contains_key(TWO_FACTOR_COOKIE));
    assert!(!client.cookies.contains_key(SESSION_COOKIE));
    client
}

#[track_caller]
fn assert_second_factor(reply: &Reply) {
    expect(reply, 200, None);
    assert_eq!(reply.json(), json!({ "twoFactorRedirect": true }));
    assert!(reply.set_cookie(TWO_FACTOR_COOKIE).is_some(), "{reply:?}");
    assert!(reply.set_cookie(SESSION_COOKIE).is_none(), "{reply:?}");
}

/// A verify answer that made a session: `{token, user}` and the session cookie (the pending
/// sign-in's cookie expired); get-session then names the user.
async fn assert_signed_in(client: &mut AuthClient, reply: &Reply, address: &str) {
    expect(reply, 200, None);
    let body = reply.json();
    assert_eq!(body["user"]["email"], address);
    assert!(reply.set_cookie(SESSION_COOKIE).is_some(), "{reply:?}");
    assert!(!client.cookies.contains_key(TWO_FACTOR_COOKIE));
    let current = session(client).await;
    assert_eq!(current["user"]["email"], address);
    assert_eq!(current["session"]["token"], body["token"]);
}

/// The `nth` (from 1) mail to `to` whose subject contains `subject`, waiting for it.
async fn mail_with(smtp: &SmtpServer, to: &str, subject: &str, nth: usize) -> MailMessage {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<MailMessage> = smtp
            .messages_to(to)
            .into_iter()
            .filter(|m| m.subject.contains(subject))
            .collect();
        if found.len() >= nth {
            return found[nth - 1].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mail {nth} {subject:?} to {to}; got {:?}",
            smtp.messages_to(to)
                .iter()
                .map(|m| m.subject.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The six-digit code of the `nth` sign-in code mailed to `to`.
async fn mailed_code(smtp: &SmtpServer, to: &str, nth: usize) -> String {
    let mail = mail_with(smtp, to, SUBJECT_CODE, nth).await;
    let text = mail.text.clone().unwrap();
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_string()
}

async fn send_otp(client: &mut AuthClient) {
    let reply = client
        .post("/api/auth/two-factor/send-otp", &json!({}))
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json(), json!({ "status": true }));
}

/// The pending sign-in's id: the cookie's value before its signature.
fn pending_id(client: &AuthClient) -> String {
    let value = &client.cookies[TWO_FACTOR_COOKIE];
    value.split_once('.').unwrap().0.to_string()
}

/// Enrolment, then sign-in with a TOTP code. With two-factor off the endpoints do not exist;
/// with it on, `enable` needs the password, answers the URI and ten backup codes, and turns
/// nothing on until a first code verifies (mailed to the user); signing in then stops at
/// the second factor, with no session until a right code.
#[tokio::test]
async fn enrolment_and_sign_in_with_totp() {
    // Off by default: no two-factor routes.
    let off = start_origin(&sqlite_url("2fa-off"));
    let mut client = browser(&off.url);
    expect(
        &client
            .sign_up("Off", &email("2fa-off"), PASSWORD)
            .await
            .unwrap(),
        200,
        None,
    );
    let reply = client
        .post(
            "/api/auth/two-factor/enable",
            &json!({ "password": PASSWORD }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 404, "{}", reply.text);
    drop(off);

    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("2fa-enrol"), &smtp, &[]);
    let address = email("2fa-enrol");
    let mut owner = browser(&origin.url);
    expect(
        &owner.sign_up("Tess", &address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    assert_eq!(session(&mut owner).await["user"]["twoFactorEnabled"], false);
    for body in [json!({}), json!({ "password": "not the password" })] {
        expect(
            &owner
                .post("/api/auth/two-factor/enable", &body)
                .await
                .unwrap(),
            400,
            Some("INVALID_PASSWORD"),
        );
    }
    let reply = owner
        .post(
            "/api/auth/two-factor/enable",
            &json!({ "password": PASSWORD }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    let uri = reply.json()["totpURI"].as_str().unwrap().to_string();
    assert!(
        uri.starts_with(&format!(
            "otpauth://totp/Example:{}?secret=",
            address.replace('@', "%40")
        )),
        "{uri}"
    );
    assert!(uri.ends_with("&issuer=Example&digits=6&period=30"), "{uri}");
    let codes = reply.json()["backupCodes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    for code in &codes {
        let code = code.as_str().unwrap();
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(code.as_bytes()[5], b'-', "{code}");
    }
    let mut totp = Totp::from_uri(&uri);

    // Not on yet: a sign-in elsewhere is direct, and a wrong first code changes nothing.
    assert_eq!(session(&mut owner).await["user"]["twoFactorEnabled"], false);
    let mut elsewhere = browser(&origin.url);
    let reply = elsewhere.sign_in(&address, PASSWORD).await.unwrap();
    expect(&reply, 200, None);
    assert!(reply.json()["token"].is_string());
    expect(
        &verify(&mut owner, "totp", &totp.wrong(), false).await,
        401,
        Some("INVALID_CODE"),
    );
    assert_eq!(session(&mut owner).await["user"]["twoFactorEnabled"], false);

    // The first right code with the session turns it on, and the user is told by mail.
    let reply = verify(&mut owner, "totp", &totp.next(), false).await;
    expect(&reply, 200, None);
    assert_eq!(reply.json()["user"]["twoFactorEnabled"], true);
    assert_eq!(session(&mut owner).await["user"]["twoFactorEnabled"], true);
    let mail = mail_with(&smtp, &address, SUBJECT_ON, 1).await;
    assert!(mail.subject.contains("Example"), "{}", mail.subject);

    // Sign out and in again: no session, the second factor is asked for.
    expect(
        &owner.post("/api/auth/sign-out", &json!({})).await.unwrap(),
        200,
        None,
    );
    let reply = owner.sign_in(&address, PASSWORD).await.unwrap();
    assert_second_factor(&reply);
    let cookie = reply.set_cookie(TWO_FACTOR_COOKIE).unwrap();
    assert!(cookie.contains("Max-Age=600"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(!owner.cookies.contains_key(SESSION_COOKIE));
    assert_eq!(
        owner.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    expect(
        &verify(&mut owner, "totp", &totp.wrong(), false).await,
        401,
        Some("INVALID_CODE"),
    );
    assert_eq!(
        owner.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    let reply = verify(&mut owner, "totp", &totp.next(), false).await;
    assert_signed_in(&mut owner, &reply, &address).await;
    assert_eq!(reply.json()["user"]["twoFactorEnabled"], true);
    // The secret is never in the log.
    assert!(!origin.process.log().contains(&totp.secret));
}

/// [BA] A TOTP code works once: the code that just signed in, offered for a second pending
/// sign-in within its 90-second window, is refused (Better Auth 1.4.22 accepts it again:
/// it keeps no last-used step), as is the enrolment's code. The refusal does not end the
/// pending sign-in: a backup code then completes it.
#[tokio::test]
async fn totp_code_is_not_replayable() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("2fa-replay"), &smtp, &[]);
    let mut user = enrol(&origin.url, "2fa-replay").await;
    let enrolment_code = code_at(&user.totp.secret, user.totp.last.unwrap());

    let mut first = pending(&origin.url, &user.address).await;
    let code = user.totp.next();
    let reply = verify(&mut first, "totp", &code, false).await;
    assert_signed_in(&mut first, &reply, &user.address).await;

    let mut second = pending(&origin.url, &user.address).await;
    for replayed in [&code, &enrolment_code] {
        let reply = verify(&mut second, "totp", replayed, false).await;
        expect(&reply, 401, Some("INVALID_CODE"));
        assert!(reply.set_cookie(SESSION_COOKIE).is_none());
        assert_eq!(
            second.get("/api/auth/get-session").await.unwrap().text,
            "null"
        );
    }
    let reply = verify(&mut second, "backup-code", &user.backup_codes[0], false).await;
    assert_signed_in(&mut second, &reply, &user.address).await;
    // The enrolment session was never affected.
    assert_eq!(
        session(&mut user.client).await["user"]["email"],
        user.address
    );
}

/// [BA] Wrong codes are limited per pending sign-in and per account. A pending sign-in
/// takes five wrong codes; the sixth attempt, even with the right code, ends it (401
/// `TOO_MANY_ATTEMPTS_SIGN_IN_AGAIN`, then `INVALID_TWO_FACTOR_COOKIE`); sending an email
/// code in between resets nothing (Better Auth 1.4.22 counts no TOTP attempts at all, and
/// restarts its email-code count with every code sent). Across sign-ins, ten wrong codes
/// lock the account's codes: a fresh sign-in with the right code gets 429.
#[tokio::test]
async fn wrong_codes_are_limited() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("2fa-attempts"), &smtp, &[]);
    let mut user = enrol(&origin.url, "2fa-attempts").await;
    let right = user.totp.next();

    let mut first = pending(&origin.url, &user.address).await;
    for n in 0..5 {
        if n == 2 {
            // A new email code: the count goes on.
            send_otp(&mut first).await;
            mailed_code(&smtp, &user.address, 1).await;
        }
        expect(
            &verify(&mut first, "totp", &user.totp.wrong(), false).await,
            401,
            Some("INVALID_CODE"),
        );
    }
    let reply = verify(&mut first, "totp", &right, false).await;
    expect(&reply, 401, Some("TOO_MANY_ATTEMPTS_SIGN_IN_AGAIN"));
    assert!(reply.set_cookie(SESSION_COOKIE).is_none());
    expect(
        &verify(&mut first, "totp", &right, false).await,
        401,
        Some("INVALID_TWO_FACTOR_COOKIE"),
    );
    let code = mailed_code(&smtp, &user.address, 1).await;
    expect(
        &verify(&mut first, "otp", &code, false).await,
        401,
        Some("INVALID_TWO_FACTOR_COOKIE"),
    );
    assert_eq!(
        first.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    // Five more wrong codes on a second sign-in: ten for the account.
    let mut second = pending(&origin.url, &user.address).await;
    for _ in 0..5 {
        expect(
            &verify(&mut second, "backup-code", "aaaaa-bbbbb", false).await,
            401,
            Some("INVALID_BACKUP_CODE"),
        );
    }
    // The password still leads to the second factor, but no code is taken now, right
    // ones included, whatever the factor.
    let mut third = pending(&origin.url, &user.address).await;
    let reply = verify(&mut third, "totp", &right, false).await;
    expect(&reply, 429, None);
    assert!(reply.header("x-retry-after").is_some(), "{reply:?}");
    expect(
        &verify(&mut third, "backup-code", &user.backup_codes[0], false).await,
        429,
        None,
    );
    assert_eq!(
        third.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    // The signed-in enrolment session is untouched.
    assert_eq!(
        session(&mut user.client).await["user"]["email"],
        user.address
    );
}

/// The pending sign-in ends when it should and belongs to its user. [BA] Its expiry is
/// enforced by the server, proven by moving the row's expiry into the past rather than
/// waiting (Better Auth 1.4.22 never checks its pending row's `expiresAt`: the same edit of
/// its `verification` row still signs in there). A code is checked against the pending
/// sign-in's user, so user A's cookie with user B's right code signs no one in, and leaves
/// B's code unspent; a forged or unsigned cookie is refused.
#[tokio::test]
async fn pending_sign_in_expires_and_is_bound() {
    let smtp = SmtpServer::start().await.unwrap();
    let database_url = sqlite_url("2fa-pending");
    let origin = start(
        &database_url,
        &smtp,
        &[("EDGEAUTH_TWO_FACTOR_PENDING_TTL", "60")],
    );
    let mut a = enrol(&origin.url, "2fa-pending-a").await;
    let mut b = enrol(&origin.url, "2fa-pending-b").await;

    // Expiry: the cookie says 60 s, the row too; once the row is past, a right code fails.
    let mut client = browser(&origin.url);
    let reply = client.sign_in(&a.address, PASSWORD).await.unwrap();
    assert_second_factor(&reply);
    let cookie = reply.set_cookie(TWO_FACTOR_COOKIE).unwrap();
    assert!(cookie.contains("Max-Age=60;"), "{cookie}");
    let id = pending_id(&client);
    let mut db = SqliteConnectOptions::from_str(&database_url)
        .unwrap()
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let (expires_at,): (i64,) =
        sqlx::query_as(r#"SELECT "expiresAt" FROM "edgeauth_two_factor_pending" WHERE "id" = $1"#)
            .bind(&id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    let now_ms = i64::try_from(now()).unwrap() * 1000;
    assert!(
        (now_ms + 50_000..=now_ms + 62_000).contains(&expires_at),
        "expiresAt {expires_at}, now {now_ms}"
    );
    let done =
        sqlx::query(r#"UPDATE "edgeauth_two_factor_pending" SET "expiresAt" = $1 WHERE "id" = $2"#)
            .bind(now_ms - 1000)
            .bind(&id)
            .execute(&mut db)
            .await
            .unwrap();
    assert_eq!(done.rows_affected(), 1);
    let a_code = a.totp.next();
    let reply = verify(&mut client, "totp", &a_code, false).await;
    expect(&reply, 401, Some("INVALID_TWO_FACTOR_COOKIE"));
    assert!(reply.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(
        client.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    // The expired row is gone.
    let (left,): (i64,) =
        sqlx::query_as(r#"SELECT COUNT(*) FROM "edgeauth_two_factor_pending" WHERE "id" = $1"#)
            .bind(&id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(left, 0);
    db.close().await.unwrap();

    // Swapped: A's pending sign-in, B's right code. Nobody is signed in.
    let mut a_pending = pending(&origin.url, &a.address).await;
    let b_code = b.totp.next();
    let reply = verify(&mut a_pending, "totp", &b_code, false).await;
    expect(&reply, 401, Some("INVALID_CODE"));
    assert!(reply.set_cookie(SESSION_COOKIE).is_none());
    assert!(!a_pending.cookies.contains_key(SESSION_COOKIE));
    assert_eq!(
        a_pending.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    // B's code was not spent by that: it signs B in on B's own pending sign-in.
    let mut b_pending = pending(&origin.url, &b.address).await;
    let reply = verify(&mut b_pending, "totp", &b_code, false).await;
    assert_signed_in(&mut b_pending, &reply, &b.address).await;

    // Forged and unsigned cookies naming A's live pending sign-in.
    let live = pending_id(&a_pending);
    for value in [
        live.clone(),
        format!("{live}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"),
        "2fa-AAAAAAAAAAAAAAAAAAAA".to_string(),
    ] {
        let mut forger = browser(&origin.url);
        forger.cookies.insert(TWO_FACTOR_COOKIE.into(), value);
        let reply = verify(&mut forger, "totp", &a_code, false).await;
        expect(&reply, 401, Some("INVALID_TWO_FACTOR_COOKIE"));
        assert!(reply.set_cookie(SESSION_COOKIE).is_none());
    }
    // The genuine cookie still works, with the code the expired sign-in did not spend.
    let reply = verify(&mut a_pending, "totp", &a_code, false).await;
    assert_signed_in(&mut a_pending, &reply, &a.address).await;
    assert_eq!(session(&mut a.client).await["user"]["email"], a.address);
}

/// [BA] Emailed codes work once (Better Auth 1.4.22 leaves a successful code usable until
/// it expires, so concurrent uses can each make a session): a code signs in; it does not
/// carry over to a later sign-in; confirmed with a session it is spent (Better Auth accepts
/// it again); eight concurrent uses of one code on one pending sign-in: one session. On
/// PostgreSQL.
#[tokio::test]
async fn email_code_works_once() {
    let pg = Postgres::start_shared().await.unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&pg.url(), &smtp, &[]);
    let mut user = enrol(&origin.url, "2fa-otp").await;
    let address = user.address.clone();

    let mut first = pending(&origin.url, &address).await;
    expect(
        &verify(&mut first, "otp", "123456", false).await,
        400,
        Some("OTP_HAS_EXPIRED"),
    );
    send_otp(&mut first).await;
    let code = mailed_code(&smtp, &address, 1).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    expect(
        &verify(&mut first, "otp", wrong, false).await,
        401,
        Some("INVALID_CODE"),
    );
    let reply = verify(&mut first, "otp", &code, false).await;
    assert_signed_in(&mut first, &reply, &address).await;

    // A later sign-in with the same code and no new one sent: refused.
    let mut later = pending(&origin.url, &address).await;
    let reply = verify(&mut later, "otp", &code, false).await;
    assert_ne!(reply.status, 200, "{}", reply.text);
    expect(&reply, 400, Some("OTP_HAS_EXPIRED"));
    assert!(!later.cookies.contains_key(SESSION_COOKIE));

    // With a session: the code is spent by its first use.
    send_otp(&mut user.client).await;
    let code = mailed_code(&smtp, &address, 2).await;
    expect(
        &verify(&mut user.client, "otp", &code, false).await,
        200,
        None,
    );
    expect(
        &verify(&mut user.client, "otp", &code, false).await,
        400,
        Some("OTP_HAS_EXPIRED"),
    );

    // Eight concurrent uses of one code on one pending sign-in: exactly one session. More
    // than the pending sign-in's five attempts: the ones refused for that must not undo the
    // right code of one counted before them (nor spend the code with no session).
    let racing = pending(&origin.url, &address).await;
    let mut sender = racing.clone();
    send_otp(&mut sender).await;
    let code = mailed_code(&smtp, &address, 3).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut client = racing.clone();
            let code = code.clone();
            tokio::spawn(async move {
                let reply = verify(&mut client, "otp", &code, false).await;
                (reply, client)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (reply, client) = task.await.unwrap();
        seen.push(format!(
            "{} {}",
            reply.status,
            reply.code().unwrap_or_default()
        ));
        if reply.status == 200 {
            winners.push((reply, client));
        } else {
            assert!(
                [400, 401].contains(&reply.status.as_u16()),
                "{}",
                reply.text
            );
            assert!(reply.set_cookie(SESSION_COOKIE).is_none());
        }
    }
    assert_eq!(winners.len(), 1, "exactly one use must succeed: {seen:?}");
    let (reply, mut client) = winners.pop().unwrap();
    assert_signed_in(&mut client, &reply, &address).await;
    let mut loser = racing.clone();
    expect(
        &verify(&mut loser, "otp", &code, false).await,
        401,
        Some("INVALID_TWO_FACTOR_COOKIE"),
    );
    drop(origin);
    drop(pg);
}

/// [BA] Backup codes: each works once, and is accepted without its hyphen (Better Auth
/// 1.4.22 compares the typed code exactly, so the hyphen-less code fails there); new codes
/// replace the old; eight concurrent uses of one code, each on its own pending sign-in,
/// make exactly one session. On PostgreSQL.
#[tokio::test]
async fn backup_codes_work_once() {
    let pg = Postgres::start_shared().await.unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&pg.url(), &smtp, &[]);
    let mut user = enrol(&origin.url, "2fa-backup").await;
    let address = user.address.clone();
    let codes = user.backup_codes.clone();

    let mut first = pending(&origin.url, &address).await;
    let reply = verify(&mut first, "backup-code", &codes[0], false).await;
    assert_signed_in(&mut first, &reply, &address).await;

    let mut second = pending(&origin.url, &address).await;
    expect(
        &verify(&mut second, "backup-code", &codes[0], false).await,
        401,
        Some("INVALID_BACKUP_CODE"),
    );
    assert_eq!(
        second.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    let reply = verify(
        &mut second,
        "backup-code",
        &codes[1].replace('-', ""),
        false,
    )
    .await;
    assert_signed_in(&mut second, &reply, &address).await;

    // New codes: ten, all new; an unused old one stops working, a new one works.
    expect(
        &user
            .client
            .post(
                "/api/auth/two-factor/generate-backup-codes",
                &json!({ "password": "not the password" }),
            )
            .await
            .unwrap(),
        400,
        Some("INVALID_PASSWORD"),
    );
    let reply = user
        .client
        .post(
            "/api/auth/two-factor/generate-backup-codes",
            &json!({ "password": PASSWORD }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json()["status"], true);
    let fresh: Vec<String> = reply.json()["backupCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let mut third = pending(&origin.url, &address).await;
    expect(
        &verify(&mut third, "backup-code", &codes[2], false).await,
        401,
        Some("INVALID_BACKUP_CODE"),
    );
    let reply = verify(&mut third, "backup-code", &fresh[0], false).await;
    assert_signed_in(&mut third, &reply, &address).await;

    // Eight sign-ins, each offering the same code at once: one session.
    let mut racers = Vec::new();
    for _ in 0..8 {
        racers.push(pending(&origin.url, &address).await);
    }
    let tasks: Vec<_> = racers
        .into_iter()
        .map(|mut client| {
            let code = fresh[1].clone();
            tokio::spawn(async move {
                let reply = verify(&mut client, "backup-code", &code, false).await;
                (reply, client)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for task in tasks {
        let (reply, mut client) = task.await.unwrap();
        seen.push(format!(
            "{} {}",
            reply.status,
            reply.code().unwrap_or_default()
        ));
        if reply.status == 200 {
            winners.push((reply, client));
        } else {
            assert!(
                matches!(
                    (reply.status.as_u16(), reply.code().as_deref()),
                    (401, Some("INVALID_BACKUP_CODE"))
                        | (409, Some("FAILED_TO_VERIFY_BACKUP_CODE_PLEASE_TRY_AGAIN"))
                ),
                "{}",
                reply.text
            );
            assert_eq!(
                client.get("/api/auth/get-session").await.unwrap().text,
                "null"
            );
        }
    }
    assert_eq!(winners.len(), 1, "exactly one use must succeed: {seen:?}");
    let (reply, mut client) = winners.pop().unwrap();
    assert_signed_in(&mut client, &reply, &address).await;
    // Spent for good.
    let mut after = pending(&origin.url, &address).await;
    expect(
        &verify(&mut after, "backup-code", &fresh[1], false).await,
        401,
        Some("INVALID_BACKUP_CODE"),
    );
    drop(origin);
    drop(pg);
}

/// Trusting a device: `trustDevice: true` sets the `trust_device` cookie; the next sign-in
/// in that browser is direct and renews the cookie (a new value); the old value, copied
/// and used after the renewal, is no longer trusted (and is expired in that browser); a
/// browser without the cookie, or another user with it, is asked for the second factor.
#[tokio::test]
async fn trusted_device_skips_the_second_factor_once_per_cookie() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(&sqlite_url("2fa-trust"), &smtp, &[]);
    let mut user = enrol(&origin.url, "2fa-trust").await;
    let other = enrol(&origin.url, "2fa-trust-other").await;

    let mut device = pending(&origin.url, &user.address).await;
    let reply = verify(&mut device, "totp", &user.totp.next(), true).await;
    assert_signed_in(&mut device, &reply, &user.address).await;
    let cookie = reply.set_cookie(TRUST_COOKIE).unwrap();
    assert!(cookie.contains("Max-Age=2592000"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let first_value = device.cookies[TRUST_COOKIE].clone();
    assert!(first_value.contains("!trust-device-"), "{first_value}");

    // Signed out and in again on the trusted device: signed in directly, cookie renewed.
    expect(
        &device.post("/api/auth/sign-out", &json!({})).await.unwrap(),
        200,
        None,
    );
    assert!(device.cookies.contains_key(TRUST_COOKIE));
    let reply = device.sign_in(&user.address, PASSWORD).await.unwrap();
    expect(&reply, 200, None);
    assert!(reply.json()["token"].is_string(), "{}", reply.text);
    assert!(reply.json().get("twoFactorRedirect").is_none());
    assert!(reply.set_cookie(TWO_FACTOR_COOKIE).is_none());
    assert_eq!(session(&mut device).await["user"]["email"], user.address);
    let renewed = device.cookies[TRUST_COOKIE].clone();
    assert_ne!(renewed, first_value);

    // The old value, copied to another browser: not trusted any more, and expired there.
    let mut copy = browser(&origin.url);
    copy.cookies.insert(TRUST_COOKIE.into(), first_value);
    let reply = copy.sign_in(&user.address, PASSWORD).await.unwrap();
    assert_second_factor(&reply);
    assert!(!copy.cookies.contains_key(TRUST_COOKIE));

    // No cookie: asked. Another user with this device's cookie: asked.
    pending(&origin.url, &user.address).await;
    let mut borrowed = browser(&origin.url);
    borrowed
        .cookies
        .insert(TRUST_COOKIE.into(), renewed.clone());
    assert_second_factor(&borrowed.sign_in(&other.address, PASSWORD).await.unwrap());

    // The renewed cookie on its device still works (the failed uses did not spend it).
    expect(
        &device.post("/api/auth/sign-out", &json!({})).await.unwrap(),
        200,
        None,
    );
    let reply = device.sign_in(&user.address, PASSWORD).await.unwrap();
    expect(&reply, 200, None);
    assert!(reply.json()["token"].is_string(), "{}", reply.text);
    assert_ne!(device.cookies[TRUST_COOKIE], renewed);
    assert_eq!(
        session(&mut user.client).await["user"]["email"],
        user.address
    );
}

/// Turning two-factor off: the password is needed; `{status: true}`; the user's other
/// sessions end; the user is told by mail; signing in is direct again. And [BA] a mailed
/// verification link is one factor: with auto sign-in after verification on, a user with
/// two-factor on who follows it is verified but gets no session (Better Auth 1.4.22's
/// verify-email signs them in with the link alone), while a user without it does.
#[tokio::test]
async fn disable_and_the_verification_link() {
    let smtp = SmtpServer::start().await.unwrap();
    let origin = start(
        &sqlite_url("2fa-disable"),
        &smtp,
        &[("EDGEAUTH_AUTO_SIGN_IN_AFTER_VERIFICATION", "on")],
    );

    // The verification link first (the user's email is unverified: verification is not
    // required, so sign-up gave a session).
    let mut protected = enrol(&origin.url, "2fa-link").await;
    assert_eq!(
        session(&mut protected.client).await["user"]["emailVerified"],
        false
    );
    let mut plain = browser(&origin.url);
    let plain_address = email("2fa-link-plain");
    expect(
        &plain.sign_up("P", &plain_address, PASSWORD).await.unwrap(),
        200,
        None,
    );
    for (client, address, signed_in) in [
        (&mut protected.client, protected.address.clone(), false),
        (&mut plain, plain_address.clone(), true),
    ] {
        expect(
            &client
                .post(
                    "/api/auth/send-verification-email",
                    &json!({ "email": address }),
                )
                .await
                .unwrap(),
            200,
            None,
        );
        let mail = mail_with(&smtp, &address, "Verify", 1).await;
        let link = mail.link("/api/auth/verify-email?token=").unwrap();
        let path = link.strip_prefix(BASE_URL).unwrap().to_string();
        let mut tab = browser(&origin.url);
        let reply = tab.get(&path).await.unwrap();
        assert!(
            reply.status.is_success() || reply.status.is_redirection(),
            "{}: {}",
            reply.status,
            reply.text
        );
        assert_eq!(
            reply.set_cookie(SESSION_COOKIE).is_some(),
            signed_in,
            "{address}: {reply:?}"
        );
        let seen = tab.get("/api/auth/get-session").await.unwrap();
        if signed_in {
            assert_eq!(seen.json()["user"]["email"], address.as_str());
        } else {
            assert_eq!(seen.text, "null");
        }
        // Verified either way.
        assert_eq!(session(client).await["user"]["emailVerified"], true);
    }

    // Disable, from the enrolment session, while another browser is signed in.
    let mut user = protected;
    let mut other = pending(&origin.url, &user.address).await;
    let reply = verify(&mut other, "backup-code", &user.backup_codes[0], false).await;
    assert_signed_in(&mut other, &reply, &user.address).await;
    let mut waiting = pending(&origin.url, &user.address).await;
    for body in [json!({}), json!({ "password": "not the password" })] {
        expect(
            &user
                .client
                .post("/api/auth/two-factor/disable", &body)
                .await
                .unwrap(),
            400,
            Some("INVALID_PASSWORD"),
        );
    }
    assert_eq!(session(&mut other).await["user"]["email"], user.address);
    let reply = user
        .client
        .post(
            "/api/auth/two-factor/disable",
            &json!({ "password": PASSWORD }),
        )
        .await
        .unwrap();
    expect(&reply, 200, None);
    assert_eq!(reply.json(), json!({ "status": true }));
    assert_eq!(
        other.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
    let current = session(&mut user.client).await;
    assert_eq!(current["user"]["twoFactorEnabled"], false);
    let mail = mail_with(&smtp, &user.address, SUBJECT_OFF, 1).await;
    assert!(mail.text.unwrap().contains(&user.address));

    // Direct sign-in again; the old factors are gone.
    let mut again = browser(&origin.url);
    let reply = again.sign_in(&user.address, PASSWORD).await.unwrap();
    expect(&reply, 200, None);
    assert!(reply.json()["token"].is_string(), "{}", reply.text);
    assert!(reply.set_cookie(TWO_FACTOR_COOKIE).is_none());
    assert_eq!(session(&mut again).await["user"]["email"], user.address);
    // A sign-in that was waiting for its second factor ended with it.
    expect(
        &verify(&mut waiting, "backup-code", &user.backup_codes[1], false).await,
        401,
        Some("INVALID_TWO_FACTOR_COOKIE"),
    );
    assert_eq!(
        waiting.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
}
