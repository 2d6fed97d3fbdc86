//! The API description the origin serves (`GET /api/auth/open-api/generate-schema`) passes
//! Redocly's OpenAPI linter (`@redocly/cli`, pinned in package.json; its rules in
//! `tests/fixtures/redocly.yaml`), with every feature on; and the reference page is served.
//! That the document names exactly the router's routes is a unit test of the origin
//! (`features::open_api`).

use std::process::Command;

use edgeauth_tests::fixtures::{browser, sqlite_url, SECRET};
use edgeauth_tests::{repo_root, scratch_dir, Origin};

#[tokio::test]
async fn the_api_description_passes_the_openapi_linter() {
    let database = sqlite_url("open-api");
    let origin = Origin::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        // Not localhost: the linter warns about a server on localhost or example.com.
        ("BETTER_AUTH_URL", "https://auth.edgeauth.test"),
        ("DATABASE_URL", &database),
        ("EDGEAUTH_TWO_FACTOR", "on"),
        ("EDGEAUTH_PASSKEY", "on"),
        ("EDGEAUTH_PASSKEY_RP_ID", "edgeauth.test"),
        ("EDGEAUTH_PASSKEY_ORIGINS", "https://auth.edgeauth.test"),
        (
            "EDGEAUTH_EDGE_SECRET",
            "edge-proof-edge-proof-edge-proof-0123456789",
        ),
        // Providers: the social, genericOAuth and account endpoints are described too.
        (
            "EDGEAUTH_SOCIAL_PROVIDERS",
            r#"{"github":{"clientId":"c","clientSecret":"s"}}"#,
        ),
        (
            "EDGEAUTH_GENERIC_OAUTH",
            r#"[{"providerId":"corp","clientId":"c","clientSecret":"s","discoveryUrl":"https://id.edgeauth.test/.well-known/openid-configuration"}]"#,
        ),
    ])
    .unwrap();
    let reply = browser(&origin.url)
        .get("/api/auth/open-api/generate-schema")
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let document = reply.json();
    assert_eq!(document["openapi"], "3.1.1");
    assert_eq!(
        document["servers"][0]["url"],
        "https://auth.edgeauth.test/api/auth"
    );
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/sign-in/email",
        "/two-factor/enable",
        "/passkey/verify-authentication",
        "/sign-in/social",
        "/callback/{providerId}",
        "/sign-in/oauth2",
        "/list-accounts",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    let file = scratch_dir("open-api").unwrap().join("openapi.json");
    std::fs::write(&file, &reply.text).unwrap();

    let redocly = repo_root().join("node_modules/.bin/redocly");
    assert!(
        redocly.exists(),
        "{} is missing: run bash scripts/setup.sh (npm ci)",
        redocly.display()
    );
    let out = Command::new(&redocly)
        .arg("lint")
        .arg("--config")
        .arg(repo_root().join("tests/fixtures/redocly.yaml"))
        .arg(&file)
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .current_dir(repo_root())
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "redocly lint failed:\n{output}");
    assert!(
        // "You have N warnings" (or errors) follows any problem found.
        output.contains("Your API description is valid") && !output.contains("You have "),
        "redocly lint found problems:\n{output}"
    );

    let page = browser(&origin.url)
        .get("/api/auth/reference")
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("Sign in with a passkey"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<script"));
}
