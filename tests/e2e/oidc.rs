//! Sign-in with a real OpenID Provider (panva's `oidc-provider`, `tests/js/oidc-provider.mjs`)
//! on the real `edgeauth` binary over PostgreSQL, driven over plain HTTP as a browser would:
//! following redirects, submitting the provider's own login and consent pages. The ID tokens
//! are the provider's RS256 ones, verified against its JWKS; PKCE is required by the provider.
//! (The attack cases run in-process against a provider that signs what the test asks:
//! `origin/src/features/generic_oauth_tests.rs`.) Last, the one-account-per-identity rule
//! under concurrent callbacks, on both databases.

use edgeauth_origin::db::{Db, NewProviderAccount, ProviderTokens, User};
use edgeauth_tests::fixtures::{browser, email, origin_env, sqlite_url, BASE_URL};
use edgeauth_tests::{AuthClient, OidcClient, OidcProvider, Origin, Postgres};
use reqwest::Method;
use serde_json::{json, Value};

const CLIENT_ID: &str = "edgeauth";
const CLIENT_SECRET: &str = "edgeauth-client-secret";
/// The Better Auth server's client at the provider.
const BA_CLIENT_ID: &str = "better-auth";
const BA_CLIENT_SECRET: &str = "better-auth-client-secret";

/// Both servers believe they are at `BASE_URL`: one redirect URI, the test routes it.
const REDIRECT_URI: &str = "http://localhost:3000/api/auth/oauth2/callback/corp";
/// edgeauth's client at the provider.
const CLIENT: OidcClient = OidcClient {
    id: CLIENT_ID,
    secret: CLIENT_SECRET,
    redirect_uri: REDIRECT_URI,
};

/// edgeauth's built-in `google`, pointed at the provider, comes back to Better Auth's core
/// callback.
const GOOGLE_CLIENT: OidcClient = OidcClient {
    id: "edgeauth-google",
    secret: "edgeauth-google-client-secret",
    redirect_uri: "http://localhost:3000/api/auth/callback/google",
};

/// The provider, with a client for edgeauth and one for the Better Auth server.
fn start_provider() -> OidcProvider {
    assert!(REDIRECT_URI.starts_with(BASE_URL));
    OidcProvider::start(&[
        CLIENT,
        OidcClient {
            id: BA_CLIENT_ID,
            secret: BA_CLIENT_SECRET,
            redirect_uri: REDIRECT_URI,
        },
    ])
    .unwrap()
}

/// `EDGEAUTH_GENERIC_OAUTH` for the provider, as `corp`.
fn config(provider: &OidcProvider) -> String {
    provider.generic_oauth("corp", &CLIENT)
}

/// The `action` of the page's first form, and whether it is the login form.
fn form_of(html: &str) -> (String, bool) {
    let start = html.find("<form").expect("a form on the provider's page");
    let form = &html[start..];
    let action = form
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's action")
        .replace("&amp;", "&");
    (action, form.contains("name=\"login\""))
}

/// Drives the provider from the authorization URL to its redirect back to edgeauth, signing
/// in as `login` and consenting on its pages: the callback's path and query.
async fn through_the_provider(
    idp: &mut AuthClient,
    authorization_url: &str,
    login: &str,
) -> String {
    let issuer = idp.base().to_string();
    let mut next = authorization_url
        .strip_prefix(&issuer)
        .expect("an authorization URL on the provider")
        .to_string();
    let mut pages = 0;
    for _ in 0..12 {
        let reply = idp.get(&next).await.unwrap();
        if reply.status.is_redirection() {
            let location = reply.header("location").unwrap();
            if let Some(callback) = location.strip_prefix(BASE_URL) {
                return callback.to_string();
            }
            next = location
                .strip_prefix(&issuer)
                .unwrap_or(&location)
                .to_string();
            continue;
        }
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
        let (action, is_login) = form_of(&reply.text);
        let form = if is_login {
            format!(
                "prompt=login&login={}&password=anything",
                edgeauth_token::cookie::encode_uri_component(login)
            )
        } else {
            "prompt=consent".to_string()
        };
        pages += 1;
        let reply = idp
            .send(
                Method::POST,
                action.strip_prefix(&issuer).unwrap_or(&action),
                Some(("application/x-www-form-urlencoded", form.into_bytes())),
                &[],
            )
            .await
            .unwrap();
        assert!(reply.status.is_redirection(), "{}", reply.text);
        let location = reply.header("location").unwrap();
        next = location
            .strip_prefix(&issuer)
            .unwrap_or(&location)
            .to_string();
    }
    panic!("the provider never sent the browser back ({pages} pages)")
}

