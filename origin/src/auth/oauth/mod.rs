//! Signing in with an OAuth 2.0 / OpenID Connect provider (Better Auth's `genericOAuth`
//! plugin flows), free of HTTP handling:
//!
//! - [`state`]: the sign-in's state row and the browser-bound `better-auth.state` cookie;
//! - [`flow`]: the authorization URL (PKCE S256, nonce), the code exchange, the identity
//!   (a verified ID token, or the user-info endpoint) and the user it belongs to (found by
//!   provider and subject, linked by email only under [`flow::may_link`]'s rule, or
//!   created);
//! - [`id_token`]: ID-token verification against the provider's JWKS;
//! - [`client`]: the outgoing HTTP client, the only one in the origin.
//!
//! [`Engine`] holds what is fetched from providers (discovery documents and JWKS, cached
//! for an hour; a JWKS is fetched again when a token names an unknown key, at most once a
//! minute). A completed flow ends in [`crate::auth::sign_in::complete`], like every
//! sign-in.

pub mod client;
pub mod flow;
pub mod id_token;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::Jwk;
use serde_json::Value;
use tokio::sync::Mutex;

use self::client::{FetchError, HttpClient};
use crate::config::{Endpoints, GenericProvider, OAuth};

/// Better Auth's messages for the account endpoints (1.4 `BASE_ERROR_CODES`).
pub mod messages {
    /// 400 on unlink-account without such an account.
    pub const ACCOUNT_NOT_FOUND: &str = "Account not found";
    /// 400 on unlink-account of the only account.
    pub const FAILED_TO_UNLINK_LAST_ACCOUNT: &str = "You can't unlink your last account";
    /// 400 on get-access-token when the stored token cannot be used or refreshed.
    pub const FAILED_TO_GET_A_VALID_ACCESS_TOKEN: &str = "Failed to get a valid access token";
    /// 400 on refresh-token without a refresh token.
    pub const REFRESH_TOKEN_NOT_FOUND: &str = "Refresh token not found";
    /// 400 on account-info when the provider's user info cannot be had.
    pub const FAILED_TO_GET_USER_INFO: &str = "Failed to get user info";
    /// 400 on refresh-token when the provider refuses.
    pub const FAILED_TO_REFRESH_ACCESS_TOKEN: &str = "Failed to refresh access token";
}

/// How long a discovery document or a JWKS is used before being fetched again.
pub const CACHE_TTL_SECS: i64 = 3600;

/// The least time between two JWKS fetches prompted by an unknown `kid` (so tokens naming
/// random keys cannot make the origin hammer the provider).
pub const JWKS_REFETCH_COOLDOWN_SECS: i64 = 60;

/// A provider's endpoints, resolved from discovery or configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The issuer, when known.
    pub issuer: Option<String>,
    /// The authorization endpoint.
    pub authorization: String,
    /// The token endpoint.
    pub token: String,
    /// The user-info endpoint.
    pub user_info: Option<String>,
    /// The JWKS: without it, no ID token is trusted.
    pub jwks: Option<String>,
    /// Whether discovery lists PKCE S256.
    pub s256: bool,
}

#[derive(Debug, Default)]
struct JwksCache {
    keys: Vec<Jwk>,
    fetched_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct ProviderCache {
    discovery: Mutex<Option<(Resolved, DateTime<Utc>)>>,
    jwks: Mutex<JwksCache>,
}

/// What sign-in with providers keeps between requests.
#[derive(Debug, Default)]
pub struct Engine {
    http: HttpClient,
    caches: HashMap<String, Arc<ProviderCache>>,
}

/// Why a provider's endpoints or keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The call failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The discovery document lacks an endpoint, or its issuer is not the configured one.
    #[error("unusable discovery document: {0}")]
    Discovery(&'static str),
}

fn http_url(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|u| crate::config::url_origin(u).is_some())
        .map(str::to_owned)
}

impl Engine {
    /// An engine for the configured providers.
    pub fn new(config: &OAuth) -> Self {
        let caches = config
            .providers()
            .map(|p| (p.provider_id.clone(), Arc::default()))
            .collect();
        Engine {
            http: HttpClient::new(),
            caches,
        }
    }

