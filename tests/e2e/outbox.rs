//! The mail outbox: mail acknowledged to a caller survives the origin's crash, is delivered
//! exactly once (by `Message-ID`) when the SMTP server comes back, and is shared by several
//! origin processes on one PostgreSQL without a mail sent twice; the claim itself on both
//! databases.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use edgeauth_origin::db::{Db, OutboxMail};
use edgeauth_tests::fixtures::{
    browser, email, expect, origin_env, reset_token, sqlite_url, PASSWORD,
};
use edgeauth_tests::{free_port, MailMessage, Origin, Postgres, SmtpServer};
use serde_json::json;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// How long the tests wait for every mail: a row claimed by the killed origin waits for its
/// lease (60 s) to pass, then for its next attempt.
const ALL_MAIL_WAIT: Duration = Duration::from_secs(150);

/// An origin on `database_url` mailing to `smtp://127.0.0.1:<smtp_port>` (up or not), with
/// the verification mail sent on sign-up.
fn start(database_url: &str, smtp_port: u16) -> Origin {
    let mut env = origin_env(database_url);
    env.push(("EDGEAUTH_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")));
    env.push(("EDGEAUTH_MAIL_FROM", "Example <auth@example.com>".into()));
    env.push(("EDGEAUTH_VERIFICATION_ON_SIGN_UP", "on".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Origin::start(&env).unwrap()
}

/// Waits until `smtp` has at least `count` messages, then a little longer (a duplicate would
/// follow its original closely), and returns them all.
async fn all_mail(smtp: &SmtpServer, count: usize, origins: &[&Origin]) -> Vec<MailMessage> {
    let deadline = tokio::time::Instant::now() + ALL_MAIL_WAIT;
    while smtp.messages().len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} mails delivered\n{}",
            smtp.messages().len(),
            origins
                .iter()
                .map(|o| o.process.log_tail())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    smtp.messages()
}

/// Each mail once: no `Message-ID` twice, every message with one. Returns the mails by
/// recipient and subject kind.
fn each_once(messages: &[MailMessage]) -> BTreeMap<String, Vec<MailMessage>> {
    let mut ids = BTreeSet::new();
    let mut by_recipient: BTreeMap<String, Vec<MailMessage>> = BTreeMap::new();
    for message in messages {
        let id = message
            .header("Message-ID")
            .unwrap_or_else(|| panic!("no Message-ID in {:?}", message.subject))
            .to_string();
        assert!(ids.insert(id.clone()), "{id} delivered twice");
        assert!(id.ends_with("@example.com>"), "{id}");
        by_recipient
            .entry(message.rcpt_to.join(","))
            .or_default()
            .push(message.clone());
    }
    by_recipient
}

