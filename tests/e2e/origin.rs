//! The origin binary as an operator runs it: `edgeauth serve`, asked over real HTTP.

use std::time::Duration;

use edgeauth_tests::Origin;
use serde_json::{json, Value};

#[tokio::test]
async fn serve_answers_ok_and_stops_gracefully_on_sigterm() {
    let mut origin = Origin::start(&[]).unwrap();
    let response = reqwest::get(format!("{}/api/auth/ok", origin.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{}",
        origin.process.log_tail()
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "ok": true })
    );

    // Unknown routes are 404 with an empty body, as Better Auth answers them.
    let missing = reqwest::get(format!("{}/api/auth/nope", origin.url))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "");

    // An origin whose port another program holds stops at once, naming the setting and
    // the address.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let taken = Origin::start_on(port, &[]).err().unwrap().to_string();
    assert!(
        taken.contains(&format!(
            "EDGEAUTH_LISTEN: cannot listen on 127.0.0.1:{port}: Address already in use"
        )),
        "{taken}"
    );

    let status = origin.process.terminate(Duration::from_secs(10)).unwrap();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        origin.process.log_tail()
    );
    assert!(origin
        .process
        .log_tail()
        .contains("edgeauth origin stopped"));
}