/// Signs in as `login` through the server behind `app` (edgeauth or Better Auth), the
/// provider remembering or not the browser `idp`: where the server sent the browser, and the
/// user's id.
async fn sign_in(app: &mut AuthClient, idp: &mut AuthClient, login: &str) -> (String, String) {
    let url = start_sign_in(app).await;
    let callback = through_the_provider(idp, &url, login).await;
    let reply = app.get(&callback).await.unwrap();
    assert_eq!(reply.status.as_u16(), 302, "{}", reply.text);
    let location = reply.header("location").unwrap();
    let session = app.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["email"], login, "{session}");
    (
        location,
        session["user"]["id"].as_str().unwrap().to_string(),
    )
}

/// The providers of the user's accounts behind `app`, with their subjects.
async fn accounts(app: &mut AuthClient) -> Vec<(String, String)> {
    let listed = app.get("/api/auth/list-accounts").await.unwrap().json();
    let mut accounts: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["providerId"].as_str().unwrap().to_string(),
                a["accountId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    accounts.sort();
    accounts
}

/// Starts a sign-in at edgeauth: the provider's authorization URL.
async fn start_sign_in(app: &mut AuthClient) -> String {
    let reply = app
        .post(
            "/api/auth/sign-in/oauth2",
            &json!({"providerId": "corp", "callbackURL": "/dashboard", "newUserCallbackURL": "/welcome"}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let body: Value = reply.json();
    assert_eq!(body["redirect"], true);
    body["url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn sign_in_through_a_real_openid_provider_pages_and_keys() {
    let pg = Postgres::start_shared().await.unwrap();
    let provider = start_provider();
    let config = config(&provider);
    let mut env = origin_env(&pg.url());
    env.push(("EDGEAUTH_GENERIC_OAUTH", config));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start(&env).unwrap();
    let login = email("oidc");

    // First sign-in: the provider's login and consent pages, then a new user.
    let mut app = browser(&origin.url);
    let mut idp = AuthClient::new(&provider.issuer);
    let url = start_sign_in(&mut app).await;
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("nonce="), "{url}");
    let callback = through_the_provider(&mut idp, &url, &login).await;
    assert!(callback.contains("iss="), "{callback}");
    let reply = app.get(&callback).await.unwrap();
    assert_eq!(reply.status.as_u16(), 302, "{}", reply.text);
    assert_eq!(reply.header("location").as_deref(), Some("/welcome"));
    let session = app.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["email"], login.as_str());
    assert_eq!(session["user"]["emailVerified"], true);
    assert_eq!(session["user"]["name"], format!("User {login}"));
    let user_id = session["user"]["id"].as_str().unwrap().to_string();
    let accounts = app.get("/api/auth/list-accounts").await.unwrap().json();
    assert_eq!(accounts[0]["providerId"], "corp");
    assert_eq!(accounts[0]["accountId"], login.as_str());
    assert_eq!(accounts[0]["scopes"], json!(["openid", "email", "profile"]));

    // The same callback again (a replayed redirect): the state is spent.
    let reply = app.get(&callback).await.unwrap();
    assert!(reply
        .header("location")
        .unwrap()
        .ends_with("/api/auth/error?error=state_mismatch"));

    // Another browser with a state of its own and the used code: the provider refuses it.
    let mut attacker = browser(&origin.url);
    let url = start_sign_in(&mut attacker).await;
    let state = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_string();
    let code = callback
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_string();
    let reply = attacker
        .get(&format!(
            "/api/auth/oauth2/callback/corp?code={code}&state={state}"
        ))
        .await
        .unwrap();
    // No errorCallbackURL was given: Better Auth's default error page.
    assert_eq!(
        reply.header("location").as_deref(),
        Some("http://localhost:3000/api/auth/error?error=oauth_code_verification_failed")
    );
    assert!(!attacker.cookies.contains_key("better-auth.session_token"));

    // Signing in again (the provider remembers the browser): the same user, to the callback.
    let mut again = browser(&origin.url);
    let url = start_sign_in(&mut again).await;
    let callback = through_the_provider(&mut idp, &url, &login).await;
    let reply = again.get(&callback).await.unwrap();
    assert_eq!(reply.header("location").as_deref(), Some("/dashboard"));
    let session = again.get("/api/auth/get-session").await.unwrap().json();
    assert_eq!(session["user"]["id"], user_id.as_str());
}

/// A Better Auth 1.4.22 server with `genericOAuth` pointed at the same provider, on the same
/// database and secret: a user who first signed in through either server signs in through
/// the other as the same user, with the same (one) account row.
#[tokio::test]
async fn better_auth_and_edgeauth_share_provider_users_and_accounts() {
    let pg = Postgres::start_shared().await.unwrap();
    let provider = start_provider();
    let config = config(&provider);
    let mut env = origin_env(&pg.url());
    env.push(("EDGEAUTH_GENERIC_OAUTH", config));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start(&env).unwrap();
    // Better Auth's genericOAuth sends PKCE only when told; this provider requires it.
    let ba_config = json!([{
        "providerId": "corp",
        "discoveryUrl": format!("{}/.well-known/openid-configuration", provider.issuer),
        "clientId": BA_CLIENT_ID,
        "clientSecret": BA_CLIENT_SECRET,
        "scopes": ["openid", "email", "profile"],
        "pkce": true,
    }])
    .to_string();
    let (_ba, ba_url) = crate::better_auth::better_auth_server(
        &pg.url(),
        &[
            ("GENERIC_OAUTH", &ba_config),
            ("ENCRYPT_OAUTH_TOKENS", "on"),
        ],
    )
    .await;

    // First through Better Auth, then through edgeauth.
    let login = email("ba-first");
    let mut idp = AuthClient::new(&provider.issuer);
    let mut ba = browser(&ba_url);
    let (location, ba_user) = sign_in(&mut ba, &mut idp, &login).await;
    assert_eq!(location, "/welcome");
    let mut ours = browser(&origin.url);
    let (location, our_user) = sign_in(&mut ours, &mut idp, &login).await;
    assert_eq!(location, "/dashboard", "an existing user");
    assert_eq!(our_user, ba_user);
    let expected = vec![("corp".to_string(), login.clone())];
    assert_eq!(accounts(&mut ours).await, expected);
    assert_eq!(accounts(&mut ba).await, expected);

    // First through edgeauth, then through Better Auth (another provider session).
    let login = email("edgeauth-first");
    let mut idp = AuthClient::new(&provider.issuer);
    let mut ours = browser(&origin.url);
    let (location, our_user) = sign_in(&mut ours, &mut idp, &login).await;
    assert_eq!(location, "/welcome");
    let mut ba = browser(&ba_url);
    let (location, ba_user) = sign_in(&mut ba, &mut idp, &login).await;
    assert_eq!(location, "/dashboard", "an existing user");
    assert_eq!(ba_user, our_user);
    let expected = vec![("corp".to_string(), login.clone())];
    assert_eq!(accounts(&mut ba).await, expected);
    assert_eq!(accounts(&mut ours).await, expected);
}

/// Better Auth's JS client (`genericOAuthClient`) drives sign-in, list, unlink and link
/// against edgeauth (`tests/js/oauth-client.mjs`).
#[tokio::test]
async fn better_auths_client_signs_in_lists_links_and_unlinks() {
    let provider = start_provider();
    let config = config(&provider);
    let database = edgeauth_tests::fixtures::sqlite_url("oauth-client");
    let mut env = origin_env(&database);
    env.push(("EDGEAUTH_GENERIC_OAUTH", config));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start(&env).unwrap();
    let login = email("js-client");
    let seen = edgeauth_tests::fixtures::node_json(
        "oauth-client.mjs",
        &[&origin.url, BASE_URL, &provider.issuer, &login],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        seen,
        json!({
            "signIn": {"error": null, "redirect": true, "urlOnIssuer": true},
            "callback": {"status": 302, "location": "/welcome"},
            "session": {"email": login, "verified": true},
            "listAccounts": [
                {"providerId": "corp", "accountId": login, "scopes": ["openid", "email", "profile"]}
            ],
            "unlinkLast": {"status": 400, "code": "YOU_CANT_UNLINK_YOUR_LAST_ACCOUNT"},
            "link": {"error": null, "redirect": true},
            "linkCallback": {"status": 302, "location": "/settings"},
            "accountsAfterLink": 1,
        })
    );
}

/// Better Auth's core JS client (`signIn.social`, `linkSocial`) against edgeauth's built-in
/// `google`, pointed at the same provider by the endpoint overrides: the flow of Google's
/// wire (PKCE, nonce, the profile from the verified ID token) through a real provider.
#[tokio::test]
async fn better_auths_client_signs_in_with_a_built_in_provider() {
    let provider = OidcProvider::start_with_profile_in_id_token(&[GOOGLE_CLIENT]).unwrap();
    let database = edgeauth_tests::fixtures::sqlite_url("social-client");
    let mut env = origin_env(&database);
    env.push(("EDGEAUTH_SOCIAL_PROVIDERS", provider.google(&GOOGLE_CLIENT)));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let origin = Origin::start(&env).unwrap();
    let login = email("social-client");
    let seen = edgeauth_tests::fixtures::node_json(
        "oauth-client.mjs",
        &[&origin.url, BASE_URL, &provider.issuer, &login, "social"],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        seen,
        json!({
            "signIn": {"error": null, "redirect": true, "urlOnIssuer": true},
            "callback": {"status": 302, "location": "/welcome"},
            "session": {"email": login, "verified": true},
            "listAccounts": [
                // Google's default scopes, in Better Auth's order, as granted.
                {"providerId": "google", "accountId": login, "scopes": ["email", "profile", "openid"]}
            ],
            "unlinkLast": {"status": 400, "code": "YOU_CANT_UNLINK_YOUR_LAST_ACCOUNT"},
            "link": {"error": null, "redirect": true},
            "linkCallback": {"status": 302, "location": "/settings"},
            "accountsAfterLink": 1,
        })
    );
}

/// Eight callbacks add one provider identity's account at once, four for each of two users
/// (a double click; two people linking one identity): one account is written, and the seven
/// others are told whose it is, on PostgreSQL (under an advisory lock named by the identity)
/// and on SQLite (under the write lock). Better Auth's `account` table has no unique index
/// on provider and subject, so a check-then-insert would write several.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_identity_gets_one_account_however_many_callbacks_add_it_at_once() {
    let pg = Postgres::start_shared().await.unwrap();
    for url in [pg.url(), sqlite_url("provider-accounts")] {
        let db = Db::connect(Some(&url)).unwrap();
        db.migrate().await.unwrap();
        let now = chrono::Utc::now();
        let tokens = ProviderTokens::default();
        let mut users = Vec::new();
        for n in 0..2 {
            let user = User {
                id: db.row_id("user").await.unwrap(),
                name: format!("User {n}"),
                email: email(&format!("race-{n}")),
                email_verified: true,
                image: None,
                created_at: now,
                updated_at: now,
                two_factor_enabled: false,
                extra: Default::default(),
            };
            let id = db.row_id("account").await.unwrap();
            let subject = format!("seed-{n}");
            db.create_provider_user(
                &user,
                &NewProviderAccount {
                    id: &id,
                    provider_id: "seed",
                    account_id: &subject,
                    user_id: &user.id,
                    tokens: &tokens,
                    now,
                },
            )
            .await
            .unwrap();
            users.push(user.id);
        }
        let mut callbacks = tokio::task::JoinSet::new();
        for n in 0..8 {
            let (db, owner) = (db.clone(), users[n % 2].clone());
            callbacks.spawn(async move {
                let id = db.row_id("account").await.unwrap();
                let tokens = ProviderTokens::default();
                let existing = db
                    .insert_provider_account(&NewProviderAccount {
                        id: &id,
                        provider_id: "corp",
                        account_id: "the-one-subject",
                        user_id: &owner,
                        tokens: &tokens,
                        now: chrono::Utc::now(),
                    })
                    .await
                    .unwrap();
                (owner, existing.map(|account| account.user_id))
            });
        }
        let outcomes = callbacks.join_all().await;
        let winners: Vec<&String> = outcomes
            .iter()
            .filter(|(_, existing)| existing.is_none())
            .map(|(owner, _)| owner)
            .collect();
        assert_eq!(winners.len(), 1, "{url}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|(_, existing)| existing.as_ref().is_none_or(|o| o == winners[0])),
            "{url}: {outcomes:?}"
        );
        let mut corp = 0;
        for user in &users {
            corp += db
                .list_accounts(user)
                .await
                .unwrap()
                .iter()
                .filter(|a| a.provider_id == "corp")
                .count();
        }
        assert_eq!(corp, 1, "{url}");
        db.close().await;
    }
}
