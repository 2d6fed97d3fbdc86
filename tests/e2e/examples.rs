//! The example backends (`examples/fastapi`, `examples/axum`) behind the real edge: Better
//! Auth's JS client signs up through the edge and calls a protected path, and each backend
//! answers with the user it verified itself from the JWT the edge forwards (`x-edgeauth-jwt`)
//! or the client presents (`Authorization: Bearer`). Reached directly, without the edge, each
//! refuses a forged, expired or missing token and the edge's identity headers alone.

use std::process::Command;
use std::time::Duration;

use edgeauth_tests::fixtures::{email, node_json, now, sqlite_url, BASE_URL};
use edgeauth_tests::{free_port, repo_root, scratch_dir, Process};
use edgeauth_token::{ClaimsBuilder, SigningKey};
use serde_json::json;

use crate::edge_runtime::{origin_signing_key, start_edge, start_origin_with_proof};

/// Starts one example backend verifying against `origin`'s keys; answers it and its URL.
fn start_backend(kind: &str, origin: &str) -> (Process, String) {
    let port = free_port().unwrap();
    let jwks = format!("{origin}/api/auth/jwks");
    let mut command = match kind {
        "fastapi" => {
            let uvicorn = repo_root().join(".tools/fastapi-venv/bin/uvicorn");
            assert!(
                uvicorn.exists(),
                "{} is missing: run bash scripts/setup.sh (it creates the example's virtualenv)",
                uvicorn.display()
            );
            let mut command = Command::new(uvicorn);
            command
                .args([
                    "app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                ])
                .current_dir(repo_root().join("examples/fastapi"));
            command
        }
        "axum" => {
            let bin = edgeauth_tests::profile_dir()
                .unwrap()
                .join("edgeauth-example-axum");
            assert!(
                bin.exists(),
                "{} is missing: cargo build --workspace --bins builds it",
                bin.display()
            );
            let mut command = Command::new(bin);
            command.arg(format!("127.0.0.1:{port}"));
            command
        }
        other => panic!("no example {other}"),
    };
    command
        .env("EDGEAUTH_JWKS_URL", &jwks)
        .env("EDGEAUTH_ISSUER", BASE_URL)
        .env("EDGEAUTH_AUDIENCE", BASE_URL);
    let dir = scratch_dir("examples").unwrap();
    let mut process = Process::spawn(&format!("example-{kind}-{port}"), command, &dir).unwrap();
    process
        .wait_for_port(port, Duration::from_secs(60))
        .unwrap();
    (process, format!("http://127.0.0.1:{port}"))
}

/// A token signed by `key` for user `u1`, issued `age` seconds ago.
fn token(key: &SigningKey, age: u64) -> String {
    let user = json!({"id": "u1", "email": "u1@example.com"});
    key.sign(&ClaimsBuilder::better_auth(
        user.as_object().unwrap().clone(),
        "u1",
        now() - age,
        900,
        BASE_URL,
        &[BASE_URL],
    ))
}

async fn status(url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn backend_behind_the_edge(kind: &str) {
    let database_url = sqlite_url(&format!("example-{kind}"));
    let origin = start_origin_with_proof(&database_url, None);
    let (backend, backend_url) = start_backend(kind, &origin.url);
    let edge = start_edge(&origin.url, &backend_url, 60, None).await;

    let address = email(kind);
    let seen = node_json(
        "backend-client.mjs",
        &[&edge.url, BASE_URL, &address, "/app/me"],
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", edge.process.log_tail(), backend.log_tail()));
    let user_id = seen["userId"].as_str().unwrap();
    assert!(seen["gotJwt"].as_bool().unwrap(), "{seen}");
    for via in ["viaSession", "viaJwt"] {
        let answer = &seen[via];
        assert_eq!(
            answer["status"],
            200,
            "{via}: {seen}\n{}",
            backend.log_tail()
        );
        assert_eq!(answer["body"]["backend"], kind, "{seen}");
        assert_eq!(answer["body"]["id"], user_id, "{via}: {seen}");
        assert_eq!(answer["body"]["email"], address, "{via}: {seen}");
        assert_eq!(
            answer["body"]["sessionId"], seen["sessionId"],
            "{via}: {seen}"
        );
    }

    // Reached directly: only a token the origin's key signed, unexpired, is believed.
    let me = format!("{backend_url}/app/me");
    let key = origin_signing_key(&database_url).await;
    let fresh = token(&key, 0);
    assert_eq!(status(&me, &[("x-edgeauth-jwt", &fresh)]).await, 200);
    assert_eq!(
        status(&me, &[("authorization", &format!("Bearer {fresh}"))]).await,
        200
    );
    let expired = token(&key, 4000);
    let forged = token(&SigningKey::from_seed(&[7; 32], key.kid()).unwrap(), 0);
    let mut parts: Vec<String> = fresh.split('.').map(str::to_string).collect();
    parts[2] = "A".repeat(86);
    let bad_signature = parts.join(".");
    for bad in [expired, forged, bad_signature, "not.a.jwt".to_string()] {
        assert_eq!(status(&me, &[("x-edgeauth-jwt", &bad)]).await, 401, "{bad}");
        assert_eq!(
            status(&me, &[("authorization", &format!("Bearer {bad}"))]).await,
            401,
            "{bad}"
        );
    }
    assert_eq!(status(&me, &[]).await, 401);
    // The edge's identity headers, without a token: not believed.
    assert_eq!(
        status(
            &me,
            &[
                ("x-edgeauth-user-id", user_id),
                ("x-edgeauth-auth", "session")
            ]
        )
        .await,
        401
    );
    drop(edge);
    drop(backend);
}

#[tokio::test]
async fn fastapi_behind_the_edge_verifies_the_caller() {
    backend_behind_the_edge("fastapi").await;
}

#[tokio::test]
async fn axum_behind_the_edge_verifies_the_caller() {
    backend_behind_the_edge("axum").await;
}
