//! The origin's side of the edge worker, on the real binary: the edge proof
//! (`EDGEAUTH_EDGE_SECRET` in `x-edgeauth-edge-secret`) deciding whether the forwarded client
//! address is believed, the session liveness endpoint the edge asks, and the access log the
//! edge tests count origin requests with. Plus the harness's upstream echo server.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use edgeauth_origin::clock::ManualClock;
use edgeauth_tests::fixtures::{
    browser, email, origin_env, sqlite_url, BASE_URL, PASSWORD, SECRET,
};
use edgeauth_tests::{
    count_requests_with, AuthClient, InProcessOrigin, Origin, Postgres, Reply, Upstream,
    ACCESS_LOG_MESSAGE,
};
use edgeauth_token::wire::{CLIENT_IP_HEADER as EDGE_CLIENT_IP_HEADER, EDGE_SECRET_HEADER};
use reqwest::Method;
use serde_json::{json, Value};

const EDGE_SECRET: &str = "edge-proof-edge-proof-edge-proof-0123456789";
const SIGN_IN: &str = "/api/auth/sign-in/email";
const LIVENESS: &str = "/api/auth/edge/session";

fn start(name: &str, edge_secret: Option<&str>) -> Origin {
    let mut env = origin_env(&sqlite_url(name));
    env.push((
        "EDGEAUTH_TRUSTED_IP_HEADER",
        EDGE_CLIENT_IP_HEADER.to_string(),
    ));
    if let Some(secret) = edge_secret {
        env.push(("EDGEAUTH_EDGE_SECRET", secret.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Origin::start(&env).unwrap()
}

/// Signs `address` in through a fresh client sending `headers`; returns the client.
async fn sign_in(url: &str, address: &str, headers: &[(&str, &str)]) -> AuthClient {
    let mut client = browser(url);
    let body = json!({ "email": address, "password": PASSWORD });
    let reply = client
        .send(
            Method::POST,
            SIGN_IN,
            Some(("application/json", body.to_string().into_bytes())),
            headers,
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    client
}

/// The caller's session row, as get-session shows it.
async fn session(client: &mut AuthClient) -> Value {
    let reply = client.get("/api/auth/get-session").await.unwrap();
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    reply.json()["session"].clone()
}

/// `GET /api/auth/edge/session/{sid}` (any `method`) with `headers`.
async fn liveness(url: &str, method: Method, sid: &str, headers: &[(&str, &str)]) -> Reply {
    AuthClient::new(url)
        .send(method, &format!("{LIVENESS}/{sid}"), None, headers)
        .await
        .unwrap()
}

/// The answer of an unknown route: 404, empty, no content type, nothing cached-or-not.
#[track_caller]
fn assert_unknown_route(reply: &Reply) {
    assert_eq!(reply.status, 404, "body: {}", reply.text);
    assert_eq!(reply.text, "");
    assert_eq!(reply.header("content-type"), None);
    assert_eq!(reply.header("cache-control"), None);
}

#[track_caller]
fn assert_inactive(reply: &Reply) {
    assert_eq!(reply.status, 404, "body: {}", reply.text);
    assert_eq!(reply.json(), json!({ "active": false }));
    assert_eq!(reply.header("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn the_forwarded_address_counts_only_with_the_edge_proof() {
    let origin = start("edge-proof", Some(EDGE_SECRET));
    let url = origin.url.as_str();
    let address = email("proof");
    assert_eq!(
        browser(url)
            .sign_up("P", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    for (headers, stored) in [
        // The edge: proof and the client's address.
        (
            vec![
                (EDGE_SECRET_HEADER, EDGE_SECRET),
                (EDGE_CLIENT_IP_HEADER, "203.0.113.7"),
            ],
            "203.0.113.7",
        ),
        (
            vec![
                (EDGE_SECRET_HEADER, EDGE_SECRET),
                (EDGE_CLIENT_IP_HEADER, "2001:0db8::0042"),
            ],
            "2001:db8::42",
        ),
        // The edge without an address: unknown, not the edge's own address.
        (vec![(EDGE_SECRET_HEADER, EDGE_SECRET)], ""),
        // A client claiming an address without the proof, or with a wrong one: its own
        // (TCP peer) address.
        (vec![(EDGE_CLIENT_IP_HEADER, "203.0.113.8")], "127.0.0.1"),
        (
            vec![
                (
                    EDGE_SECRET_HEADER,
                    "edge-proof-edge-proof-edge-proof-012345678",
                ),
                (EDGE_CLIENT_IP_HEADER, "203.0.113.9"),
            ],
            "127.0.0.1",
        ),
        (
            vec![
                (EDGE_SECRET_HEADER, ""),
                (EDGE_CLIENT_IP_HEADER, "203.0.113.10"),
            ],
            "127.0.0.1",
        ),
        (vec![], "127.0.0.1"),
    ] {
        let mut client = sign_in(url, &address, &headers).await;
        let row = session(&mut client).await;
        assert_eq!(row["ipAddress"], stored, "{headers:?}");
        // list-sessions shows the same row.
        let listed = client.get("/api/auth/list-sessions").await.unwrap().json();
        let listed = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == row["id"])
            .unwrap()
            .clone();
        assert_eq!(listed["ipAddress"], stored, "{headers:?}");
    }
    // The proof is never logged.
    assert!(!origin.process.log().contains(EDGE_SECRET));

    // Without an edge secret configured, the trusted header counts as before, proof or not.
    let plain = start("edge-proof-off", None);
    let url = plain.url.as_str();
    let address = email("noproof");
    assert_eq!(
        browser(url)
            .sign_up("N", &address, PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    for headers in [
        vec![(EDGE_CLIENT_IP_HEADER, "198.51.100.3")],
        vec![
            (EDGE_SECRET_HEADER, "anything"),
            (EDGE_CLIENT_IP_HEADER, "198.51.100.3"),
        ],
    ] {
        let mut client = sign_in(url, &address, &headers).await;
        assert_eq!(session(&mut client).await["ipAddress"], "198.51.100.3");
    }
}

#[tokio::test]
async fn the_liveness_endpoint_answers_only_the_edge() {
    let origin = start("edge-liveness", Some(EDGE_SECRET));
    let url = origin.url.as_str();
    let proof = [(EDGE_SECRET_HEADER, EDGE_SECRET)];
    let mut client = browser(url);
    let signed_up = client
        .sign_up("L", &email("live"), PASSWORD)
        .await
        .unwrap()
        .json();
    let row = session(&mut client).await;
    let sid = row["id"].as_str().unwrap().to_string();
    let token = signed_up["token"].as_str().unwrap().to_string();

    // Without the proof, or with a wrong one, or another method: an unknown route.
    let unknown = AuthClient::new(url)
        .get("/api/auth/no-such-route")
        .await
        .unwrap();
    assert_unknown_route(&unknown);
    for headers in [
        vec![],
        vec![(EDGE_SECRET_HEADER, "wrong")],
        vec![(EDGE_SECRET_HEADER, "")],
        vec![(EDGE_SECRET_HEADER, &EDGE_SECRET[..EDGE_SECRET.len() - 1])],
        vec![(EDGE_SECRET_HEADER, SECRET)],
    ] {
        assert_unknown_route(&liveness(url, Method::GET, &sid, &headers).await);
    }
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        assert_unknown_route(&liveness(url, method.clone(), &sid, &[]).await);
        assert_unknown_route(&liveness(url, method, &sid, &proof).await);
    }

    // With the proof: the live session, its user and expiry (as get-session shows them).
    let reply = liveness(url, Method::GET, &sid, &proof).await;
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    assert_eq!(
        reply.json(),
        json!({ "active": true, "userId": row["userId"], "expiresAt": row["expiresAt"] })
    );
    assert_eq!(reply.header("cache-control").unwrap(), "no-store");
    assert_eq!(reply.header("content-type").unwrap(), "application/json");
    // Not by token, and not for ids that do not exist.
    assert_inactive(&liveness(url, Method::GET, &token, &proof).await);
    assert_inactive(&liveness(url, Method::GET, "no-such-session", &proof).await);

    // Signed out: no longer live.
    assert_eq!(
        client
            .post_empty("/api/auth/sign-out")
            .await
            .unwrap()
            .status,
        200
    );
    assert_inactive(&liveness(url, Method::GET, &sid, &proof).await);

    // Every request above is in the access log, by path (never with the proof).
    let path = format!("{LIVENESS}/{sid}");
    assert_eq!(count_requests_with(&origin.process, None, &path), 13);
    assert_eq!(count_requests_with(&origin.process, Some("GET"), &path), 7);
    assert_eq!(count_requests_with(&origin.process, Some("POST"), &path), 2);
    assert_eq!(origin.count_requests("/api/auth/get-session"), 1);
    assert_eq!(origin.count_requests("/api/auth/sign-out"), 1);
    assert_eq!(origin.count_requests("/api/auth/get-sessio"), 0);
    let log = origin.process.log();
    assert!(!log.contains(EDGE_SECRET));
    let line = log
        .lines()
        .find(|l| l.contains("path=/api/auth/get-session}") && l.contains(ACCESS_LOG_MESSAGE))
        .unwrap();
    assert!(
        line.contains(" INFO request{id=")
            && line.contains(" method=GET path=/api/auth/get-session}: ")
            && line.contains("finished processing request latency=")
            && line.ends_with(" ms status=200"),
        "{line}"
    );

    // Without an edge secret configured, the endpoint does not exist.
    let plain = start("edge-liveness-off", None);
    let mut client = browser(&plain.url);
    assert_eq!(
        client
            .sign_up("O", &email("off"), PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let sid = session(&mut client).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_unknown_route(&liveness(&plain.url, Method::GET, &sid, &proof).await);
}

#[tokio::test]
async fn liveness_follows_the_app_clock_on_sqlite() {
    liveness_follows_the_app_clock(&sqlite_url("edge-liveness-clock")).await;
}

#[tokio::test]
async fn liveness_follows_the_app_clock_on_postgres() {
    let pg = Postgres::start_shared().await.unwrap();
    liveness_follows_the_app_clock(&pg.url()).await;
}

async fn liveness_follows_the_app_clock(database_url: &str) {
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2027-05-01T08:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(t0));
    let origin = InProcessOrigin::start(
        &[
            "--database-url",
            database_url,
            "--secret",
            SECRET,
            "--base-url",
            BASE_URL,
            "--edge-secret",
            EDGE_SECRET,
        ],
        clock.clone(),
    )
    .await
    .unwrap();
    let url = origin.url.as_str();
    let proof = [(EDGE_SECRET_HEADER, EDGE_SECRET)];
    let mut client = browser(url);
    assert_eq!(
        client
            .sign_up("C", &email("clock"), PASSWORD)
            .await
            .unwrap()
            .status,
        200
    );
    let sid = session(&mut client).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let expires = t0 + Duration::days(7);

    clock.set(expires - Duration::milliseconds(1));
    let reply = liveness(url, Method::GET, &sid, &proof).await;
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    assert_eq!(reply.json()["expiresAt"], "2027-05-08T08:00:00.000Z");
    // At its expiry the session is over (as get-session sees it).
    clock.set(expires);
    assert_inactive(&liveness(url, Method::GET, &sid, &proof).await);
    assert_eq!(
        client.get("/api/auth/get-session").await.unwrap().json(),
        Value::Null
    );
}

#[tokio::test]
async fn the_upstream_echoes_and_records_every_request() {
    let upstream = Upstream::start().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http
        .post(format!("{}/some/path?a=1&b=two", upstream.url))
        .header("X-Edgeauth-User-Id", "u1")
        .header("x-repeated", "one")
        .header("x-repeated", "two")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/some/path");
    assert_eq!(echo["query"], "a=1&b=two");
    assert_eq!(echo["body"], "hello");
    assert_eq!(echo["headers"]["x-edgeauth-user-id"], "u1");
    assert_eq!(echo["headers"]["x-repeated"], "one, two");

    let response = http
        .get(format!("{}/other", upstream.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()["query"],
        Value::Null
    );

    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].to_json(), echo);
    assert_eq!(requests[0].header("X-EDGEAUTH-USER-ID"), Some("u1"));
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].query, None);
    assert_eq!(requests[1].header("x-edgeauth-user-id"), None);
    assert_eq!(upstream.requests_to("/other").len(), 1);
    upstream.clear();
    assert!(upstream.requests().is_empty());
}