/// With the SMTP server down, 50 sign-ups (each queuing a verification mail) and 50 reset
/// requests for existing accounts (plus 5 for unknown addresses) are acknowledged; the origin
/// is killed with SIGKILL, restarted, and the SMTP server comes up: every mail arrives,
/// exactly once, no mail goes to an unknown address, and every reset link works.
#[tokio::test]
async fn mail_acknowledged_before_a_crash_is_delivered_once() {
    let pg = Postgres::start_shared().await.unwrap();
    let smtp_port = free_port().unwrap();
    let mut origin = start(&pg.url(), smtp_port);

    let users: Vec<String> = (0..50).map(|_| email("crash")).collect();
    for address in &users {
        let reply = browser(&origin.url)
            .sign_up("Crash", address, PASSWORD)
            .await
            .unwrap();
        expect(&reply, 200, None);
    }
    let unknown: Vec<String> = (0..5).map(|_| email("nobody")).collect();
    for address in users.iter().chain(&unknown) {
        let reply = browser(&origin.url)
            .post(
                "/api/auth/request-password-reset",
                &json!({ "email": address, "redirectTo": "/reset" }),
            )
            .await
            .unwrap();
        expect(&reply, 200, None);
    }
    origin.process.kill().unwrap();

    let smtp = SmtpServer::start_on(smtp_port).await.unwrap();
    let restarted = start(&pg.url(), smtp_port);
    let messages = all_mail(&smtp, 100, &[&restarted]).await;
    let by_recipient = each_once(&messages);
    assert_eq!(messages.len(), 100, "{:#?}", by_recipient.keys());
    for address in &unknown {
        assert!(!by_recipient.contains_key(address), "mail to {address}");
    }
    for address in &users {
        let mails = &by_recipient[address];
        let verifications = mails
            .iter()
            .filter(|m| m.link("/verify-email?token=").is_ok())
            .count();
        assert_eq!(verifications, 1, "{address}");
        let resets: Vec<&MailMessage> = mails
            .iter()
            .filter(|m| m.link("/reset-password/").is_ok())
            .collect();
        assert_eq!(resets.len(), 1, "{address}");
        let token = reset_token(&resets[0].link("/reset-password/").unwrap());
        let mut client = browser(&restarted.url);
        let reply = client
            .post(
                "/api/auth/reset-password",
                &json!({ "token": token, "newPassword": NEW_PASSWORD }),
            )
            .await
            .unwrap();
        expect(&reply, 200, None);
        let signed_in = browser(&restarted.url)
            .sign_in(address, NEW_PASSWORD)
            .await
            .unwrap();
        expect(&signed_in, 200, None);
    }
    // Every request handled (those for unknown addresses too, some perhaps waiting out the
    // killed origin's lease): the requests are gone, the 100 mails sent, nothing more mailed.
    let db = Db::connect(Some(&pg.url())).unwrap();
    let deadline = tokio::time::Instant::now() + ALL_MAIL_WAIT;
    let rows = loop {
        let rows = db.list_mail().await.unwrap();
        if rows.iter().all(|r| r.status != "pending") || tokio::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), 100, "{rows:#?}");
    assert!(rows.iter().all(|r| r.status == "sent"), "{rows:#?}");
    assert_eq!(smtp.messages().len(), 100);
    db.close().await;
}

/// Two origin processes on one PostgreSQL, each queuing mail: every mail arrives exactly once,
/// and both processes deliver.
#[tokio::test]
async fn two_origins_share_the_outbox_without_sending_twice() {
    let pg = Postgres::start_shared().await.unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let origins = [start(&pg.url(), smtp.port()), start(&pg.url(), smtp.port())];
    let users: Vec<String> = (0..30).map(|_| email("shared")).collect();
    for (i, address) in users.iter().enumerate() {
        let origin = &origins[i % 2];
        let reply = browser(&origin.url)
            .sign_up("Shared", address, PASSWORD)
            .await
            .unwrap();
        expect(&reply, 200, None);
        let reply = browser(&origins[(i + 1) % 2].url)
            .post(
                "/api/auth/request-password-reset",
                &json!({ "email": address, "redirectTo": "/reset" }),
            )
            .await
            .unwrap();
        expect(&reply, 200, None);
    }
    let messages = all_mail(&smtp, 60, &[&origins[0], &origins[1]]).await;
    let by_recipient = each_once(&messages);
    assert_eq!(messages.len(), 60);
    for address in &users {
        assert_eq!(by_recipient[address].len(), 2, "{address}");
    }
    for origin in &origins {
        assert!(
            origin.process.log().contains("mail sent"),
            "this origin sent nothing:\n{}",
            origin.process.log_tail()
        );
    }
}

fn row(n: usize, now: i64) -> OutboxMail {
    OutboxMail {
        id: format!("row-{n}-{}", edgeauth_origin::ids::generate_id()),
        kind: "verify-email".into(),
        recipient: format!("claim-{n}@example.com"),
        user_id: None,
        payload: "sealed".into(),
        message_id: format!("<{}@example.com>", edgeauth_origin::ids::generate_id()),
        created_at: now,
        expires_at: now + 3_600_000,
    }
}

