//! The edge worker, end to end: the real bundle (`edge/build/`, from `bash
//! scripts/build-edge.sh`) served by `wrangler dev` (workerd) on a free loopback port, asked
//! over real HTTP.

use edgeauth_tests::WranglerDev;
use serde_json::{json, Value};

#[tokio::test]
async fn wrangler_dev_serves_health_check_and_json_404() {
    let wrangler = WranglerDev::start(&[]).await.unwrap();
    let log = || wrangler.process.log_tail();

    let res = reqwest::get(format!("{}/__edge/ok", wrangler.url))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", log());
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({ "ok": true, "service": "edgeauth-edge" }));

    let res = reqwest::get(format!("{}/no/such/path?x=1", wrangler.url))
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "{}", log());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({ "code": "NOT_FOUND", "message": "Not Found" }));
}
