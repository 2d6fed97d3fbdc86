//! The application: the state every handler shares ([`AppState`], the shared core of
//! configuration, database, passwords, keys, clock, cookies, rate limiter and mail), how it
//! is assembled from `serve`'s arguments ([`prepare`]), and the router that merges every
//! feature's routes ([`router`]).

mod prepare;
mod router;
#[cfg(test)]
pub(crate) mod test_app;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};

pub use self::prepare::prepare;
pub use self::router::{metrics_router, router};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::features;
use crate::http::cookies::CookieJar;
use crate::http::error::{messages, ApiError};
use crate::http::BASE_PATH;
use crate::keys::{Issuer, KeyStore};
use crate::mail::Mailer;
use crate::pages::{self, render::Renderer};
use crate::password::{HashPool, PasswordPolicy};
use crate::rate_limit::{RateLimiter, Rules};

/// Everything a handler needs, shared by all requests.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    db: Db,
    passwords: HashPool,
    policy: PasswordPolicy,
    keys: KeyStore,
    clock: Arc<dyn Clock>,
    cookies: CookieJar,
    limiter: RateLimiter,
    mailer: Mailer,
    pages: Option<Renderer>,
    oauth: crate::auth::oauth::Engine,
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        config: Config,
        db: Db,
        passwords: HashPool,
        keys: KeyStore,
        clock: Arc<dyn Clock>,
        mailer: Mailer,
        pages: Option<Renderer>,
    ) -> Self {
        let policy = PasswordPolicy {
            min_length: config.password_min_length,
            max_length: config.password_max_length,
        };
        let cookies = CookieJar {
            secure: config.secure_cookies,
        };
        let limiter = RateLimiter::new(&config, &db, rate_limit_rules());
        let oauth = crate::auth::oauth::Engine::new(&config.oauth);
        AppState(Arc::new(Inner {
            config,
            db,
            passwords,
            policy,
            keys,
            clock,
            cookies,
            limiter,
            mailer,
            pages,
            oauth,
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The bounded password-hashing pool.
    pub fn passwords(&self) -> &HashPool {
        &self.0.passwords
    }

    /// The password policy for new passwords.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.0.policy
    }

    /// The JWT signing keys.
    pub fn keys(&self) -> &KeyStore {
        &self.0.keys
    }

    /// Cookie names and attributes.
    pub fn cookies(&self) -> &CookieJar {
        &self.0.cookies
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    /// The hosted pages' templates (`None` when the pages are off).
    pub fn pages(&self) -> Option<&Renderer> {
        self.0.pages.as_ref()
    }

    /// OAuth providers' cached discovery documents and keys, and the outgoing HTTP client.
    pub fn oauth(&self) -> &crate::auth::oauth::Engine {
        &self.0.oauth
    }

    /// The outgoing mail queue.
    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    /// Graceful shutdown, once no request is served any more: waits for the mail queue at
    /// most `timeout`. Returns the mails still pending (given up on).
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.mailer().drain(timeout).await
    }

    /// The public URL of an auth endpoint: `BETTER_AUTH_URL` + `/api/auth` + `path`, as
    /// Better Auth builds email links. Never from request headers, so a forged `Host` cannot
    /// point a mailed link elsewhere.
    pub fn auth_url(&self, path: &str) -> String {
        auth_url(self.config(), path)
    }

    /// Refuses a redirect target that is not a safe relative path or a trusted origin.
    pub fn check_redirect(&self, target: &str) -> Result<(), ApiError> {
        if crate::http::redirect::is_allowed(self.config(), target) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                messages::INVALID_CALLBACK_URL,
            ))
        }
    }

    /// Who the JWTs this origin mints say they come from, and how long they live.
    pub fn jwt_issuer(&self) -> Issuer<'_> {
        Issuer {
            origin: &self.config().base_origin,
            expires_in: self.config().jwt_expires_in,
        }
    }
}

/// [`AppState::auth_url`] from the configuration alone (the outbox worker's).
pub fn auth_url(config: &Config, path: &str) -> String {
    let base = config.base_url.trim_end_matches('/');
    let base = base.strip_suffix(BASE_PATH).unwrap_or(base);
    format!("{base}{BASE_PATH}{path}")
}

/// Every rate-limit rule: the API features' and the hosted pages'.
pub fn rate_limit_rules() -> Rules {
    Rules::new(
        features::FEATURES
            .iter()
            .flat_map(|f| f.rate_limits.iter().copied())
            .chain(pages::RATE_LIMITS.iter().copied()),
    )
}