/// Claims on one database: concurrent claimers never share a row; a live lease keeps a row
/// from others and a passed one (a crashed claimer) frees it; an outcome is recorded only
/// while the claim holds; a retry is due at its time; sent and failed rows are never claimed
/// again and keep no payload.
async fn claiming(db: &Db) {
    db.migrate().await.unwrap();
    let now = 1_000_000;
    for n in 0..20 {
        db.enqueue_mail(&row(n, now)).await.unwrap();
    }
    // Concurrent claimers take disjoint rows, all of them between them.
    let (a, b) = tokio::join!(
        db.claim_mail("a", now, now + 60_000, 15),
        db.claim_mail("b", now, now + 60_000, 15)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let a_ids: BTreeSet<String> = a.iter().map(|r| r.id.clone()).collect();
    let b_ids: BTreeSet<String> = b.iter().map(|r| r.id.clone()).collect();
    assert!(a_ids.is_disjoint(&b_ids), "{a_ids:?} {b_ids:?}");
    assert_eq!(a_ids.len() + b_ids.len(), 20);
    assert!(a.iter().chain(&b).all(|r| r.attempts == 1));
    // Leases live: nothing to claim.
    assert!(db
        .claim_mail("c", now + 59_000, now + 119_000, 50)
        .await
        .unwrap()
        .is_empty());
    // The leases passed (a and b crashed): c takes every row, attempt 2.
    let c = db
        .claim_mail("c", now + 60_000, now + 120_000, 50)
        .await
        .unwrap();
    assert_eq!(c.len(), 20);
    assert!(c.iter().all(|r| r.attempts == 2));
    // a's outcome is not recorded now that c holds the row; c's is.
    let first = &c[0].id;
    assert!(!db.mail_retry(first, "a", now, "late").await.unwrap());
    assert!(!db.mail_failed(first, "a", now, "late").await.unwrap());
    assert!(db
        .mail_retry(first, "c", now + 65_000, "451 try later")
        .await
        .unwrap());
    let second = &c[1].id;
    assert!(db.mail_sent(second, now + 61_000).await.unwrap());
    let third = &c[2].id;
    assert!(db
        .mail_failed(third, "c", now + 61_000, "550 no such user")
        .await
        .unwrap());
    // The retry is due at its time, not before, even with c's other leases passed.
    assert!(db
        .claim_mail("d", now + 64_999, now + 200_000, 50)
        .await
        .unwrap()
        .iter()
        .all(|r| r.id != *first));
    let later = db
        .claim_mail("e", now + 200_001, now + 300_000, 50)
        .await
        .unwrap();
    assert!(later.iter().any(|r| r.id == *first));
    assert!(later.iter().all(|r| r.id != *second && r.id != *third));
    let rows = db.list_mail().await.unwrap();
    let status = |id: &str| rows.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(status(second).status, "sent");
    assert_eq!(status(third).status, "failed");
    assert_eq!(
        status(third).last_error.as_deref(),
        Some("550 no such user")
    );
    assert_eq!(status(first).last_error.as_deref(), Some("451 try later"));
}

#[tokio::test]
async fn claiming_on_postgres() {
    let pg = Postgres::start_shared().await.unwrap();
    let db = Db::connect(Some(&pg.url())).unwrap();
    claiming(&db).await;
    db.close().await;
}

#[tokio::test]
async fn claiming_on_sqlite() {
    let db = Db::connect(Some(&sqlite_url("outbox-claims"))).unwrap();
    claiming(&db).await;
    db.close().await;
}

/// Started without migrating, on a database that lacks the outbox, an origin with mail on
/// refuses to start (rather than failing every mail), naming the table.
#[tokio::test]
async fn without_migrations_mail_needs_the_outbox_table() {
    let mut env = origin_env(&sqlite_url("outbox-unmigrated"));
    env.push(("EDGEAUTH_MIGRATE", "off".into()));
    env.push(("EDGEAUTH_SMTP_URL", "smtp://127.0.0.1:1".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = match Origin::start(&env) {
        Ok(_) => panic!("the origin started without its outbox table"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        refused.contains("edgeauth_mail_outbox") && refused.contains("edgeauth migrate"),
        "{refused}"
    );
}
