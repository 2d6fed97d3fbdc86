//! A real OpenID Provider for the tests: panva's `oidc-provider` (pinned in `package.json`),
//! started by `tests/js/oidc-provider.mjs` with its development login and consent pages (any
//! login name and password sign in; the login name is the subject, and the email when it
//! contains `@`), RS256 ID tokens and PKCE required. Used over plain HTTP
//! (`tests/e2e/oidc.rs`) and in Chromium through the edge (`tests/e2e/browser.rs`).

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::{free_port, repo_root, scratch_dir, Process};

/// One client registered at the provider.
#[derive(Debug, Clone, Copy)]
pub struct OidcClient<'a> {
    /// `client_id`.
    pub id: &'a str,
    /// `client_secret` (sent in the token request's body).
    pub secret: &'a str,
    /// The one redirect URI the provider accepts for it.
    pub redirect_uri: &'a str,
}

/// The provider on a free loopback port; dropping it stops it.
pub struct OidcProvider {
    /// The node process.
    pub process: Process,
    /// `http://127.0.0.1:<port>`, its issuer.
    pub issuer: String,
}

impl OidcProvider {
    /// Starts the provider with `clients` and waits until it listens.
    pub fn start(clients: &[OidcClient]) -> Result<OidcProvider> {
        Self::start_with(clients, false)
    }

    /// [`OidcProvider::start`], with the user's email and name in the ID token too
    /// (`OIDC_ID_TOKEN_CLAIMS=1`), as Google's: for a built-in provider that reads the
    /// profile from the ID token alone.
    pub fn start_with_profile_in_id_token(clients: &[OidcClient]) -> Result<OidcProvider> {
        Self::start_with(clients, true)
    }

    fn start_with(clients: &[OidcClient], profile_in_id_token: bool) -> Result<OidcProvider> {
        let port = free_port()?;
        let clients: Vec<_> = clients
            .iter()
            .map(|c| {
                json!({"client_id": c.id, "client_secret": c.secret, "redirect_uris": [c.redirect_uri]})
            })
            .collect();
        let mut command = Command::new("node");
        command
            .current_dir(repo_root())
            .arg("tests/js/oidc-provider.mjs")
            .arg(port.to_string())
            .env("OIDC_CLIENTS", json!(clients).to_string());
        if profile_in_id_token {
            command.env("OIDC_ID_TOKEN_CLAIMS", "1");
        }
        let mut process = Process::spawn(
            &format!("oidc-provider-{port}"),
            command,
            &scratch_dir("logs")?,
        )?;
        process.wait_for_port(port, Duration::from_secs(30))?;
        Ok(OidcProvider {
            process,
            issuer: format!("http://127.0.0.1:{port}"),
        })
    }

    /// `EDGEAUTH_SOCIAL_PROVIDERS` with the built-in `google` pointed at this provider
    /// through the endpoint overrides (its routes are oidc-provider's defaults), for
    /// `client` (whose redirect URI must be Better Auth's core callback,
    /// `BETTER_AUTH_URL/api/auth/callback/google`). Start the provider
    /// [with the profile in the ID token](Self::start_with_profile_in_id_token): Google's
    /// profile is read from it alone.
    pub fn google(&self, client: &OidcClient) -> String {
        let issuer = &self.issuer;
        json!({"google": {
            "clientId": client.id,
            "clientSecret": client.secret,
            "authorizationEndpoint": format!("{issuer}/auth"),
            "tokenEndpoint": format!("{issuer}/token"),
            "jwksUrl": format!("{issuer}/jwks"),
            "idTokenIssuer": issuer,
        }})
        .to_string()
    }

    /// `EDGEAUTH_GENERIC_OAUTH` with this provider as `provider_id`, through discovery, for
    /// `client` (whose redirect URI must be the origin's default one,
    /// `BETTER_AUTH_URL/api/auth/oauth2/callback/<provider_id>`).
    pub fn generic_oauth(&self, provider_id: &str, client: &OidcClient) -> String {
        json!([{
            "providerId": provider_id,
            "discoveryUrl": format!("{}/.well-known/openid-configuration", self.issuer),
            "clientId": client.id,
            "clientSecret": client.secret,
            "scopes": ["openid", "email", "profile"],
        }])
        .to_string()
    }
}