    /// The outgoing HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    fn cache(&self, provider: &GenericProvider) -> Arc<ProviderCache> {
        self.caches
            .get(&provider.provider_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The origins the providers' authorization endpoints may be on, as far as known without
    /// waiting: configured ones, discovery documents' own origins, and the authorization
    /// endpoints of discovery documents already fetched.
    pub fn authorization_origins(&self, config: &OAuth) -> Vec<String> {
        let mut origins = Vec::new();
        for provider in config.providers() {
            let (known, cache) = match &provider.endpoints {
                Endpoints::Explicit { authorization, .. } => (authorization.as_str(), None),
                Endpoints::Discovery(url) => (url.as_str(), self.caches.get(&provider.provider_id)),
            };
            origins.extend(crate::config::url_origin(known));
            if let Some(Ok(slot)) = cache.map(|c| c.discovery.try_lock()) {
                if let Some((resolved, _)) = slot.as_ref() {
                    origins.extend(crate::config::url_origin(&resolved.authorization));
                }
            }
        }
        origins.sort();
        origins.dedup();
        origins
    }

    /// The provider's endpoints: from configuration, or its discovery document (cached).
    pub async fn resolve(
        &self,
        provider: &GenericProvider,
        now: DateTime<Utc>,
    ) -> Result<Resolved, ProviderError> {
        let discovery_url = match &provider.endpoints {
            Endpoints::Explicit {
                authorization,
                token,
                user_info,
                jwks,
            } => {
                return Ok(Resolved {
                    issuer: provider.issuer.clone(),
                    authorization: authorization.clone(),
                    token: token.clone(),
                    user_info: user_info.clone(),
                    jwks: jwks.clone(),
                    s256: false,
                })
            }
            Endpoints::Discovery(url) => url,
        };
        let cache = self.cache(provider);
        let mut slot = cache.discovery.lock().await;
        if let Some((resolved, at)) = slot.as_ref() {
            if now - *at < Duration::seconds(CACHE_TTL_SECS) {
                return Ok(resolved.clone());
            }
        }
        let document = self.http.get_json(discovery_url, None).await?;
        let issuer = document
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or(ProviderError::Discovery("no issuer"))?
            .to_string();
        if provider.issuer.as_ref().is_some_and(|i| *i != issuer) {
            return Err(ProviderError::Discovery("issuer is not the configured one"));
        }
        let resolved = Resolved {
            authorization: http_url(document.get("authorization_endpoint"))
                .ok_or(ProviderError::Discovery("no authorization_endpoint"))?,
            token: http_url(document.get("token_endpoint"))
                .ok_or(ProviderError::Discovery("no token_endpoint"))?,
            user_info: http_url(document.get("userinfo_endpoint")),
            jwks: http_url(document.get("jwks_uri")),
            s256: document
                .get("code_challenge_methods_supported")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|m| m == "S256")),
            issuer: Some(issuer),
        };
        *slot = Some((resolved.clone(), now));
        Ok(resolved)
    }

    /// The provider's signing keys (from `jwks_url`), fetched when none are cached, when
    /// the cache is an hour old, or when `kid` is unknown and the last fetch is more than
    /// [`JWKS_REFETCH_COOLDOWN_SECS`] old.
    pub async fn keys(
        &self,
        provider: &GenericProvider,
        jwks_url: &str,
        kid: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Jwk>, ProviderError> {
        let cache = self.cache(provider);
        let mut jwks = cache.jwks.lock().await;
        let age = jwks.fetched_at.map(|at| now - at);
        let known = |keys: &[Jwk]| match kid {
            Some(kid) => keys.iter().any(|k| k.common.key_id.as_deref() == Some(kid)),
            None => !keys.is_empty(),
        };
        let stale = age.is_none_or(|a| a >= Duration::seconds(CACHE_TTL_SECS));
        let may_refetch = age.is_none_or(|a| a >= Duration::seconds(JWKS_REFETCH_COOLDOWN_SECS));
        if stale || (!known(&jwks.keys) && may_refetch) {
            let document = self.http.get_json(jwks_url, None).await?;
            jwks.keys = id_token::keys_of(&document);
            jwks.fetched_at = Some(now);
        }
        Ok(jwks.keys.clone())
    }
}
