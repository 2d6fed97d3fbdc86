//! Sliding session expiry at its boundaries, with the origin's clock under the test's
//! control: Better Auth's `expiresIn` 7 days, `updateAge` 1 day.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use edgeauth_origin::clock::ManualClock;
use edgeauth_tests::fixtures::{browser, email, sqlite_url, BASE_URL, PASSWORD, SECRET};
use edgeauth_tests::{InProcessOrigin, Postgres, Reply};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-03-01T12:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn start(database_url: &str, clock: Arc<ManualClock>) -> InProcessOrigin {
    InProcessOrigin::start(
        &[
            "--database-url",
            database_url,
            "--secret",
            SECRET,
            "--base-url",
            BASE_URL,
        ],
        clock,
    )
    .await
    .unwrap()
}

fn expires_at(reply: &Reply) -> DateTime<Utc> {
    let text = reply.json()["session"]["expiresAt"]
        .as_str()
        .unwrap()
        .to_string();
    DateTime::parse_from_rfc3339(&text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn sliding_expiry_on_sqlite() {
    let clock = Arc::new(ManualClock::new(t0()));
    let origin = start(&sqlite_url("sliding"), clock.clone()).await;
    scenario(&origin.url, &clock).await;
}

#[tokio::test]
async fn sliding_expiry_on_postgres() {
    let pg = Postgres::start_shared().await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let origin = start(&pg.url(), clock.clone()).await;
    scenario(&origin.url, &clock).await;
}

async fn scenario(url: &str, clock: &ManualClock) {
    let mut client = browser(url);
    assert_eq!(
        client
            .sign_up("S", &email("slide"), PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let first = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(expires_at(&first), t0() + Duration::days(7));

    // One millisecond before a day has passed: no refresh, no cookie.
    clock.set(t0() + Duration::days(1) - Duration::milliseconds(1));
    let reply = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(expires_at(&reply), t0() + Duration::days(7));
    assert!(reply.set_cookie("better-auth.session_token").is_none());

    // Exactly a day: the session slides to now + 7 days and the cookie is set again.
    let day1 = t0() + Duration::days(1);
    clock.set(day1);
    let reply = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(expires_at(&reply), day1 + Duration::days(7));
    assert_eq!(
        reply.json()["session"]["updatedAt"],
        "2027-03-02T12:00:00.000Z"
    );
    let cookie = reply.set_cookie("better-auth.session_token").unwrap();
    assert!(cookie.contains("; Max-Age=604800;"), "{cookie}");
    assert!(reply.header("set-auth-token").is_some());
    // The slide is stored, not just reported.
    let again = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(expires_at(&again), day1 + Duration::days(7));
    assert!(again.set_cookie("better-auth.session_token").is_none());

    // disableRefresh: due, but not extended.
    clock.set(day1 + Duration::days(2));
    let reply = client
        .get("/api/auth/get-session?disableRefresh=true")
        .await
        .unwrap();
    assert_eq!(expires_at(&reply), day1 + Duration::days(7));
    assert!(reply.set_cookie("better-auth.session_token").is_none());

    // The last millisecond of the session is still live; at expiresAt it is over, the row
    // is deleted and the cookies are cleared.
    let end = day1 + Duration::days(7);
    clock.set(end - Duration::milliseconds(1));
    let reply = client
        .get("/api/auth/get-session?disableRefresh=true")
        .await
        .unwrap();
    assert_ne!(reply.text, "null");
    clock.set(end);
    let stale = client.clone();
    let reply = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(reply.text, "null");
    assert!(reply
        .set_cookie("better-auth.session_token")
        .unwrap()
        .contains("Max-Age=0"));
    let mut stale = stale;
    assert_eq!(
        stale.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );

    // rememberMe: false lasts a day and never slides.
    clock.set(t0());
    let mut brief = browser(url);
    let reply = brief
        .post(
            "/api/auth/sign-up/email",
            &json!({"name": "B", "email": email("brief"), "password": PASSWORD, "rememberMe": false}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    clock.set(t0() + Duration::hours(23));
    let reply = brief.get("/api/auth/get-session").await.unwrap();
    assert_eq!(expires_at(&reply), t0() + Duration::days(1));
    assert!(reply.set_cookie("better-auth.session_token").is_none());
    clock.set(t0() + Duration::days(1));
    assert_eq!(
        brief.get("/api/auth/get-session").await.unwrap().text,
        "null"
    );
}
